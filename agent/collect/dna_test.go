package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeSource is a ProcSource over plain files, standing in for /proc.
type fakeSource []Proc

func (f fakeSource) Procs(context.Context) ([]Proc, error) { return f, nil }

func fakeProc(pid int32, name, exe string) Proc {
	return Proc{PID: pid, Name: name, Exe: exe, Open: func() (*os.File, error) { return os.Open(exe) }}
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestDNA(t *testing.T) {
	dir := t.TempDir()
	bash := filepath.Join(dir, "bash")
	sshd := filepath.Join(dir, "sshd")
	_ = os.WriteFile(bash, []byte("bash binary"), 0o755)
	_ = os.WriteFile(sshd, []byte("sshd binary"), 0o755)
	src := fakeSource{
		fakeProc(30, "bash", bash), fakeProc(10, "sshd", sshd), fakeProc(20, "bash", bash),
		fakeProc(40, "gone", filepath.Join(dir, "missing")), // vanished: skipped
	}
	d := &DNA{Source: src}

	recs, err := d.Collect(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || d.Hashed != 2 {
		t.Fatalf("ok/first pass: %d records, %d hashed; want 2, 2", len(recs), d.Hashed)
	}
	b := recs[0].(ProcessDNA)
	if b.Exe != bash || b.SHA256 != sum([]byte("bash binary")) || fmt.Sprint(b.PIDs) != "[20 30]" || b.Inode == 0 && runtimeHasInodes {
		t.Fatalf("bash record = %+v", b)
	}

	if _, err := d.Collect(context.Background(), t0.Add(time.Minute)); err != nil || d.Hashed != 2 {
		t.Fatalf("ok/cached pass hashed again: %d, %v", d.Hashed, err)
	}

	// A changed binary (new mtime and size) is hashed again.
	_ = os.WriteFile(sshd, []byte("trojaned sshd binary"), 0o755)
	_ = os.Chtimes(sshd, t0, t0.Add(time.Hour))
	recs, _ = d.Collect(context.Background(), t0.Add(2*time.Minute))
	if d.Hashed != 3 || recs[1].(ProcessDNA).SHA256 != sum([]byte("trojaned sshd binary")) {
		t.Fatalf("ok/changed file: hashed %d, record %+v", d.Hashed, recs[1])
	}
}

// BenchmarkDNA measures a process_dna pass over 500 processes running 100
// distinct 512 KiB executables: the first pass hashes every file, the
// cached pass only stats.
func BenchmarkDNA(b *testing.B) {
	dir := b.TempDir()
	payload := make([]byte, 512<<10)
	var src fakeSource
	for i := range 100 {
		p := filepath.Join(dir, fmt.Sprintf("bin%03d", i))
		payload[0] = byte(i)
		if err := os.WriteFile(p, payload, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 5 {
			src = append(src, fakeProc(int32(i*5+j+1), fmt.Sprintf("bin%03d", i), p))
		}
	}
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			d := &DNA{Source: src}
			if _, err := d.Collect(ctx, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		d := &DNA{Source: src}
		if _, err := d.Collect(ctx, t0); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := d.Collect(ctx, t0); err != nil {
				b.Fatal(err)
			}
		}
		if d.Hashed != 100 {
			b.Fatalf("cached passes hashed %d files, want 100", d.Hashed)
		}
	})
}
