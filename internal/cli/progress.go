package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress is the display of a pack being waited for and downloaded, on
// stderr: a live line and a bar on a terminal, plain lines otherwise (one
// per state, and per quarter of a download), so that a log stays readable.
type progress struct {
	w     io.Writer
	width int // the terminal's columns; 0: not a terminal
	last  string
	frame int
	// download
	label        string
	total, shown int64
	quarter      int64
}

func newProgress(w io.Writer) *progress { return &progress{w: w, width: termWidth(w)} }

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// waiting shows that the pack is in state, waited on for elapsed.
func (p *progress) waiting(id, state string, elapsed time.Duration) {
	if p.width > 0 {
		p.frame++
		p.live(fmt.Sprintf("%s pack %s %s %s", spinner[p.frame%len(spinner)], id, state, elapsed.Truncate(time.Second)))
		return
	}
	p.line(fmt.Sprintf("pack %s: %s", id, state))
}

// live rewrites the terminal's current line.
func (p *progress) live(s string) { fmt.Fprintf(p.w, "\r\x1b[K%s", cut(s, p.width-1)) }

// line prints s on a line of its own, once.
func (p *progress) line(s string) {
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", s)
	} else if s != p.last {
		fmt.Fprintln(p.w, s)
	}
	p.last = s
}

// startDownload begins the bar of a download of total bytes.
func (p *progress) startDownload(label string, total int64) {
	p.label, p.total, p.shown, p.quarter = label, total, -1, -1
	p.update(0)
}

// update shows that n bytes of the download arrived.
func (p *progress) update(n int64) {
	pct := int64(100)
	if p.total > 0 {
		pct = min(100, n*100/p.total)
	}
	if p.width > 0 {
		if pct == p.shown {
			return
		}
		p.shown = pct
		head := fmt.Sprintf("downloading %s ", p.label)
		tail := fmt.Sprintf(" %3d%% %s/%s", pct, size(n), size(p.total))
		barW := min(40, p.width-1-len([]rune(head))-len(tail)-2)
		if barW < 5 {
			p.live(head + tail)
			return
		}
		fill := int(pct) * barW / 100
		p.live(head + "[" + strings.Repeat("█", fill) + strings.Repeat("░", barW-fill) + "]" + tail)
		return
	}
	if q := pct / 25; q != p.quarter {
		p.quarter = q
		p.line(fmt.Sprintf("downloading %s: %d%% (%s of %s)", p.label, pct, size(n), size(p.total)))
	}
}

// counter counts what is written through it into the download's display.
type counter struct {
	w io.Writer
	p *progress
	n int64
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.p.update(c.n)
	return n, err
}
