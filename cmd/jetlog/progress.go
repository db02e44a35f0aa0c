package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressEvery is how often a long pass over the DLQ reports its counts
// when standard error is not a terminal (a log file, a CI job).
const progressEvery = 10 * time.Second

// progress reports a long pass on standard error: a progress bar with the
// counts when it is a terminal, else a line of counts every progressEvery.
type progress struct {
	w    io.Writer
	name string
	bar  *progressbar.ProgressBar
	next time.Time
}

func newProgress(w io.Writer, name string) *progress {
	p := &progress{w: w, name: name, next: time.Now().Add(progressEvery)}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("read"), progressbar.OptionShowIts(), progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	return p
}

// update reports read of total messages read (total 0: not known yet) and
// what became of them.
func (p *progress) update(read, total uint64, counts string) {
	if p.bar != nil {
		if total > 0 && p.bar.GetMax64() != int64(total) {
			p.bar.ChangeMax64(int64(total))
		}
		p.bar.Describe(counts)
		_ = p.bar.Set64(int64(read))
		return
	}
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(progressEvery)
		fmt.Fprintf(p.w, "%s: %d of %d read, %s\n", p.name, read, total, counts)
	}
}

// finish clears the bar.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(file.Fd()))
}
