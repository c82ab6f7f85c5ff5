package emu_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsys/hub/internal/local/emu"
)

func TestEnsureRIE(t *testing.T) {
	root, err := emu.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "ensure-rie.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte(emu.RIEModuleVersion)) {
		t.Errorf("scripts/ensure-rie.sh does not pin RIEModuleVersion %s", emu.RIEModuleVersion)
	}
	tests := []struct {
		name    string
		bin     string // MONSYS_RIE_BIN
		wantErr bool
	}{
		{name: "ok/override", bin: os.Args[0]},
		{name: "fail/override-missing", bin: filepath.Join(t.TempDir(), "nope"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MONSYS_RIE_BIN", tc.bin)
			got, err := emu.EnsureRIE(t.Context(), root)
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("EnsureRIE() = %q, want an error", got)
			case !tc.wantErr && err != nil:
				t.Fatal(err)
			case !tc.wantErr && got != tc.bin:
				t.Errorf("EnsureRIE() = %q, want %q", got, tc.bin)
			}
		})
	}
}

// StartRIE refuses a bootstrap the emulator could not start before it
// starts anything; runs under the emulator are tested in internal/rie.
func TestStartRIEBootstrap(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bootstrap, want string
	}{
		{name: "fail/none", want: "no bootstrap"},
		{name: "fail/missing", bootstrap: filepath.Join(dir, "nope"), want: "not an executable file"},
		{name: "fail/not-executable", bootstrap: plain, want: "not an executable file"},
		{name: "fail/directory", bootstrap: dir, want: "not an executable file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := emu.StartRIE(t.Context(), emu.RIEOptions{Bootstrap: tc.bootstrap, Bin: "/nonexistent/aws-lambda-rie"})
			if err == nil {
				_ = r.Stop()
				t.Fatal("StartRIE succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}
