package collect

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/monsys/hub/internal/batch"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/net"
)

// packagesPerPart keeps each inventory record far below the 256 KiB body.
const packagesPerPart = 1000

// InventorySnapshot is an "inventory_snapshot" record. A large snapshot is
// cut into parts that share SnapshotID; part 1 carries OS and ports.
type InventorySnapshot struct {
	Type           string     `json:"type"`
	TS             string     `json:"ts"`
	SnapshotID     string     `json:"snapshot_id"`
	Part           int        `json:"part"`
	Parts          int        `json:"parts"`
	Hostname       string     `json:"hostname,omitempty"`
	OS             *OSRelease `json:"os,omitempty"`
	PackageManager string     `json:"package_manager,omitempty"`
	PackageCount   int        `json:"package_count"`
	Packages       []Package  `json:"packages"`
	Listening      []Port     `json:"listening,omitempty"`
}

// OSRelease is the part of os-release(5) the hub cares about.
type OSRelease struct {
	ID         string `json:"id"`
	VersionID  string `json:"version_id,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
	GOOS       string `json:"goos"`
}

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
}

// Port is one listening socket.
type Port struct {
	Proto string `json:"proto"`
	Addr  string `json:"addr"`
	Port  uint32 `json:"port"`
	PID   int32  `json:"pid,omitempty"`
}

// Inventory collects inventory_snapshot records.
type Inventory struct {
	// Root is prepended to /etc/os-release and /var/lib/dpkg/status.
	Root string
	// HostProc, when set, points gopsutil at another /proc (fixtures).
	HostProc string
	// RPM lists rpm packages; nil runs `rpm -qa` when rpm is installed.
	RPM func(ctx context.Context) ([]byte, error)
	// Hostname returns the host name; os.Hostname when nil.
	Hostname func() (string, error)
}

var _ Collector = (*Inventory)(nil)

// Name implements Collector.
func (in *Inventory) Name() string { return "inventory_snapshot" }

// Collect implements Collector.
func (in *Inventory) Collect(ctx context.Context, now time.Time) ([]any, error) {
	var errs []error
	osr, err := in.osRelease()
	if err != nil {
		errs = append(errs, err)
	}
	mgr, pkgs, err := in.packages(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	ports, err := in.listening(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	hostname := in.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	hn, _ := hostname()

	parts := max(1, (len(pkgs)+packagesPerPart-1)/packagesPerPart)
	id := snapshotID(now, hn)
	recs := make([]any, 0, parts)
	for p := range parts {
		chunk := pkgs[min(len(pkgs), p*packagesPerPart):min(len(pkgs), (p+1)*packagesPerPart)]
		r := InventorySnapshot{Type: "inventory_snapshot", TS: batch.TS(now), SnapshotID: id, Part: p + 1, Parts: parts, PackageCount: len(pkgs), Packages: chunk}
		if r.Packages == nil {
			r.Packages = []Package{}
		}
		if p == 0 {
			r.Hostname, r.OS, r.PackageManager, r.Listening = hn, osr, mgr, ports
		}
		recs = append(recs, r)
	}
	if err := errors.Join(errs...); err != nil {
		return recs, fmt.Errorf("collect inventory: %w", err)
	}
	return recs, nil
}

func snapshotID(now time.Time, host string) string {
	s := sha256.Sum256([]byte(host + "|" + now.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(s[:8])
}

func (in *Inventory) path(p string) string { return filepath.Join(in.Root, filepath.FromSlash(p)) }

// osRelease parses os-release(5): KEY=value lines, values maybe quoted.
func (in *Inventory) osRelease() (*OSRelease, error) {
	r := &OSRelease{GOOS: runtime.GOOS}
	if runtime.GOOS == "windows" && in.Root == "" {
		r.ID = "windows"
		return r, nil
	}
	var raw []byte
	var err error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if raw, err = os.ReadFile(in.path(p)); err == nil {
			break
		}
	}
	if err != nil {
		return r, fmt.Errorf("os-release: %w", err)
	}
	kv := ParseOSRelease(raw)
	r.ID, r.VersionID, r.PrettyName = kv["ID"], kv["VERSION_ID"], kv["PRETTY_NAME"]
	return r, nil
}

// ParseOSRelease reads os-release(5) content into a map.
func ParseOSRelease(raw []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			v = strings.NewReplacer(`\"`, `"`, `\$`, `$`, "\\`", "`", `\\`, `\`).Replace(v)
		}
		out[k] = v
	}
	return out
}

func (in *Inventory) packages(ctx context.Context) (string, []Package, error) {
	if f, err := os.Open(in.path("/var/lib/dpkg/status")); err == nil {
		defer f.Close()
		pkgs, err := ParseDpkgStatus(f)
		if err != nil {
			return "dpkg", pkgs, fmt.Errorf("dpkg status: %w", err)
		}
		return "dpkg", pkgs, nil
	}
	rpm := in.RPM
	if rpm == nil {
		if _, err := exec.LookPath("rpm"); err != nil {
			return "", nil, nil
		}
		rpm = func(ctx context.Context) ([]byte, error) {
			return exec.CommandContext(ctx, "rpm", "-qa", "--qf", `%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n`).Output()
		}
	}
	out, err := rpm(ctx)
	if err != nil {
		return "rpm", nil, fmt.Errorf("rpm -qa: %w", err)
	}
	return "rpm", ParseRPM(out), nil
}

// ParseDpkgStatus reads dpkg's status file and returns the packages whose
// status is "install ok installed", sorted by name and architecture.
func ParseDpkgStatus(r io.Reader) ([]Package, error) {
	var pkgs []Package
	var cur Package
	var status string
	flush := func() {
		if cur.Name != "" && status == "install ok installed" {
			pkgs = append(pkgs, cur)
		}
		cur, status = Package{}, ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a multi-line field
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Arch = v
		case "Status":
			status = v
		}
	}
	flush()
	sortPackages(pkgs)
	return pkgs, sc.Err()
}

// ParseRPM reads `rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n'`.
func ParseRPM(out []byte) []Package {
	var pkgs []Package
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) != 3 || f[0] == "" {
			continue
		}
		pkgs = append(pkgs, Package{Name: f[0], Version: f[1], Arch: f[2]})
	}
	sortPackages(pkgs)
	return pkgs
}

func sortPackages(p []Package) {
	slices.SortFunc(p, func(a, b Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Arch, b.Arch)
	})
}

func (in *Inventory) listening(ctx context.Context) ([]Port, error) {
	if in.HostProc != "" {
		ctx = context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: in.HostProc})
	}
	conns, err := net.ConnectionsWithContext(ctx, "inet")
	if err != nil {
		return nil, fmt.Errorf("listening ports: %w", err)
	}
	ports := []Port{}
	seen := map[Port]bool{}
	for _, c := range conns {
		var proto string
		switch {
		case c.Type == 1 && c.Status == "LISTEN": // SOCK_STREAM
			proto = "tcp"
		case c.Type == 2 && c.Raddr.Port == 0: // SOCK_DGRAM, unconnected
			proto = "udp"
		default:
			continue
		}
		if c.Family == 10 || c.Family == 23 { // AF_INET6 on Linux, Windows
			proto += "6"
		}
		p := Port{Proto: proto, Addr: c.Laddr.IP, Port: c.Laddr.Port, PID: c.Pid}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b Port) int {
		if c := strings.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return ports, nil
}
