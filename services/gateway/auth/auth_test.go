package auth_test

import (
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

func TestValidateNamesEveryProblem(t *testing.T) {
	file := authtest.SecretFile(t, "t0ken")
	t.Setenv("GW_TEST_TOKEN", "from-env")
	cases := []struct {
		name string
		cred auth.Credential
		want string
	}{
		{"no name", auth.Credential{TokenFile: file, Sources: []string{"*"}}, "credentials[0].name"},
		{"name with a space", auth.Credential{Name: "team a", TokenFile: file, Sources: []string{"*"}}, "credentials[0].name"},
		{"token and password", auth.Credential{Name: "a", TokenFile: file, Username: "u", PasswordFile: file, Sources: []string{"*"}}, "not both"},
		{"username without password", auth.Credential{Name: "a", Username: "u", Sources: []string{"*"}}, "credentials[0].password_file"},
		{"password without username", auth.Credential{Name: "a", PasswordFile: file, Sources: []string{"*"}}, "credentials[0].username"},
		{"no secret", auth.Credential{Name: "a", Sources: []string{"*"}}, "no secret"},
		{"file and env", auth.Credential{Name: "a", TokenFile: file, TokenEnv: "GW_TEST_TOKEN", Sources: []string{"*"}}, "credentials[0].token_file"},
		{"missing file", auth.Credential{Name: "a", TokenFile: file + ".gone", Sources: []string{"*"}}, "no such file"},
		{"unset variable", auth.Credential{Name: "a", TokenEnv: "GW_TEST_UNSET", Sources: []string{"*"}}, "GW_TEST_UNSET is not set"},
		{"JETLOG_ variable", auth.Credential{Name: "a", TokenEnv: "JETLOG_TOKEN", Sources: []string{"*"}}, "configuration loader"},
		{"no sources", auth.Credential{Name: "a", TokenFile: file}, "credentials[0].sources"},
		{"source with a space", auth.Credential{Name: "a", TokenFile: file, Sources: []string{"team a.*"}}, "credentials[0].sources[0]"},
		{"source with an empty token", auth.Credential{Name: "a", TokenFile: file, Sources: []string{"team-a..web"}}, "empty token"},
		{"username with a colon", auth.Credential{Name: "a", Username: "u:v", PasswordFile: file, Sources: []string{"*"}}, "':'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := auth.Defaults()
			cfg.Credentials = []auth.Credential{c.cred}
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, c.want)
			}
		})
	}
	t.Run("duplicates", func(t *testing.T) {
		cfg := auth.Defaults()
		cfg.Credentials = []auth.Credential{
			{Name: "a", Username: "u", PasswordFile: file, ClientCertNames: []string{"host-1"}, Sources: []string{"*"}},
			{Name: "a", Username: "u", PasswordFile: file, ClientCertNames: []string{"host-1"}, Sources: []string{"*"}},
		}
		err := cfg.Validate()
		for _, want := range []string{"credentials[1].name", "credentials[1].username", "credentials[1].client_cert_names[0]"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %v, want %s", err, want)
			}
		}
	})
	t.Run("required without credentials", func(t *testing.T) {
		cfg := auth.Defaults()
		cfg.Required = true
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nobody could write") {
			t.Fatalf("Validate() = %v", err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		cfg := auth.Defaults()
		cfg.Required = true
		cfg.Credentials = []auth.Credential{
			{Name: "a", TokenFile: file, Sources: []string{"team-a.*"}},
			{Name: "b", TokenEnv: "GW_TEST_TOKEN", Sources: []string{"*"}},
			{Name: "c", ClientCertNames: []string{"host-1"}, Sources: []string{"billing"}},
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSourcesAllowList(t *testing.T) {
	s := newStore(t, auth.Credential{Name: "team-a", TokenFile: authtest.SecretFile(t, "a"), Sources: []string{"billing", "team-a.*", "*.audit"}})
	p := bearer(t, s, "a")
	cases := map[string]bool{
		"billing":             true,
		"billing.eu":          false, // an exact name is exact
		"team-a.web":          true,
		"team-a.web.checkout": true, // '*' runs across dots
		"team-a":              false,
		"team-a.":             false, // made subject-safe: team-a, which team-a.* does not cover
		"team-ab.web":         false,
		"team-b.web":          false,
		"x.y.audit":           true,
		"team-a.>":            true,  // made subject-safe first: team-a._
		" team-a.web":         false, // _team-a.web
		"team-a/web":          false, // one token, team-a/web
		"":                    false, // the source "default"
	}
	for src, want := range cases {
		if got := p.Allows(src); got != want {
			t.Errorf("Allows(%q) = %v, want %v", src, got, want)
		}
		err := p.Check(src)
		var fe *ingest.ForbiddenError
		if (err == nil) != want || (err != nil && (!errors.As(err, &fe) || fe.Credential != "team-a")) {
			t.Errorf("Check(%q) = %v", src, err)
		}
	}
	var anonymous *auth.Principal
	if !anonymous.Allows("anything") || anonymous.Check("anything") != nil || anonymous.Name() != "" {
		t.Error("an anonymous principal must write every source")
	}
	all := bearer(t, newStore(t, auth.Credential{Name: "ops", TokenFile: authtest.SecretFile(t, "o"), Sources: []string{"*"}}), "o")
	if !all.Allows("any.source.at.all") {
		t.Error(`"*" must allow every source`)
	}
}

// Publish hands the publisher only what the credential may write, and
// gives every record its result in its own place.
func TestPrincipalPublishSplitsRecords(t *testing.T) {
	p := bearer(t, newStore(t, auth.Credential{Name: "a", TokenFile: authtest.SecretFile(t, "a"), Sources: []string{"ok"}}), "a")
	recs := []ingest.Record{{Source: "no"}, {Source: "ok", ID: "1"}, {Source: "no"}, {Source: "ok", ID: "2"}}
	var got []string
	res, forbidden := p.Publish(recs, func(kept []ingest.Record) []error {
		out := make([]error, len(kept))
		for i := range kept {
			got = append(got, kept[i].ID)
			kept[i].ID = "published-" + kept[i].ID
		}
		out[1] = ingest.ErrBusy
		return out
	})
	if forbidden != 2 || strings.Join(got, ",") != "1,2" {
		t.Fatalf("forbidden %d, published %v", forbidden, got)
	}
	if !ingest.IsForbidden(res[0]) || res[1] != nil || !ingest.IsForbidden(res[2]) || !errors.Is(res[3], ingest.ErrBusy) {
		t.Fatalf("results %v", res)
	}
	if recs[1].ID != "published-1" || recs[3].ID != "published-2" {
		t.Fatalf("ids %q, %q: the publisher's ids must reach the caller's records", recs[1].ID, recs[3].ID)
	}
	called := false
	res, forbidden = p.Publish([]ingest.Record{{Source: "no"}}, func([]ingest.Record) []error { called = true; return nil })
	if called || forbidden != 1 || !ingest.IsForbidden(res[0]) {
		t.Fatalf("all forbidden: publish called %v, results %v", called, res)
	}
}

func TestRequest(t *testing.T) {
	s := newStore(t,
		auth.Credential{Name: "tok", TokenFile: authtest.SecretFile(t, "t0ken-a"), Sources: []string{"*"}},
		auth.Credential{Name: "usr", Username: "fluent", PasswordFile: authtest.SecretFile(t, "pa55word"), Sources: []string{"*"}},
	)
	cases := []struct {
		name, header  string
		user, pass    string
		principal     string
		reason, named string
	}{
		{name: "bearer", header: "Bearer t0ken-a", principal: "tok"},
		{name: "bearer, scheme in lower case", header: "bearer t0ken-a", principal: "tok"},
		{name: "basic", user: "fluent", pass: "pa55word", principal: "usr"},
		{name: "wrong token", header: "Bearer t0ken-b", reason: auth.ReasonInvalid},
		{name: "wrong password", user: "fluent", pass: "guess", reason: auth.ReasonInvalid, named: "usr"},
		{name: "unknown user", user: "nobody", pass: "pa55word", reason: auth.ReasonInvalid},
		{name: "a token as a password", user: "fluent", pass: "t0ken-a", reason: auth.ReasonInvalid, named: "usr"},
		{name: "malformed basic", header: "Basic !!!", reason: auth.ReasonInvalid},
		{name: "other scheme", header: "ApiKey abc", reason: auth.ReasonInvalid},
		{name: "none", reason: auth.ReasonMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "http://gw/_bulk", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.user != "" {
				r.SetBasicAuth(c.user, c.pass)
			}
			p, err := s.Request(r)
			if c.reason == "" {
				if err != nil || p.Name() != c.principal {
					t.Fatalf("Request() = %v, %v; want %s", p.Name(), err, c.principal)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Reason != c.reason || ae.Credential != c.named || p != nil {
				t.Fatalf("Request() = %v, %#v; want reason %s, credential %q", p.Name(), err, c.reason, c.named)
			}
			for _, secret := range []string{"t0ken", "pa55word", "guess", "nobody"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q shows %q", err, secret)
				}
			}
		})
	}
	t.Run("not required: anonymous", func(t *testing.T) {
		cfg := auth.Defaults()
		cfg.Credentials = []auth.Credential{{Name: "tok", TokenFile: authtest.SecretFile(t, "x"), Sources: []string{"a"}}}
		s, err := auth.New(cfg, auth.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodPost, "http://gw/_bulk", nil)
		if p, err := s.Request(r); p != nil || err != nil {
			t.Fatalf("Request() = %v, %v; want anonymous", p, err)
		}
		r.Header.Set("Authorization", "Bearer wrong")
		if _, err := s.Request(r); auth.ReasonOf(err) != auth.ReasonInvalid {
			t.Fatalf("a wrong token where none is required: %v, want invalid", err)
		}
	})
	t.Run("challenges", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodPost, "http://gw/_bulk", nil)
		r.Header.Set("Authorization", "Bearer nope")
		_, err := s.Request(r)
		got := strings.Join(s.Challenges(err), " | ")
		if got != `Bearer realm="jetlog", error="invalid_token" | Basic realm="jetlog", charset="UTF-8"` {
			t.Fatalf("challenges %s", got)
		}
	})
}

// A rotated token file is read again and used, the old token refused; a
// file that disappears keeps the previous secrets, says so once, and
// counts; no log line shows a secret.
func TestRotation(t *testing.T) {
	file := authtest.SecretFile(t, "first-token")
	pw := authtest.SecretFile(t, "first-password")
	var logs authtest.Log
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reloads"}, []string{"result"})
	cfg := auth.Defaults()
	cfg.Required = true
	cfg.ReloadInterval = time.Nanosecond // every request looks
	cfg.Credentials = []auth.Credential{
		{Name: "team-a", TokenFile: file, Sources: []string{"*"}},
		{Name: "team-b", Username: "b", PasswordFile: pw, Sources: []string{"*"}},
	}
	s, err := auth.New(cfg, auth.Options{Log: logs.Logger(), Reloads: reloads})
	if err != nil {
		t.Fatal(err)
	}
	try := func(token string) error {
		r, _ := http.NewRequest(http.MethodPost, "http://gw/v1/ingest", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		_, err := s.Request(r)
		return err
	}
	salt := s.Handshake().Salt()
	if err := try("first-token"); err != nil {
		t.Fatal(err)
	}
	if s.Handshake().Salt() != salt {
		t.Fatal("the handshake salt changed although no secret did")
	}

	authtest.WriteSecret(t, file, "second-token")
	if err := try("second-token"); err != nil {
		t.Fatalf("the rotated token: %v", err)
	}
	if err := try("first-token"); auth.ReasonOf(err) != auth.ReasonInvalid {
		t.Fatalf("the old token after rotation: %v, want invalid", err)
	}
	if got := testutil.ToFloat64(reloads.WithLabelValues("ok")); got != 1 {
		t.Fatalf("reloads ok = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "credentials=[team-a]") {
		t.Fatalf("the rotation is not logged with the credential's name:\n%s", logs.String())
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := try("second-token"); err != nil {
			t.Fatalf("with the file gone the last token must stay in use: %v", err)
		}
	}
	if got := testutil.ToFloat64(reloads.WithLabelValues("error")); got != 3 {
		t.Fatalf("reloads error = %v, want 3", got)
	}
	if n := strings.Count(logs.String(), "cannot read a credential file again"); n != 1 {
		t.Fatalf("the unreadable file is logged %d times, want once:\n%s", n, logs.String())
	}
	authtest.WriteSecret(t, file, "third-token")
	authtest.WriteSecret(t, pw, "second-password")
	if err := try("third-token"); err != nil {
		t.Fatal(err)
	}
	if s.Handshake().Salt() == salt {
		t.Fatal("the handshake salt must change with the passwords")
	}
	logs.NoSecrets(t, "first-token", "second-token", "third-token", "first-password", "second-password")
}

// A token file may hold several tokens, one per line, so a rotation can
// overlap: both work while shippers move over, then the old one goes.
func TestSeveralTokensPerFile(t *testing.T) {
	file := authtest.SecretFile(t, "old-token\nnew-token")
	cfg := auth.Defaults()
	cfg.ReloadInterval = time.Nanosecond
	cfg.Credentials = []auth.Credential{{Name: "a", TokenFile: file, Sources: []string{"*"}}}
	s, err := auth.New(cfg, auth.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	try := func(token string) error {
		r, _ := http.NewRequest(http.MethodPost, "http://gw/v1/ingest", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		_, err := s.Request(r)
		return err
	}
	for _, tok := range []string{"old-token", "new-token"} {
		if err := try(tok); err != nil {
			t.Fatalf("%s during the overlap: %v", tok, err)
		}
	}
	authtest.WriteSecret(t, file, "new-token")
	if err := try("old-token"); auth.ReasonOf(err) != auth.ReasonInvalid {
		t.Fatalf("the removed token: %v, want invalid", err)
	}
	if err := try("new-token"); err != nil {
		t.Fatal(err)
	}

	shared := authtest.SecretFile(t, "mine\nshared")
	cfg.Credentials = append(cfg.Credentials, auth.Credential{Name: "b", TokenFile: shared, Sources: []string{"*"}})
	authtest.WriteSecret(t, file, "shared")
	if _, err := auth.New(cfg, auth.Options{}); err == nil || !strings.Contains(err.Error(), `credentials "a" and "b" share a token`) {
		t.Fatalf("two credentials with one token: %v", err)
	}
}

func TestHandshake(t *testing.T) {
	s := newStore(t,
		auth.Credential{Name: "fb", Username: "fluent-bit", PasswordFile: authtest.SecretFile(t, "s3cret"), Sources: []string{"*"}},
		auth.Credential{Name: "tok", TokenFile: authtest.SecretFile(t, "t"), Sources: []string{"*"}},
	)
	h := s.Handshake()
	if len(h.Salt()) != 32 {
		t.Fatalf("salt %q, want 32 hex digits", h.Salt())
	}
	digest := func(user, pw string) string {
		sum := sha512.Sum512([]byte(h.Salt() + user + pw))
		return hex.EncodeToString(sum[:])
	}
	if p, err := h.Verify("fluent-bit", digest("fluent-bit", "s3cret")); err != nil || p.Name() != "fb" {
		t.Fatalf("Verify = %v, %v", p.Name(), err)
	}
	var ae *auth.Error
	if _, err := h.Verify("fluent-bit", digest("fluent-bit", "guess")); !errors.As(err, &ae) || ae.Credential != "fb" || ae.Reason != auth.ReasonInvalid {
		t.Fatalf("wrong password: %#v", err)
	}
	if _, err := h.Verify("nobody", digest("nobody", "s3cret")); !errors.As(err, &ae) || ae.Credential != "" {
		t.Fatalf("unknown user: %#v", err)
	}
	none := newStore(t, auth.Credential{Name: "tok", TokenFile: authtest.SecretFile(t, "t"), Sources: []string{"*"}})
	if none.Handshake().Salt() != "" {
		t.Fatal("HELO must not ask for a user name when no credential has a password")
	}
}

func TestCertificate(t *testing.T) {
	ca := authtest.NewCA(t)
	s := newStore(t, auth.Credential{Name: "edge", ClientCertNames: []string{"edge-1.example"}, Sources: []string{"edge.*"}})
	state := func(cn string) *tls.ConnectionState {
		cert, _, _ := ca.Client(cn)
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}
	}
	if p := s.Certificate(state("edge-1.example")); p.Name() != "edge" {
		t.Fatalf("a verified certificate named in client_cert_names: %v", p)
	}
	if p := s.Certificate(state("edge-2.example")); p != nil {
		t.Fatalf("a certificate named nowhere: %v", p.Name())
	}
	unverified := state("edge-1.example")
	unverified.PeerCertificates, unverified.VerifiedChains = unverified.VerifiedChains[0], nil
	if p := s.Certificate(unverified); p != nil {
		t.Fatal("an unverified certificate must name no credential")
	}
}

// newStore returns a store requiring credentials.
func newStore(t *testing.T, creds ...auth.Credential) *auth.Store {
	t.Helper()
	cfg := auth.Defaults()
	cfg.Required = true
	cfg.Credentials = creds
	s, err := auth.New(cfg, auth.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bearer authenticates a request with token and returns its principal.
func bearer(t *testing.T, s *auth.Store, token string) *auth.Principal {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, "http://gw/v1/ingest", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	p, err := s.Request(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
