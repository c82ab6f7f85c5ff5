package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/monsys/hub/internal/batch"
)

// HoneypotTrip is a "honeypot_trip" record: a canary file was read, changed,
// replaced or removed.
type HoneypotTrip struct {
	Type  string `json:"type"`
	TS    string `json:"ts"`
	Path  string `json:"path"`
	Event string `json:"event"` // accessed, modified, replaced, deleted
	ATime string `json:"atime,omitempty"`
	MTime string `json:"mtime,omitempty"`
	CTime string `json:"ctime,omitempty"`
}

// Trip events.
const (
	TripAccessed = "accessed"
	TripModified = "modified"
	TripReplaced = "replaced"
	TripDeleted  = "deleted"
)

// canaryBait is written into a canary the agent creates.
const canaryBait = "# production credentials - do not share\naws_access_key_id = AKIA0000000000000000\naws_secret_access_key = 0000000000000000000000000000000000000000\n"

type canary struct {
	ino          uint64
	size         int64
	atime, mtime time.Time
	ctime        time.Time
	missing      bool
}

// Honeypot watches canary files by polling their metadata. A canary that
// does not exist is created (mode 0644, bait content) with its access time
// set before its modification time, so that on filesystems mounted with
// relatime the next read updates the access time and is seen. On noatime
// mounts reads cannot be seen; changes still are.
type Honeypot struct {
	Paths []string

	base map[string]canary
}

var _ Collector = (*Honeypot)(nil)

// Name implements Collector.
func (h *Honeypot) Name() string { return "honeypot_trip" }

// Collect implements Collector: it returns one record per canary that
// tripped since the previous call, then re-arms it.
func (h *Honeypot) Collect(_ context.Context, now time.Time) ([]any, error) {
	if h.base == nil {
		h.base = map[string]canary{}
	}
	var out []any
	var errs []error
	for _, p := range h.Paths {
		old, known := h.base[p]
		cur, err := observe(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !known {
			if cur.missing {
				if cur, err = plant(p); err != nil {
					errs = append(errs, err)
					continue
				}
			} else if cur, err = arm(p, cur); err != nil {
				errs = append(errs, err)
				continue
			}
			h.base[p] = cur
			continue
		}
		event := compare(old, cur)
		if event == "" {
			continue
		}
		rec := HoneypotTrip{Type: "honeypot_trip", TS: batch.TS(now), Path: p, Event: event}
		if !cur.missing {
			rec.ATime, rec.MTime, rec.CTime = batch.TS(cur.atime), batch.TS(cur.mtime), batch.TS(cur.ctime)
		}
		out = append(out, rec)
		// Re-arm: a deleted canary is planted again, others get their
		// access time pushed back so the next read shows again.
		if cur.missing {
			cur, err = plant(p)
		} else {
			cur, err = arm(p, cur)
		}
		if err != nil {
			errs = append(errs, err)
			delete(h.base, p)
			continue
		}
		h.base[p] = cur
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("collect honeypot: %w", err)
	}
	return out, nil
}

func compare(old, cur canary) string {
	switch {
	case old.missing && cur.missing:
		return ""
	case cur.missing:
		return TripDeleted
	case old.missing || cur.ino != old.ino:
		return TripReplaced
	case cur.size != old.size || !cur.mtime.Equal(old.mtime) || !cur.ctime.Equal(old.ctime):
		return TripModified
	case cur.atime.After(old.atime):
		return TripAccessed
	}
	return ""
}

func observe(p string) (canary, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return canary{missing: true}, nil
	}
	if err != nil {
		return canary{}, fmt.Errorf("canary %q: %w", p, err)
	}
	at, ct, ino := fileTimes(fi)
	return canary{ino: ino, size: fi.Size(), atime: at, mtime: fi.ModTime(), ctime: ct}, nil
}

func plant(p string) (canary, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return canary{}, fmt.Errorf("plant canary %q: %w", p, err)
	}
	if err := os.WriteFile(p, []byte(canaryBait), 0o644); err != nil {
		return canary{}, fmt.Errorf("plant canary %q: %w", p, err)
	}
	c, err := observe(p)
	if err != nil {
		return canary{}, err
	}
	return arm(p, c)
}

// arm sets the access time an hour before the modification time (relatime
// then records the next read) and observes the result as the baseline.
func arm(p string, c canary) (canary, error) {
	if !c.atime.After(c.mtime.Add(-time.Minute)) {
		return c, nil
	}
	if err := os.Chtimes(p, c.mtime.Add(-time.Hour), c.mtime); err != nil {
		return canary{}, fmt.Errorf("arm canary %q: %w", p, err)
	}
	return observe(p)
}
