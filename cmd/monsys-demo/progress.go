package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// tty reports whether stdout is a terminal (spinner and colours) or a log (CI).
var tty = func() bool {
	st, err := os.Stdout.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}()

func paint(code, s string) string {
	if !tty {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func bold(s string) string  { return paint("1", s) }
func green(s string) string { return paint("32", s) }
func red(s string) string   { return paint("31", s) }
func dim(s string) string   { return paint("2", s) }

// stepLog collects what a step has to say; it is printed under the step's line.
type stepLog struct{ lines []string }

func (l *stepLog) note(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// block adds a command and its output, indented.
func (l *stepLog) block(cmd, out string) {
	l.lines = append(l.lines, dim(cmd))
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		l.lines = append(l.lines, "  "+line)
	}
}

// runStep runs one step: its title, a progress indication while a slow step
// runs (a spinner on a terminal, a line every 10 s in a log), then ok or ✗
// with the time taken, and what the step noted.
func runStep(ctx context.Context, n int, title string, slow bool, fn func(context.Context, *stepLog) error) error {
	head := fmt.Sprintf("[%2d/%d] %s", n, totalSteps, title)
	start := time.Now()
	var wg sync.WaitGroup
	done := make(chan struct{})
	if slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			progress(head, start, done)
		}()
	} else if !tty {
		fmt.Println(head)
	}
	l := &stepLog{}
	err := fn(ctx, l)
	close(done)
	wg.Wait()
	took := time.Since(start).Round(10 * time.Millisecond)
	mark := green("ok")
	if err != nil {
		mark = red("✗")
	}
	if tty {
		fmt.Printf("\r\x1b[K%s %s %s\n", bold(head), mark, dim(took.String()))
	} else {
		fmt.Printf("       %s (%s)\n", mark, took)
	}
	for _, line := range l.lines {
		fmt.Println("       " + line)
	}
	if len(l.lines) > 0 {
		fmt.Println()
	}
	return err
}

func progress(head string, start time.Time, done <-chan struct{}) {
	if !tty {
		fmt.Println(head + " (this can take a while the first time)")
	}
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		el := time.Since(start).Truncate(time.Second)
		if tty {
			fmt.Printf("\r\x1b[K%s %s %s", bold(head), frames[i%len(frames)], dim(el.String()))
		} else if i > 0 && i%100 == 0 {
			fmt.Printf("       … still working (%s)\n", el)
		}
	}
}
