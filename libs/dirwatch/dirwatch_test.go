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

// TestAChangeBeforeNewIsSeenThroughSince: a caller that loaded the
// directory, then started watching, misses nothing that changed between.
func TestAChangeBeforeNewIsSeenThroughSince(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(file, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := dirwatch.Snapshot(dir, []string{"*.yaml"})
	if err := os.WriteFile(file, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := dirwatch.New(dir, dirwatch.Options{Patterns: []string{"*.yaml"}, Since: loaded})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, calls(t, w))
}

func TestSnapshotReadsContentThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "a.yaml"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target string) {
		_ = os.Remove(filepath.Join(dir, "a.yaml"))
		if err := os.Symlink(filepath.Join(target, "a.yaml"), filepath.Join(dir, "a.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	link("v1")
	one := dirwatch.Snapshot(dir, []string{"*.yaml"})
	if again := dirwatch.Snapshot(dir, []string{"*.yaml"}); again != one {
		t.Fatal("two snapshots of the same files differ")
	}
	link("v2")
	if two := dirwatch.Snapshot(dir, []string{"*.yaml"}); two == one {
		t.Error("the snapshot did not change when the link pointed at other content")
	}
	if other := dirwatch.Snapshot(dir, []string{"*.yml"}); other == one {
		t.Error("files the patterns do not select changed the snapshot")
	}
}

func TestRunEndsWithAnErrorWhenTheDirectoryGoes(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "watched")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := dirwatch.New(dir, dirwatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), func() {}) }()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil after its directory was removed")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running after its directory was removed")
	}
}
