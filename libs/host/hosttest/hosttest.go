// Package hosttest runs a jetlog host inside a test.
package hosttest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jetlog/jetlog/libs/host"
)

// Start builds and starts a host on cfg, failing the test if it cannot,
// and stops it when the test ends. Its logs are discarded.
func Start(t testing.TB, cfg *host.Config) *host.Host {
	t.Helper()
	return StartLogging(t, cfg, io.Discard)
}

// StartLogging is Start with the host's logs written to logs.
func StartLogging(t testing.TB, cfg *host.Config, logs io.Writer) *host.Host {
	t.Helper()
	h, err := host.New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	return h
}
