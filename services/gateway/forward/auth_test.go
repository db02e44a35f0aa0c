package forward

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// creds returns a store requiring one of creds, checking files on every
// connection.
func creds(t *testing.T, list ...auth.Credential) *auth.Store {
	t.Helper()
	cfg := auth.Defaults()
	cfg.Required = true
	cfg.ReloadInterval = time.Nanosecond
	cfg.Credentials = list
	s, err := auth.New(cfg, auth.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The handshake's user authentication, as Fluent Bit's forward output
// sends it with shared_key, username and password (fluent-logger-golang
// has no handshake at all): the right password gets in and may write its
// own tags only, a wrong or missing one is refused in the PONG, a rotated
// password works at the next connection, and no log line shows a secret.
func TestUserAuthentication(t *testing.T) {
	pwA := authtest.SecretFile(t, "pa55-a")
	key := "shared-s3cret"
	e := newAuthEnv(t, func(c *Config) { c.SharedKeyFile = authtest.SecretFile(t, key) }, nil, creds(t,
		auth.Credential{Name: "team-a", Username: "fb-a", PasswordFile: pwA, Sources: []string{"team-a.*"}},
		auth.Credential{Name: "team-b", Username: "fb-b", PasswordFile: authtest.SecretFile(t, "pa55-b"), Sources: []string{"team-b"}},
	))
	msg := func(tag, chunk string) []byte {
		return mp(t, []any{tag, et(time.Now()), map[string]any{"message": "from " + tag}, map[string]any{"chunk": chunk}})
	}

	t.Run("right password", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		pong, salt := c.handshakeAs(key, "host-a", "fb-a", "pa55-a")
		if pong[1] != true || len(salt) != 32 {
			t.Fatalf("PONG %#v, HELO auth %q", pong, salt)
		}
		c.send(msg("team-a.web", "c-a1"))
		c.expectAck("c-a1")
		e.events(t, "team-a.web", 1)
	})
	t.Run("a tag of another team", func(t *testing.T) {
		c := dial(t, e.srv.Addr())
		if pong, _ := c.handshakeAs(key, "host-a", "fb-a", "pa55-a"); pong[1] != true {
			t.Fatalf("PONG %#v", pong)
		}
		c.send(msg("team-a.api", "c-a2"))
		c.expectAck("c-a2")
		c.send(msg("team-b", "c-a3"))
		c.expectClosed()
		e.logs.waitLog(t, "tag the credential may not write", "credential=team-a", "tag=team-b", "reason=forbidden_source")
		if got := e.authFailures(ingest.ReasonForbiddenSource); got != 1 {
			t.Fatalf("auth failures forbidden_source = %v, want 1", got)
		}
	})
	refused := []struct {
		name, user, password, why, reason string
	}{
		{"wrong password", "fb-a", "guess", "username/password mismatch", auth.ReasonInvalid},
		{"unknown user", "fb-c", "pa55-a", "username/password mismatch", auth.ReasonInvalid},
		{"no user name", "", "", "authentication required", auth.ReasonMissing},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			before := e.authFailures(r.reason)
			c := dial(t, e.srv.Addr())
			pong, _ := c.handshakeAs(key, "host-x", r.user, r.password)
			if pong[1] != false || !strings.Contains(fmt.Sprint(pong[2]), r.why) {
				t.Fatalf("PONG %#v, want false with %q", pong, r.why)
			}
			c.expectClosed()
			if got := e.authFailures(r.reason); got != before+1 {
				t.Fatalf("auth failures %s = %v, want %v", r.reason, got, before+1)
			}
		})
	}
	t.Run("rotated password", func(t *testing.T) {
		authtest.WriteSecret(t, pwA, "pa55-a-2")
		c := dial(t, e.srv.Addr())
		if pong, _ := c.handshakeAs(key, "host-a", "fb-a", "pa55-a-2"); pong[1] != true {
			t.Fatalf("the rotated password: PONG %#v", pong)
		}
		old := dial(t, e.srv.Addr())
		if pong, _ := old.handshakeAs(key, "host-a", "fb-a", "pa55-a"); pong[1] != false {
			t.Fatalf("the old password after rotation: PONG %#v", pong)
		}
	})
	if n := len(e.events(t, "team-a.api", 1)); n != 1 {
		t.Fatalf("%d events on team-a.api", n)
	}
	for _, m := range e.raw.Msgs() {
		if m.Subject() == topology.RawPrefix+"team-b" {
			t.Fatal("a record of a forbidden tag was stored")
		}
	}
	for _, secret := range []string{"pa55-a", "pa55-b", "guess", key} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log shows the secret %q:\n%s", secret, e.logs.String())
		}
	}
}

// With tls.client_auth require, a certificate signed by client_ca_file
// names the credential; fluent-logger-golang, which cannot present one, is
// refused in the TLS handshake, and a verified certificate that names no
// credential is refused too when credentials are required.
func TestClientCertificateAuthentication(t *testing.T) {
	ca := authtest.NewCA(t)
	certFile, keyFile := ca.Server()
	e := newAuthEnv(t, func(c *Config) {
		c.TLS = TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.File, ClientAuth: ClientAuthRequire}
	}, nil, creds(t, auth.Credential{Name: "edge", ClientCertNames: []string{"edge-1.example"}, Sources: []string{"edge.*"}}))
	dialTLS := func(t *testing.T, cn string) *client {
		cert, _, _ := ca.Client(cn)
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.srv.Addr().String(),
			&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		return newClient(t, nc)
	}

	t.Run("named certificate", func(t *testing.T) {
		c := dialTLS(t, "edge-1.example")
		c.send(mp(t, []any{"edge.web", et(time.Now()), map[string]any{"message": "hello"}, map[string]any{"chunk": "c-e1"}}))
		c.expectAck("c-e1")
		c.send(mp(t, []any{"core", et(time.Now()), map[string]any{"message": "not mine"}, map[string]any{"chunk": "c-e2"}}))
		c.expectClosed()
		e.events(t, "edge.web", 1)
	})
	t.Run("certificate naming no credential", func(t *testing.T) {
		c := dialTLS(t, "edge-2.example")
		c.send(mp(t, []any{"edge.web", et(time.Now()), map[string]any{"message": "who?"}, map[string]any{"chunk": "c-e3"}}))
		c.expectClosed()
		if got := e.authFailures(auth.ReasonMissing); got != 1 {
			t.Fatalf("auth failures missing = %v, want 1", got)
		}
	})
	t.Run("fluent-logger without a certificate", func(t *testing.T) {
		host, port, _ := net.SplitHostPort(e.srv.Addr().String())
		portNum, _ := strconv.Atoi(port)
		f, err := fluent.New(fluent.Config{
			FluentHost: host, FluentPort: portNum, FluentNetwork: "tls", TlsInsecureSkipVerify: true, RequestAck: true,
			Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, MaxRetry: 2, RetryWait: 10,
		})
		if err == nil {
			defer f.Close()
			err = f.Post("edge.web", map[string]any{"message": "no certificate"})
		}
		if err == nil {
			t.Fatal("fluent-logger without a client certificate got an ack")
		}
	})
	for _, m := range e.raw.Msgs() {
		if m.Subject() != topology.RawPrefix+"edge.web" || !strings.Contains(string(m.Data()), "hello") {
			t.Fatalf("stored %s %s: only the named certificate's own tag may be", m.Subject(), m.Data())
		}
	}
}
