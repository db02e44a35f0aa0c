// Package natsclient connects to NATS from configuration: the embedded
// server's URL on a laptop, a TLS-protected cluster with credentials in
// production.
package natsclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/config"
)

// Config says how to reach NATS.
type Config struct {
	// URL is one or more comma-separated server URLs.
	URL string `yaml:"url"`
	// CredsFile is a NATS .creds file (JWT + NKey seed).
	CredsFile string `yaml:"creds_file"`
	// NKeyFile is a file holding an NKey seed.
	NKeyFile string `yaml:"nkey_file"`
	// User and Password authenticate with a username.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates with a token.
	Token string `yaml:"token"`
	// TLS secures the connection.
	TLS TLS `yaml:"tls"`
}

// TLS is a client TLS configuration.
type TLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Enabled reports whether any TLS setting is given.
func (t *TLS) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// Validate checks that settings that go together are given together.
func (t *TLS) Validate() error {
	var errs config.Errors
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs.Addf("cert_file", "cert_file and key_file must be given together")
	}
	for path, f := range map[string]string{"ca_file": t.CAFile, "cert_file": t.CertFile, "key_file": t.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				errs.Addf(path, "%v", err)
			}
		}
	}
	return errs.Err()
}

// Build returns the crypto/tls configuration, or nil when TLS is off.
func (t *TLS) Build() (*tls.Config, error) {
	if !t.Enabled() && t.CertFile == "" {
		return nil, nil
	}
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.URL == "" {
		errs.Addf("url", "is empty (e.g. nats://127.0.0.1:4222)")
	}
	n := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != "", c.Token != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		errs.Addf("", "give only one of creds_file, nkey_file, user/password and token")
	}
	if c.CredsFile != "" {
		if _, err := os.Stat(c.CredsFile); err != nil {
			errs.Addf("creds_file", "%v", err)
		}
	}
	errs.Check("tls", &c.TLS)
	return errs.Err()
}

// Connect opens a connection that reconnects forever and logs its state
// changes. name identifies the client in the server's monitoring; extra
// options come last (nats.InProcessServer for a server in this process).
func Connect(cfg Config, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // publishes fail fast while disconnected instead of buffering unacked
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil { // closed on purpose
				log.Debug("nats connection closed")
				return
			}
			log.Warn("nats disconnected; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Error("nats async error", "subject", subj, "err", err)
		}),
	}
	switch {
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey_file: %w", err)
		}
		opts = append(opts, o)
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	}
	tc, err := cfg.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("nats tls: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	return nc, nil
}
