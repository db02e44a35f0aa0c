// Package logging builds the process's log/slog logger from configuration.
package logging

import (
	"io"
	"log/slog"
	"strings"

	"github.com/jetlog/jetlog/libs/config"
)

// Config selects the log level and format.
type Config struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json (for log shippers) or text (for people).
	Format string `yaml:"format"`
}

// Defaults logs info and above as text.
func Defaults() Config { return Config{Level: "info", Format: "text"} }

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		errs.Addf("level", "%q: use debug, info, warn or error", c.Level)
	}
	if f := strings.ToLower(c.Format); f != "json" && f != "text" {
		errs.Addf("format", "%q: use json or text", c.Format)
	}
	return errs.Err()
}

// New returns a logger writing to w.
func New(c Config, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: l}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
