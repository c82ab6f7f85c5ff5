package emu

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The lines are the emulator's, as it writes them around a cold and a warm
// invocation.
func TestReportLog(t *testing.T) {
	const cold = "START RequestId: a1 Version: $LATEST\n" +
		"06 Dec 2026 01:03:12,344 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
		"06 Dec 2026 01:03:12,571 [INFO] (rapid) INIT RTDONE(status: success)\n" +
		"06 Dec 2026 01:03:12,571 [INFO] (rapid) INIT REPORT(durationMs: 227.285000)\n" +
		"END RequestId: a1\n" +
		"REPORT RequestId: a1\tInit Duration: 0.06 ms\tDuration: 252.43 ms\tBilled Duration: 253 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t\n"
	const warm = "START RequestId: b2 Version: $LATEST\n" +
		"{\"level\":\"INFO\",\"msg\":\"request\",\"path\":\"REPORT RequestId: not at the start\"}\n" +
		"END RequestId: b2\n" +
		"REPORT RequestId: b2\tDuration: 6.22 ms\tBilled Duration: 7 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t\n"
	// A failed init is retried in the invoke phase; both count.
	const retried = "06 Dec 2026 00:54:02,027 [INFO] (rapid) INIT REPORT(durationMs: 34.308000)\n" +
		"06 Dec 2026 00:54:02,027 [INFO] (rapid) INIT REPORT(durationMs: 0.034000)\n" +
		"REPORT RequestId: c3\tInit Duration: 0.01 ms\tDuration: 1.00 ms\tBilled Duration: 1 ms\n"
	tests := []struct {
		name   string
		writes []string
		want   []Report
	}{
		{name: "ok/cold-then-warm", writes: []string{cold + warm},
			want: []Report{{RequestID: "a1", Init: 227285 * time.Microsecond, Duration: 252430 * time.Microsecond},
				{RequestID: "b2", Duration: 6220 * time.Microsecond}}},
		{name: "ok/split-writes", writes: strings.SplitAfter(cold, " "),
			want: []Report{{RequestID: "a1", Init: 227285 * time.Microsecond, Duration: 252430 * time.Microsecond}}},
		{name: "ok/init-retried", writes: []string{retried},
			want: []Report{{RequestID: "c3", Init: 34342 * time.Microsecond, Duration: time.Millisecond}}},
		{name: "fail/no-line-end-yet", writes: []string{strings.TrimSuffix(warm, "\n")},
			want: nil},
		{name: "fail/other-output", writes: []string{"REPORT RequestId:\n", "INIT REPORT(durationMs: x)\n"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &reportLog{}
			for _, w := range tc.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := l.all(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("reports = %+v, want %+v", got, tc.want)
			}
		})
	}
}
