package local

import (
	"fmt"
	"sync"

	"github.com/monsys/hub/internal/local/emu"
)

// watchEmulators calls fail with each of ems that exits unasked
// (emu.Emulator's Err is nil after a Stop), unless stop is closed first;
// wait returns once every watcher has.
// The local hub cannot serve without its emulators: it stops, and says
// which one ended and how, rather than answering 5xx to every request.
func watchEmulators(stop <-chan struct{}, ems map[string]emu.Emulator, fail func(error)) (wait func()) {
	var wg sync.WaitGroup
	for name, e := range ems {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-stop:
				return
			case <-e.Exited():
			}
			select {
			case <-stop: // Close stops the emulators after closing stop
				return
			default:
			}
			if err := e.Err(); err != nil {
				fail(fmt.Errorf("%s stopped: %w", name, err))
			}
		}()
	}
	return wg.Wait
}

// emulators are the emulator processes this hub started.
func (h *Hub) emulators() map[string]emu.Emulator {
	ems := map[string]emu.Emulator{}
	if h.dynalite != nil {
		ems["dynalite"] = h.dynalite
	}
	if h.minio != nil {
		ems["MinIO"] = h.minio
	}
	if h.witness != nil {
		ems["the witness"] = h.witness
	}
	return ems
}

// fail stops the hub's listener; Wait returns err (the first one).
func (h *Hub) fail(err error) {
	h.failMu.Lock()
	first := h.failErr == nil
	if first {
		h.failErr = err
	}
	h.failMu.Unlock()
	if first {
		h.cfg.Log.Error("the local hub stops: an emulator it runs ended", "err", err)
		_ = h.https.Close()
	}
}
