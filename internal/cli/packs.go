package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/monsys/hub/internal/client"
	"github.com/monsys/hub/internal/pack"
	"github.com/monsys/hub/internal/profile"
	"github.com/monsys/hub/internal/verify"
)

// packOpts are the flags of "packs create".
type packOpts struct {
	month, from, to string
	wait            bool
	download        string
	verify, deep    bool
	fingerprint     string
	quorum          int
	// logKey and witnessKeys are hub.json's log_vkey and witness_vkeys,
	// read with --verify: verify.py's --log-key and --witness-key.
	logKey      string
	witnessKeys []string
}

func (a *app) packsCmd() *cobra.Command {
	c := group("packs", "Request, list, show and download evidence packs")
	var o packOpts
	create := &cobra.Command{
		Use:   "create (--month 2026-04 | --from DATE --to DATE) [--wait] [--download DIR] [--verify]",
		Short: "Request the evidence pack of a period; wait, download and verify it",
		Long: `Request the evidence pack of a period (UTC): a calendar month, or from the
start of --from to the end of --to (dates, or RFC 3339 times).

--wait shows progress until the hub has built it; --download DIR saves it
into DIR; --verify then runs the pack's own verify.py (python3) on it, with
--deep and --expect-fingerprint passed on, and exits with its verdict.
When the hub profile names the transparency log's key and its witnesses'
(hub.json log_vkey, witness_vkeys), --verify also checks the pack against
the witnessed log (verify.py --log-key, --witness-key, and --witness-quorum
when given; by default every witness must have cosigned).
--download implies --wait, --verify implies both.`,
		Args: args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error { return a.createPack(ctx, o) }),
	}
	f := create.Flags()
	f.StringVar(&o.month, "month", "", "a calendar month, YYYY-MM")
	f.StringVar(&o.from, "from", "", "first day (YYYY-MM-DD) or instant (RFC 3339)")
	f.StringVar(&o.to, "to", "", "last day (YYYY-MM-DD, through its end) or instant (RFC 3339)")
	f.BoolVar(&o.wait, "wait", false, "wait until the pack is built")
	f.StringVar(&o.download, "download", "", "download the pack into this folder (implies --wait)")
	f.BoolVar(&o.verify, "verify", false, "verify the download with the pack's verify.py (implies --wait; needs --download)")
	f.BoolVar(&o.deep, "deep", false, "with --verify: the provenance checks too (verify.py --deep)")
	f.StringVar(&o.fingerprint, "expect-fingerprint", "", "with --verify: the tenant's pack-signing key fingerprint the pack must be signed with")
	f.IntVar(&o.quorum, "witness-quorum", 0, "with --verify: how many of hub.json's witnesses must have cosigned the pack's log entry (default all)")

	list := &cobra.Command{Use: "list", Short: "List the tenant's packs, newest first", Args: args(0, ""),
		RunE: run(func(ctx context.Context, _ []string) error { return a.listPacks(ctx) })}
	show := &cobra.Command{Use: "show ID", Short: "Show a pack (no link; see 'packs link')", Args: args(1, "a pack id"),
		RunE: run(func(ctx context.Context, ids []string) error { return a.showPack(ctx, ids[0]) })}
	var expires time.Duration
	link := &cobra.Command{Use: "link ID [--expires 1h]", Short: "Print a fresh download link of a ready pack, for an auditor", Args: args(1, "a pack id"),
		RunE: run(func(ctx context.Context, ids []string) error {
			if expires < time.Second {
				return usagef("--expires must be at least 1s, got %s", expires)
			}
			return a.packLink(ctx, ids[0], expires)
		})}
	link.Flags().DurationVar(&expires, "expires", time.Hour, "how long the link works")
	c.AddCommand(create, list, show, link)
	return c
}

