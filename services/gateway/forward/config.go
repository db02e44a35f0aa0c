package forward

import (
	"crypto/tls"
	"net"
	"os"
	"time"

	"github.com/jetlog/jetlog/libs/config"
)

// Config configures the forward server.
type Config struct {
	// Listen is the TCP address to listen on. Fluent Bit's and fluentd's
	// default port is 24224. Only TCP is served: UDP heartbeats of old
	// clients are not answered (they fall back to TCP heartbeats).
	Listen string `yaml:"listen"`
	// SharedKey, when set, turns on the handshake: a client must prove it
	// knows the key (Fluent Bit's and fluentd's shared_key) before sending.
	SharedKey string `yaml:"shared_key"`
	// SelfHostname is the name the server gives in the handshake; the
	// machine's host name when empty.
	SelfHostname string `yaml:"self_hostname"`
	// TLS, when a certificate is given, makes the server speak TLS only.
	TLS TLS `yaml:"tls"`
	// MaxConnections bounds the open connections; one more is closed at
	// once, and the client retries.
	MaxConnections int `yaml:"max_connections"`
	// MaxBufferBytes bounds the bytes of messages being received and
	// decoded across all connections (each connection's buffer beyond
	// 16 KiB, and each message being decoded counted three times for its
	// copy and decoded values). A connection that cannot get room within
	// ack_timeout is closed and its client resends: a flood of senders
	// waits instead of growing the heap. It must hold at least four
	// messages of limits.max_request_bytes.
	MaxBufferBytes int64 `yaml:"max_buffer_bytes"`
	// IdleTimeout closes a connection that sends nothing for that long
	// (clients keep theirs open and reconnect on demand).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AckTimeout bounds the time from a message's arrival to its ack: a
	// chunk not stored by then is not acknowledged, and the connection is
	// closed so the client resends it. It also bounds writing any answer
	// (an ack, HELO or PONG). Keep it below the client's own ack wait
	// (fluentd's ack_response_timeout is 190s) and above the publisher's
	// queue_timeout plus ack_timeout.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// TLS is the server's certificate.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t *TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate checks that certificate and key are given together and exist.
func (t *TLS) Validate() error {
	var errs config.Errors
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs.Addf("cert_file", "cert_file and key_file must be given together")
	}
	for path, f := range map[string]string{"cert_file": t.CertFile, "key_file": t.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				errs.Addf(path, "%v", err)
			}
		}
	}
	return errs.Err()
}

// build loads the certificate, or returns nil when TLS is off.
func (t *TLS) build() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// DefaultConfig returns the defaults: loopback on the standard port, no
// shared key, no TLS.
func DefaultConfig() Config {
	return Config{
		Listen:         "127.0.0.1:24224",
		MaxConnections: 1024,
		MaxBufferBytes: 128 << 20,
		IdleTimeout:    5 * time.Minute,
		AckTimeout:     30 * time.Second,
	}
}

// Validate checks the configuration and reports every problem at once.
func (c *Config) Validate() error {
	var errs config.Errors
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs.Addf("listen", "%q is not host:port (%v); the forward protocol's port is 24224", c.Listen, err)
	}
	if c.MaxBufferBytes < 1<<20 {
		errs.Addf("max_buffer_bytes", "%d is below 1 MiB", c.MaxBufferBytes)
	}
	if c.MaxConnections < 1 {
		errs.Addf("max_connections", "%d: must be >= 1", c.MaxConnections)
	}
	if c.IdleTimeout < time.Second {
		errs.Addf("idle_timeout", "%v is below 1s", c.IdleTimeout)
	}
	if c.AckTimeout < 100*time.Millisecond {
		errs.Addf("ack_timeout", "%v is below 100ms", c.AckTimeout)
	}
	errs.Check("tls", &c.TLS)
	return errs.Err()
}
