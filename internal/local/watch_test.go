package local

import (
	"errors"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/local/emu"
)

// fakeEmulator exits when told, with err as its Err afterwards.
type fakeEmulator struct {
	exited chan struct{}
	mu     sync.Mutex
	err    error
}

func newFake() *fakeEmulator { return &fakeEmulator{exited: make(chan struct{})} }

func (f *fakeEmulator) Exited() <-chan struct{} { return f.exited }

func (f *fakeEmulator) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeEmulator) exit(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	close(f.exited)
}

func TestWatchEmulators(t *testing.T) {
	crash := errors.New("dynalite (pid 7) exited unexpectedly: signal: killed")
	t.Run("fail/an-emulator-crashes", func(t *testing.T) {
		d, m := newFake(), newFake()
		got := make(chan error, 2)
		stop := make(chan struct{})
		wait := watchEmulators(stop, map[string]emu.Emulator{"dynalite": d, "MinIO": m}, func(err error) { got <- err })
		d.exit(crash)
		err := <-got
		close(stop)
		wait()
		if len(got) != 0 {
			t.Fatalf("MinIO, still running, was reported too: %v", <-got)
		}
		if !errors.Is(err, crash) || err.Error() != "dynalite stopped: "+crash.Error() {
			t.Fatalf("fail got %v", err)
		}
	})
	t.Run("ok/stopped-when-asked", func(t *testing.T) {
		d := newFake()
		got := make(chan error, 1)
		stop := make(chan struct{})
		wait := watchEmulators(stop, map[string]emu.Emulator{"dynalite": d}, func(err error) { got <- err })
		d.exit(nil) // Stop: Err is nil
		wait()
		select {
		case err := <-got:
			t.Fatalf("a stop asked for was reported: %v", err)
		default:
		}
	})
	t.Run("ok/hub-closing", func(t *testing.T) {
		d := newFake()
		got := make(chan error, 1)
		stop := make(chan struct{})
		wait := watchEmulators(stop, map[string]emu.Emulator{"dynalite": d}, func(err error) { got <- err })
		close(stop)
		d.exit(crash)
		wait()
		select {
		case err := <-got:
			t.Fatalf("an exit after Close began was reported: %v", err)
		default:
		}
	})
}
