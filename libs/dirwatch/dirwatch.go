// Package dirwatch calls back when the files of a directory change: the
// pipelines of the enricher, the rules of the alerter.
//
// What counts is the content of the selected files, read through symlinks,
// not the names in the events: a Kubernetes ConfigMap volume changes by
// swapping its ..data symlink, and no event names a file it changed.
// Changes come in bursts (an editor writes a temporary file and renames
// it, kubelet writes a directory and switches a link), so the callback
// runs once the directory has been quiet for a moment, and only when the
// files read differently from the last time.
package dirwatch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	// Since is the Snapshot of the directory the caller last loaded. When
	// the directory already differs from it as New starts watching (it
	// changed between the load and New), Run calls back at once. Empty:
	// the directory as New finds it.
	Since string
	// Logger logs what the watch cannot act on (default slog.Default()).
	Logger *slog.Logger
}

// Watcher watches one directory.
type Watcher struct {
	dir       string
	o         Options
	fw        *fsnotify.Watcher
	last      string // the snapshot of the last callback (or Since)
	pending   bool   // the directory differs from last already
	closeOnce sync.Once
}

// New starts watching dir. It returns once the watch is in place, so a
// change made after New returns is never missed; take a Snapshot before
// loading the directory and pass it as Options.Since, and a change made
// between that load and New is not missed either.
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
	w := &Watcher{dir: filepath.Clean(dir), o: o, fw: fw, last: o.Since}
	if now := Snapshot(dir, o.Patterns); w.last == "" {
		w.last = now
	} else {
		w.pending = now != w.last
	}
	return w, nil
}

// Run calls onChange, from Run's goroutine, each time the selected files
// read differently than at the previous call (or than Options.Since, or
// than when New started), once the directory has been quiet for
// Options.Quiet. It returns nil when ctx ends or the watcher is closed, an
// error when the directory itself goes away; it closes the watcher.
func (w *Watcher) Run(ctx context.Context, onChange func()) error {
	defer w.Close()
	timer := time.NewTimer(w.o.Quiet)
	if !w.pending {
		timer.Stop()
	}
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				return fmt.Errorf("dirwatch: %s was removed or renamed; changes to it are no longer seen", w.dir)
			}
			// Any entry may matter: a symlink such as ..data decides what
			// the selected files read.
			timer.Reset(w.o.Quiet)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			// Events may have been lost (a queue overflow): look again.
			w.o.Logger.Warn("directory watch", "dir", w.dir, "err", err)
			timer.Reset(w.o.Quiet)
		case <-timer.C:
			if now := Snapshot(w.dir, w.o.Patterns); now != w.last {
				w.last = now
				onChange()
			}
		}
	}
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

// Snapshot fingerprints the files of dir that patterns select (all files
// when none): their names and their contents, read through symlinks. Two
// snapshots are equal when reading the directory would give the same
// bytes; a file that cannot be read counts with its error.
func Snapshot(dir string, patterns []string) string {
	h := sha256.New()
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		fmt.Fprintf(h, "error %v", err)
		return hex.EncodeToString(h.Sum(nil))
	}
	var n [8]byte
	for _, en := range entries {
		if !selected(en.Name(), patterns) {
			continue
		}
		path := filepath.Join(dir, en.Name())
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			data = []byte("error " + err.Error())
		}
		for _, part := range [][]byte{[]byte(en.Name()), data} {
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func selected(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}
