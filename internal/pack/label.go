package pack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Label names a period the way pack file names do (SPEC 8): "april-2026"
// when [start, end] covers exactly one calendar month in UTC, otherwise
// "<YYYY-MM-DD>_<YYYY-MM-DD>" with the first and last day of the period.
// end may be inclusive (…T23:59:59Z, or any instant of the last day) or the
// exclusive midnight that follows it.
func Label(start, end time.Time) string {
	start, end = start.UTC(), end.UTC()
	if start.Equal(midnight(start)) && start.Day() == 1 {
		next := start.AddDate(0, 1, 0)
		if !end.Before(next.Add(-time.Second)) && !end.After(next) {
			return fmt.Sprintf("%s-%d", strings.ToLower(start.Month().String()), start.Year())
		}
	}
	last := lastDay(start, end)
	return start.Format(time.DateOnly) + "_" + last.Format(time.DateOnly)
}

// lastDay is the day that holds the period's last instant: an end exactly at
// midnight after start is exclusive.
func lastDay(start, end time.Time) time.Time {
	if end.After(start) && end.Equal(midnight(end)) {
		return end.Add(-time.Nanosecond)
	}
	return end
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// FileName returns "evidence_<tenant>_<label>.tar.gz". The tenant must be a
// safe file name component: letters, digits, '.', '_' and '-', 1 to 64 long.
func FileName(tenant string, start, end time.Time) (string, error) {
	if !tenantRE.MatchString(tenant) {
		return "", fmt.Errorf("%w: tenant id %q is not a safe file name component", ErrInvalidMeta, tenant)
	}
	return "evidence_" + tenant + "_" + Label(start, end) + ".tar.gz", nil
}
