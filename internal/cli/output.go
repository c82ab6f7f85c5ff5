package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// allPages walks a listing: page is called with each cursor until the
// last page; every item comes back, never nil.
func allPages[T any](page func(cursor string) ([]T, string, error)) ([]T, error) {
	all := []T{}
	cursor := ""
	for {
		items, next, err := page(cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}

// termWidth is the width of w when it is a terminal, 0 otherwise.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	return terminalWidth(f)
}

// table prints rows under headers in aligned columns. When width is set (a
// terminal), the widest columns are cut, with "…", until the table fits.
func table(w io.Writer, width int, headers []string, rows [][]string) {
	cols := make([]int, len(headers))
	for i, h := range headers {
		cols[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			cols[i] = max(cols[i], utf8.RuneCountInString(c))
		}
	}
	if width > 0 {
		total := func() int {
			n := 2 * (len(cols) - 1)
			for _, c := range cols {
				n += c
			}
			return n
		}
		for total() > width {
			widest := 0
			for i := range cols {
				if cols[i] > cols[widest] {
					widest = i
				}
			}
			if cols[widest] <= 8 {
				break
			}
			cols[widest]--
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			c = cut(c, cols[i])
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", cols[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(headers)
	for _, r := range rows {
		line(r)
	}
}

// cut shortens s to n runes, ending in "…" when it was longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// fields prints name-value pairs, one a line, names aligned.
func fields(w io.Writer, pairs [][2]string) {
	n := 0
	for _, p := range pairs {
		n = max(n, len(p[0]))
	}
	for _, p := range pairs {
		fmt.Fprintf(w, "%-*s  %s\n", n, p[0]+":", p[1])
	}
}

// when shows a time for people: UTC, to the second; "-" when unset.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// size shows a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
