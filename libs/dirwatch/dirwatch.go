// Package dirwatch calls back when the files of a directory change: the
// pipelines of the enricher, the rules of the alerter. Changes come in
// bursts (an editor writes a temporary file and renames it, kubelet swaps
// a ConfigMap's ..data symlink), so the callback runs once the directory
// has been quiet for a moment.
package dirwatch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultQuiet is how long the directory must be still before the callback
// runs, when Options.Quiet is zero.
const DefaultQuiet = 250 * time.Millisecond

// Options configure a Watcher.
type Options struct {
	// Patterns select the files that matter by their base name
	// (filepath.Match), e.g. "*.yaml"; none selects every file.
	Patterns []string
	// Quiet is how long the directory must be still before the callback
	// runs (default DefaultQuiet).
	Quiet time.Duration
	// Logger logs what the watch cannot act on (default slog.Default()).
	Logger *slog.Logger
}

// Watcher watches one directory.
type Watcher struct {
	dir       string
	o         Options
	fw        *fsnotify.Watcher
	closeOnce sync.Once
}

// New starts watching dir. It returns once the watch is in place, so a
// change made after New returns is never missed: a caller that loads the
// directory after New sees every later change through Run.
func New(dir string, o Options) (*Watcher, error) {
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fw.Add(dir); err != nil {
		_ = fw.Close()
		return nil, err
	}
	return &Watcher{dir: dir, o: o, fw: fw}, nil
}

// Run calls onChange, from Run's goroutine, once the directory has been
// quiet for Options.Quiet after a change to a file the patterns select.
// It returns when ctx ends, and closes the watcher.
func (w *Watcher) Run(ctx context.Context, onChange func()) error {
	defer w.Close()
	timer := time.NewTimer(w.o.Quiet)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			if !w.selected(ev.Name) {
				continue
			}
			timer.Reset(w.o.Quiet)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			w.o.Logger.Warn("directory watch", "dir", w.dir, "err", err)
		case <-timer.C:
			onChange()
		}
	}
}

func (w *Watcher) selected(name string) bool {
	if len(w.o.Patterns) == 0 {
		return true
	}
	base := filepath.Base(name)
	for _, p := range w.o.Patterns {
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
	}
	return false
}

// Close stops watching; Run returns. It is safe to call more than once,
// and without Run.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() { err = w.fw.Close() })
	if errors.Is(err, fsnotify.ErrClosed) {
		return nil
	}
	return err
}
