package dirwatch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/dirwatch"
)

// calls runs w until the test ends and reports each callback on the
// returned channel.
func calls(t *testing.T, w *dirwatch.Watcher) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{}, 100)
	done := make(chan error)
	go func() { done <- w.Run(ctx, func() { ch <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ch
}

func wait(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no callback after a change")
	}
}

func TestABurstOfWritesCallsBackOnceQuiet(t *testing.T) {
	dir := t.TempDir()
	w, err := dirwatch.New(dir, dirwatch.Options{Patterns: []string{"*.yaml"}, Quiet: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ch := calls(t, w)
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, ch)
}

func TestCloseIsSafeWithoutRunAndTwice(t *testing.T) {
	w, err := dirwatch.New(t.TempDir(), dirwatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background(), func() { t.Error("callback after Close") }); err != nil {
		t.Fatal(err)
	}
}

func TestAMissingDirectoryIsAnError(t *testing.T) {
	if _, err := dirwatch.New(filepath.Join(t.TempDir(), "nope"), dirwatch.Options{}); err == nil {
		t.Fatal("watching a missing directory succeeded")
	}
}
