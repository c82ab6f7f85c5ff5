// Package config assembles the agent's configuration from, in increasing
// precedence, defaults, a JSON file, MONSYS_* environment variables and
// command-line flags. Every setting has one key, used in all three places:
// "state_dir" is the file key, MONSYS_STATE_DIR the variable, --state-dir
// the flag.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/monsys/hub/agent/spool"
)

// ErrInvalid means a setting has a bad value or a needed one is missing.
var ErrInvalid = errors.New("invalid configuration")

// Duration is a time.Duration written as a Go duration string ("60s").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"60s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config is the agent's configuration.
type Config struct {
	HubURL     string `json:"hub_url"`
	Token      string `json:"token,omitempty"`
	TokenFile  string `json:"token_file,omitempty"`
	CACert     string `json:"ca_cert"`
	EnrollCert string `json:"enroll_cert"`
	EnrollKey  string `json:"enroll_key"`
	StateDir   string `json:"state_dir"`

	Interval          Duration `json:"interval"`
	InventoryInterval Duration `json:"inventory_interval"`
	DNAInterval       Duration `json:"process_dna_interval"`
	RegisterInterval  Duration `json:"register_interval"`
	SpoolMaxBytes     int64    `json:"spool_max_bytes"`
	DiskPaths         []string `json:"disk_paths,omitempty"`
	Canaries          []string `json:"canaries,omitempty"`
	// Collectors names the collectors to run; all of them when empty.
	Collectors []string `json:"collectors,omitempty"`
}

// AllCollectors are the collector names, in the order they run.
var AllCollectors = []string{"metric", "inventory_snapshot", "process_dna", "honeypot_trip"}

// Enabled reports whether the named collector should run.
func (c Config) Enabled(name string) bool {
	return len(c.Collectors) == 0 || slices.Contains(c.Collectors, name)
}

// DefaultStateDir is /var/lib/monsys, or C:\ProgramData\monsys on Windows.
func DefaultStateDir() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "monsys")
	}
	return "/var/lib/monsys"
}

// DefaultFile is /etc/monsys/agent.json, or C:\ProgramData\monsys\agent.json.
func DefaultFile() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(programData(), "monsys", "agent.json")
	}
	return "/etc/monsys/agent.json"
}

func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}

// Default returns the defaults.
func Default() Config {
	return Config{
		StateDir:          DefaultStateDir(),
		Interval:          Duration(time.Minute),
		InventoryInterval: Duration(time.Hour),
		DNAInterval:       Duration(10 * time.Minute),
		RegisterInterval:  Duration(time.Hour),
		SpoolMaxBytes:     spool.DefaultMaxBytes,
	}
}

// Keys lists every setting key, for flags and documentation.
func Keys() []string {
	keys := make([]string, 0, len(setters))
	for k := range setters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EnvName is the environment variable for key: MONSYS_ + upper case.
func EnvName(key string) string { return "MONSYS_" + strings.ToUpper(key) }

// FlagName is the flag for key: dashes instead of underscores.
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

var setters = map[string]func(c *Config, v string) error{
	"hub_url":              func(c *Config, v string) error { c.HubURL = v; return nil },
	"token":                func(c *Config, v string) error { c.Token = v; return nil },
	"token_file":           func(c *Config, v string) error { c.TokenFile = v; return nil },
	"ca_cert":              func(c *Config, v string) error { c.CACert = v; return nil },
	"enroll_cert":          func(c *Config, v string) error { c.EnrollCert = v; return nil },
	"enroll_key":           func(c *Config, v string) error { c.EnrollKey = v; return nil },
	"state_dir":            func(c *Config, v string) error { c.StateDir = v; return nil },
	"interval":             durationSetter(func(c *Config) *Duration { return &c.Interval }),
	"inventory_interval":   durationSetter(func(c *Config) *Duration { return &c.InventoryInterval }),
	"process_dna_interval": durationSetter(func(c *Config) *Duration { return &c.DNAInterval }),
	"register_interval":    durationSetter(func(c *Config) *Duration { return &c.RegisterInterval }),
	"spool_max_bytes": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		c.SpoolMaxBytes = n
		return nil
	},
	"disk_paths": func(c *Config, v string) error { c.DiskPaths = splitList(v); return nil },
	"canaries":   func(c *Config, v string) error { c.Canaries = splitList(v); return nil },
	"collectors": func(c *Config, v string) error { c.Collectors = splitList(v); return nil },
}

func durationSetter(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = Duration(d)
		return nil
	}
}

func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Sources are where Load reads settings from.
type Sources struct {
	// File is the JSON file; DefaultFile when empty.
	File string
	// FileRequired makes a missing File an error (it was named explicitly).
	FileRequired bool
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Flags are the flags given on the command line, by key.
	Flags map[string]string
}

// Load builds the configuration from src and checks its values.
func Load(src Sources) (Config, error) {
	c := Default()
	file := src.File
	if file == "" {
		file = DefaultFile()
	}
	raw, err := os.ReadFile(file)
	switch {
	case err == nil:
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("config file %q: %w: %w", file, ErrInvalid, err)
		}
		// A relative path in the file is relative to the file's folder, so
		// that a folder written by "monsys agents create --out" works
		// wherever it is copied.
		for _, p := range []*string{&c.TokenFile, &c.CACert, &c.EnrollCert, &c.EnrollKey, &c.StateDir} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(filepath.Dir(file), *p)
			}
		}
	case errors.Is(err, os.ErrNotExist) && !src.FileRequired:
	default:
		return Config{}, fmt.Errorf("config file %q: %w", file, err)
	}
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, k := range Keys() {
		if v := getenv(EnvName(k)); v != "" {
			if err := setters[k](&c, v); err != nil {
				return Config{}, fmt.Errorf("%s=%q: %w: %w", EnvName(k), v, ErrInvalid, err)
			}
		}
	}
	for k, v := range src.Flags {
		set, ok := setters[k]
		if !ok {
			return Config{}, fmt.Errorf("unknown setting %q: %w", k, ErrInvalid)
		}
		if err := set(&c, v); err != nil {
			return Config{}, fmt.Errorf("--%s=%q: %w: %w", FlagName(k), v, ErrInvalid, err)
		}
	}
	if err := c.check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) check() error {
	switch {
	case c.StateDir == "":
		return fmt.Errorf("state_dir is empty: %w", ErrInvalid)
	case time.Duration(c.Interval) < time.Second:
		return fmt.Errorf("interval %v is below 1s: %w", time.Duration(c.Interval), ErrInvalid)
	case c.SpoolMaxBytes < spool.MinMaxBytes:
		return fmt.Errorf("spool_max_bytes %d is below %d: %w", c.SpoolMaxBytes, spool.MinMaxBytes, ErrInvalid)
	}
	for _, n := range c.Collectors {
		if !slices.Contains(AllCollectors, n) {
			return fmt.Errorf("unknown collector %q (known: %s): %w", n, strings.Join(AllCollectors, ", "), ErrInvalid)
		}
	}
	return nil
}

// CheckHub reports the first setting missing to talk to the hub.
func (c Config) CheckHub() error {
	switch {
	case c.HubURL == "":
		return fmt.Errorf("hub_url is not set: %w", ErrInvalid)
	case c.Token == "" && c.TokenFile == "":
		return fmt.Errorf("neither token nor token_file is set: %w", ErrInvalid)
	case c.CACert == "":
		return fmt.Errorf("ca_cert is not set: %w", ErrInvalid)
	}
	return nil
}

// ReadToken returns the agent token, from Token or TokenFile.
func (c Config) ReadToken() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	raw, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}
