package app_test

import (
	"runtime/debug"
	"testing"

	"github.com/monsys/hub/internal/api"
	"github.com/monsys/hub/internal/app"
)

func TestLambdaGCSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want app.GCSettings
		ok   bool
	}{
		{"ok/ingest-512", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, app.GCSettings{Percent: 400, LimitBytes: 384 << 20}, true},
		{"ok/api-256", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}, app.GCSettings{Percent: 400, LimitBytes: 192 << 20}, true},
		{"ok/not-lambda", map[string]string{}, app.GCSettings{}, false},
		{"ok/operator-gogc-wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "GOGC": "100"}, app.GCSettings{}, false},
		{"ok/operator-gomemlimit-wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "GOMEMLIMIT": "100MiB"}, app.GCSettings{}, false},
		{"fail/memory-not-a-number", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512MB"}, app.GCSettings{}, false},
		{"fail/memory-zero", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "0"}, app.GCSettings{}, false},
		{"fail/memory-negative", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "-1"}, app.GCSettings{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := app.LambdaGCSettings(func(k string) string { return tc.env[k] })
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestTuneGC: the settings are applied, and restore puts back what was there.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	limit := debug.SetMemoryLimit(-1)
	restore := app.TuneGC(func(k string) string {
		return map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}[k]
	})
	got := debug.SetGCPercent(-1)
	debug.SetGCPercent(got)
	if got != 400 || debug.SetMemoryLimit(-1) != 192<<20 {
		restore()
		t.Fatalf("GOGC %d, limit %d", got, debug.SetMemoryLimit(-1))
	}
	restore()
	now := debug.SetGCPercent(-1)
	debug.SetGCPercent(now)
	if now != before || debug.SetMemoryLimit(-1) != limit {
		t.Fatalf("after restore GOGC %d limit %d, want %d %d", now, debug.SetMemoryLimit(-1), before, limit)
	}
	if r := app.TuneGC(func(string) string { return "" }); r == nil {
		t.Fatal("nil restore outside Lambda")
	}
}

// TestHandlerTunesGC: a function built by app.Handler in Lambda runs with
// the tuned collector.
func TestHandlerTunesGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })
	getenv, _ := deployedEnv(t)
	lambdaEnv := func(k string) string {
		if k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
			return "512"
		}
		return getenv(k)
	}
	if _, err := app.Handler(t.Context(), lambdaEnv, api.Ingest); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 400 || debug.SetMemoryLimit(-1) != 384<<20 {
		t.Fatalf("after app.Handler: GOGC %d, limit %d; want 400, %d", got, debug.SetMemoryLimit(-1), 384<<20)
	}
}
