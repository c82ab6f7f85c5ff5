package logtest_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/monsys/hub/internal/logtest"
)

func TestBufferConcurrent(t *testing.T) {
	var b logtest.Buffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { b.Write([]byte("line\n")) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 50 || len(b.String()) != 250 {
		t.Fatalf("%d lines, %d bytes", got, len(b.String()))
	}
}