// period reads the flags of a pack's period.
func (o packOpts) period() (time.Time, time.Time, error) {
	switch {
	case o.month != "" && (o.from != "" || o.to != ""):
		return time.Time{}, time.Time{}, usagef("give --month or --from and --to, not both")
	case o.month != "":
		m, err := time.Parse("2006-01", o.month)
		if err != nil {
			return time.Time{}, time.Time{}, usagef("--month %q is not YYYY-MM", o.month)
		}
		return m, m.AddDate(0, 1, 0).Add(-time.Second), nil
	case o.from == "" || o.to == "":
		return time.Time{}, time.Time{}, usagef("give --month YYYY-MM, or --from and --to")
	}
	from, err := parseDay(o.from, false)
	if err != nil {
		return time.Time{}, time.Time{}, usagef("--from: %v", err)
	}
	to, err := parseDay(o.to, true)
	if err != nil {
		return time.Time{}, time.Time{}, usagef("--to: %v", err)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, usagef("--from must be before --to")
	}
	return from, to, nil
}

// parseDay reads a date (its start, or with end its last second) or an RFC
// 3339 instant.
func parseDay(s string, end bool) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			return d.AddDate(0, 0, 1).Add(-time.Second), nil
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC 3339", s)
	}
	return t.UTC(), nil
}

// packDoc is what --json shows of a pack: never its link, which "packs
// link" alone prints.
func packDoc(p client.Pack) client.Pack {
	p.DownloadURL, p.ExpiresAt = "", nil
	return p
}

func (a *app) createPack(ctx context.Context, o packOpts) error {
	from, to, err := o.period()
	if err != nil {
		return err
	}
	if o.verify && o.download == "" {
		return usagef("--verify needs --download DIR")
	}
	if (o.deep || o.fingerprint != "" || o.quorum != 0) && !o.verify {
		return usagef("--deep, --expect-fingerprint and --witness-quorum go with --verify")
	}
	if o.verify {
		// The log's and the witnesses' keys, when the hub has a log.
		prof, err := profile.Read(a.profilePath())
		if err != nil {
			return fmt.Errorf("hub profile: %w", err)
		}
		o.logKey, o.witnessKeys = prof.LogVKey, prof.WitnessVKeys
		switch {
		case o.quorum != 0 && o.logKey == "":
			return usagef("--witness-quorum: the hub profile %s names no transparency log (log_vkey)", a.profilePath())
		case o.quorum < 0 || o.quorum > len(o.witnessKeys):
			return usagef("--witness-quorum %d: the hub profile names %d witnesses", o.quorum, len(o.witnessKeys))
		}
	}
	wait := o.wait || o.download != ""
	var py string
	if o.verify {
		if py, err = exec.LookPath("python3"); err != nil {
			return errors.New("--verify runs the pack's verify.py, which needs python3 (3.8 or later); none is on PATH")
		}
	}
	if o.download != "" {
		if err := os.MkdirAll(o.download, 0o755); err != nil {
			return fmt.Errorf("--download: %w", err)
		}
	}
	ad, err := a.client()
	if err != nil {
		return err
	}
	p, err := ad.RequestPack(ctx, from, to)
	if err != nil {
		return err
	}
	doc := map[string]any{}
	if !wait {
		if a.json {
			return a.emit(packDoc(p))
		}
		fmt.Fprintf(a.stdout, "pack %s requested (%s → %s), status %s\nFollow it with: monsys packs show %s\n", p.PackID, p.PeriodStart, p.PeriodEnd, p.Status, p.PackID)
		return nil
	}
	prog := newProgress(a.stderr)
	if p, err = a.await(ctx, ad, prog, p); err != nil {
		return err
	}
	doc["pack"] = packDoc(p)
	if p.Status != client.PackReady {
		if a.json {
			_ = a.emit(doc)
		}
		return fmt.Errorf("pack %s failed: %s", p.PackID, orDash(p.Reason))
	}
	if o.download == "" {
		if a.json {
			return a.emit(doc)
		}
		fmt.Fprintf(a.stdout, "pack %s ready: %d records, %s, manifest sha256 %s\n", p.PackID, p.Records, size(p.Size), p.ManifestSHA256)
		return nil
	}
	path, err := a.download(ctx, prog, p, o.download)
	if err != nil {
		return err
	}
	doc["file"] = path
	if !o.verify {
		if a.json {
			return a.emit(doc)
		}
		fmt.Fprintf(a.stdout, "pack %s saved to %s (%d records, %s)\n", p.PackID, path, p.Records, size(p.Size))
		return nil
	}
	out, code, err := a.runVerify(ctx, py, path, o)
	if err != nil {
		return err
	}
	if a.json {
		v := map[string]any{"exit_code": code}
		if json.Valid(out) {
			v["report"] = json.RawMessage(out)
		} else {
			v["output"] = string(out)
		}
		doc["verify"] = v
		if err := a.emit(doc); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "pack %s saved to %s\n$ python3 verify.py %s\n", p.PackID, path, strings.Join(verifyArgs(filepath.Base(path), o, false), " "))
		_, _ = a.stdout.Write(out)
	}
	switch code {
	case 0:
	case 1:
		return fmt.Errorf("verify.py found pack %s bad (exit 1); its reasons are above", p.PackID)
	default:
		return fmt.Errorf("verify.py could not check pack %s (exit %d: usage or unreadable input); see above", p.PackID, code)
	}
	return nil
}

