package forward

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
	// The handshake also carries the user name and password of
	// gateway.auth's credentials. Prefer SharedKeyFile: a key written here
	// is a secret in the configuration (a warning says so at start).
	SharedKey string `yaml:"shared_key"`
	// SharedKeyFile reads the shared key from a file (a mounted secret),
	// once, at start.
	SharedKeyFile string `yaml:"shared_key_file"`
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

// Handshakes reports whether connections start with the shared-key
// handshake, the only place the protocol carries a user name and password.
func (c *Config) Handshakes() bool { return c.SharedKey != "" || c.SharedKeyFile != "" }

// Client certificate modes of TLS.ClientAuth.
const (
	// ClientAuthNone asks for no client certificate.
	ClientAuthNone = "none"
	// ClientAuthRequest asks for one and verifies it when the client sends
	// one; a client without one still gets in.
	ClientAuthRequest = "request"
	// ClientAuthRequire refuses, in the TLS handshake, a client without a
	// certificate signed by ClientCAFile.
	ClientAuthRequire = "require"
)

// TLS is a listener's certificate and what it asks of clients'.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none, request or require (see the ClientAuth
	// constants). A verified certificate can also name a credential
	// (gateway.auth.credentials[].client_cert_names).
	ClientAuth string `yaml:"client_auth"`
}

// Enabled reports whether TLS is configured.
func (t *TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// VerifiesClients reports whether client certificates are asked for and
// verified.
func (t *TLS) VerifiesClients() bool {
	return t.ClientAuth == ClientAuthRequest || t.ClientAuth == ClientAuthRequire
}

// Validate checks that certificate and key are given together and exist,
// and that client certificates are verified against a CA.
func (t *TLS) Validate() error {
	var errs config.Errors
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs.Addf("cert_file", "cert_file and key_file must be given together")
	}
	for path, f := range map[string]string{"cert_file": t.CertFile, "key_file": t.KeyFile, "client_ca_file": t.ClientCAFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				errs.Addf(path, "%v", err)
			}
		}
	}
	switch t.ClientAuth {
	case "", ClientAuthNone:
		if t.ClientCAFile != "" {
			errs.Addf("client_auth", "client_ca_file is set but client_auth is %q: set client_auth to request or require, or no certificate is verified", t.ClientAuth)
		}
	case ClientAuthRequest, ClientAuthRequire:
		if !t.Enabled() {
			errs.Addf("client_auth", "%s needs TLS: set cert_file and key_file", t.ClientAuth)
		}
		if t.ClientCAFile == "" {
			errs.Addf("client_ca_file", "client_auth %s needs the CA that signs client certificates", t.ClientAuth)
		}
	default:
		errs.Addf("client_auth", "%q: want none, request or require", t.ClientAuth)
	}
	return errs.Err()
}

// ServerConfig loads the certificate and the client CAs, or returns nil
// when TLS is off.
func (t *TLS) ServerConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !t.VerifiesClients() {
		return c, nil
	}
	pem, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return nil, err
	}
	c.ClientCAs = x509.NewCertPool()
	if !c.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client_ca_file %s holds no PEM certificate", t.ClientCAFile)
	}
	c.ClientAuth = tls.VerifyClientCertIfGiven
	if t.ClientAuth == ClientAuthRequire {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// DefaultConfig returns the defaults: loopback on the standard port, no
// shared key, no TLS.
func DefaultConfig() Config {
	return Config{
		Listen:         "127.0.0.1:24224",
		TLS:            TLS{ClientAuth: ClientAuthNone},
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
	if c.SharedKey != "" && c.SharedKeyFile != "" {
		errs.Addf("shared_key_file", "give shared_key or shared_key_file, not both")
	}
	if c.SharedKeyFile != "" {
		if _, err := os.Stat(c.SharedKeyFile); err != nil {
			errs.Addf("shared_key_file", "%v", err)
		}
	}
	errs.Check("tls", &c.TLS)
	return errs.Err()
}
