package pipeline

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the pipelines of dir whenever a file there changes, and
// hands each Set that compiles to onLoad. A change that does not compile is
// handed to onError and the running pipelines stay as they were. It returns
// when ctx ends.
func Watch(ctx context.Context, dir string, o Options, log *slog.Logger, onLoad func(*Set), onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return err
	}
	// Editors write files in bursts (temp file, rename, chmod): reload once
	// the directory has been quiet for a moment.
	const quiet = 250 * time.Millisecond
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ext := strings.ToLower(filepath.Ext(ev.Name)); ext != ".yaml" && ext != ".yml" {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(quiet)
			} else {
				timer.Reset(quiet)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("pipeline watch", "err", err)
		case <-fire:
			fire = nil
			set, err := LoadDir(dir, o)
			if err != nil {
				onError(err)
				continue
			}
			onLoad(set)
		}
	}
}