// await asks about the pack until it is no longer pending.
func (a *app) await(ctx context.Context, ad *client.Admin, prog *progress, p client.Pack) (client.Pack, error) {
	start := time.Now()
	tick := time.NewTicker(a.poll)
	defer tick.Stop()
	spin := time.NewTicker(100 * time.Millisecond)
	defer spin.Stop()
	id := p.PackID
	for p.Status == client.PackPending {
		prog.waiting(id, "building", time.Since(start))
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("waiting for pack %s: %w (it goes on building; see 'monsys packs show %s')", id, ctx.Err(), id)
		case <-spin.C:
			continue
		case <-tick.C:
		}
		np, err := ad.GetPack(ctx, id, 0)
		if err != nil {
			return p, err
		}
		p = np
	}
	took := time.Since(start).Truncate(100 * time.Millisecond)
	if p.Status == client.PackReady {
		prog.line(fmt.Sprintf("pack %s: ready after %s (%d records, %s)", id, took, p.Records, size(p.Size)))
	} else {
		prog.line(fmt.Sprintf("pack %s: %s after %s: %s", id, p.Status, took, orDash(p.Reason)))
	}
	return p, nil
}

// download saves a ready pack into dir under its file name, through a
// temporary file, and returns the path.
func (a *app) download(ctx context.Context, prog *progress, p client.Pack, dir string) (string, error) {
	name := filepath.Base(p.FileName)
	if name == "" || name == "." || name == ".." || name == string(filepath.Separator) {
		name = p.PackID + ".tar.gz"
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	defer os.Remove(tmp.Name())
	prog.startDownload(name, p.Size)
	c := &counter{w: tmp, p: prog}
	_, err = client.Download(ctx, p.DownloadURL, c)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		prog.line(fmt.Sprintf("download of %s failed", name))
		return "", err
	}
	if p.Size > 0 && c.n != p.Size {
		prog.line(fmt.Sprintf("download of %s cut short", name))
		return "", fmt.Errorf("download: got %d bytes of pack %s, the hub says %d", c.n, p.PackID, p.Size)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	prog.line(fmt.Sprintf("downloaded %s (%s)", path, size(c.n)))
	return path, nil
}

// verifyArgs are verify.py's arguments for the pack at path.
func verifyArgs(path string, o packOpts, asJSON bool) []string {
	args := []string{path}
	if o.fingerprint != "" {
		args = append(args, "--expect-fingerprint", o.fingerprint)
	}
	if o.deep {
		args = append(args, "--deep")
	}
	if o.logKey != "" {
		args = append(args, "--log-key", o.logKey)
		for _, w := range o.witnessKeys {
			args = append(args, "--witness-key", w)
		}
		if o.quorum != 0 {
			args = append(args, "--witness-quorum", strconv.Itoa(o.quorum))
		}
	}
	if asJSON {
		args = append(args, "--json")
	}
	return args
}

// runVerify runs the pack's own verify.py, taken out of the archive and
// saved beside it, and returns its output and exit status.
func (a *app) runVerify(ctx context.Context, py, path string, o packOpts) ([]byte, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	c := verify.ReadArchive(f, verify.DefaultLimits)
	f.Close()
	script, ok := c.Members[pack.VerifyPyName]
	if !ok {
		return []byte("✗ the pack holds no " + pack.VerifyPyName + "\n"), 1, nil
	}
	sp := filepath.Join(filepath.Dir(path), pack.VerifyPyName)
	if err := os.WriteFile(sp, script, 0o644); err != nil {
		return nil, 0, fmt.Errorf("save verify.py: %w", err)
	}
	cmd := exec.CommandContext(ctx, py, append([]string{sp}, verifyArgs(path, o, a.json)...)...)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	cmd.Stderr = a.stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out, ee.ExitCode(), nil
	}
	if err != nil {
		return out, 0, fmt.Errorf("run verify.py: %w", err)
	}
	return out, 0, nil
}

