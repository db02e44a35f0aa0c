// Package natsserver runs a NATS server with JetStream inside the current
// process. jetlog's all-in-one command and every test use it, so the pipeline
// runs against the real server code, not a fake.
package natsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetlog/jetlog/libs/config"
)

// SyncAlways makes the server fsync every JetStream write before it acks it.
const SyncAlways = "always"

// Config is the embedded server's configuration.
type Config struct {
	// Listen is the client address. Port 0 picks a free port.
	Listen string `yaml:"listen"`
	// StoreDir holds JetStream's files; it survives restarts.
	StoreDir string `yaml:"store_dir"`
	// Sync is how often JetStream fsyncs its files: a duration, or "always"
	// to fsync before every acknowledgement. A write acknowledged but not yet
	// synced survives a process crash (it is in the OS page cache) but not a
	// power loss or kernel crash. nats-server's own default is 2m; jetlog
	// chooses 1s, which bounds that window to a second for a few percent of
	// throughput, while "always" costs about 35x in publish rate on a
	// 2-core machine. In production, replicas (R3) are the real protection.
	Sync string `yaml:"sync"`
	// MaxStore caps JetStream's disk use in bytes (0: the server's default).
	MaxStore int64 `yaml:"max_store_bytes"`
	// MaxPayload is the largest message the server accepts, in bytes.
	MaxPayload int32 `yaml:"max_payload_bytes"`
}

// Defaults returns the configuration of the embedded default.
func Defaults() Config {
	return Config{Listen: "127.0.0.1:4222", StoreDir: "data/nats", Sync: "1s", MaxPayload: 8 << 20}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs.Addf("listen", "%q is not host:port (%v)", c.Listen, err)
	}
	if c.StoreDir == "" {
		errs.Addf("store_dir", "is empty (JetStream needs a directory)")
	}
	if c.Sync != SyncAlways {
		if d, err := time.ParseDuration(c.Sync); err != nil || d <= 0 {
			errs.Addf("sync", "%q is neither %q nor a positive duration such as 1s", c.Sync, SyncAlways)
		}
	}
	if c.MaxPayload < 0 || c.MaxPayload > 64<<20 {
		errs.Addf("max_payload_bytes", "%d is outside 0..64 MiB", c.MaxPayload)
	}
	return errs.Err()
}

// Server is a running in-process NATS server.
type Server struct {
	srv *server.Server
}

// Start starts a server and waits until it accepts connections.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("natsserver: port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "jetlog-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
	}
	if cfg.MaxStore > 0 {
		opts.JetStreamMaxStore = cfg.MaxStore
	}
	if cfg.Sync == SyncAlways {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval, _ = time.ParseDuration(cfg.Sync)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if log != nil {
		s.SetLoggerV2(&logger{log.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("natsserver: not ready for connections after 30s")
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, errors.New("natsserver: JetStream did not start (check store_dir and disk space)")
	}
	return &Server{srv: s}, nil
}

// InProcessConn returns a connection to the server that does not go
// through the network stack (nats.InProcessServer): the components of the
// process that runs the server use it, and save the loopback TCP path's
// system calls on every message.
func (s *Server) InProcessConn() (net.Conn, error) { return s.srv.InProcessConn() }

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

type logger struct{ l *slog.Logger }

func (l *logger) Noticef(f string, v ...any) { l.l.Debug(fmt.Sprintf(f, v...)) }
func (l *logger) Warnf(f string, v ...any)   { l.l.Warn(fmt.Sprintf(f, v...)) }
func (l *logger) Fatalf(f string, v ...any)  { l.l.Error(fmt.Sprintf(f, v...)) }
func (l *logger) Errorf(f string, v ...any)  { l.l.Error(fmt.Sprintf(f, v...)) }
func (l *logger) Debugf(f string, v ...any)  {}
func (l *logger) Tracef(f string, v ...any)  {}