func (a *app) listPacks(ctx context.Context) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	all, err := allPages(func(cursor string) ([]client.PackSummary, string, error) {
		p, err := ad.ListPacks(ctx, cursor, a.pageSize)
		return p.Packs, p.NextCursor, err
	})
	if err != nil {
		return err
	}
	if a.json {
		return a.emit(map[string]any{"packs": all})
	}
	rows := make([][]string, 0, len(all))
	for _, p := range all {
		rows = append(rows, []string{p.PackID, p.Status, p.PeriodStart, p.PeriodEnd, orDash(p.GeneratedAt), orDash(p.ManifestSHA256)})
	}
	table(a.stdout, termWidth(a.stdout), []string{"PACK", "STATUS", "FROM", "TO", "GENERATED", "MANIFEST SHA-256"}, rows)
	return nil
}

func (a *app) showPack(ctx context.Context, id string) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	p, err := ad.GetPack(ctx, id, 0)
	if err != nil {
		return err
	}
	if a.json {
		return a.emit(packDoc(p))
	}
	pairs := [][2]string{{"pack", p.PackID}, {"status", p.Status}, {"period", p.PeriodStart + " → " + p.PeriodEnd},
		{"requested", when(&p.RequestedAt)}}
	switch p.Status {
	case client.PackReady:
		pairs = append(pairs, [2]string{"generated", p.GeneratedAt}, [2]string{"file", p.FileName + " (" + size(p.Size) + ")"},
			[2]string{"records", fmt.Sprint(p.Records)}, [2]string{"signing key", p.SigningKeyID}, [2]string{"manifest sha256", p.ManifestSHA256})
		if p.PreviousPack != nil {
			pairs = append(pairs, [2]string{"previous pack", p.PreviousPack.PackID})
		}
	case client.PackFailed:
		pairs = append(pairs, [2]string{"reason", p.Reason})
	}
	fields(a.stdout, pairs)
	if p.Status == client.PackFailed {
		return fmt.Errorf("pack %s failed: %s", p.PackID, p.Reason)
	}
	return nil
}

func (a *app) packLink(ctx context.Context, id string, ttl time.Duration) error {
	ad, err := a.client()
	if err != nil {
		return err
	}
	p, err := ad.GetPack(ctx, id, ttl)
	if err != nil {
		return err
	}
	if p.Status != client.PackReady {
		return fmt.Errorf("pack %s is %s: no link yet%s", p.PackID, p.Status, map[bool]string{true: ": " + p.Reason}[p.Reason != ""])
	}
	if a.json {
		return a.emit(map[string]any{"pack_id": p.PackID, "download_url": p.DownloadURL, "expires_at": p.ExpiresAt, "file_name": p.FileName,
			"manifest_sha256": p.ManifestSHA256})
	}
	fmt.Fprintln(a.stdout, p.DownloadURL)
	if p.ExpiresAt != nil {
		fmt.Fprintf(a.stderr, "The link works until %s; anyone who has it can download the pack.\n", when(p.ExpiresAt))
	}
	return nil
}
