package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
)

// secureNATS is a NATS server with JetStream that takes only user ops with
// password s3cret, over TLS when tls is set, with jetlog's streams.
type secureNATS struct {
	url string
	ca  *authtest.CA
	js  jetstream.JetStream
}

func startSecureNATS(t *testing.T, tls bool) *secureNATS {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Username: "ops", Password: "s3cret", NoSigs: true, NoLog: true}
	sn := &secureNATS{}
	copts := []nats.Option{nats.UserInfo("ops", "s3cret")}
	if tls {
		sn.ca = authtest.NewCA(t)
		cert, key := sn.ca.Server()
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		opts.TLSConfig, opts.TLS = tc, true
		copts = append(copts, nats.RootCAs(sn.ca.File))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	sn.url = s.ClientURL()
	nc, err := nats.Connect(sn.url, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if sn.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := topology.Ensure(ctx, sn.js, topology.Defaults(), nil); err != nil {
		t.Fatal(err)
	}
	return sn
}

// rawMsgs is how many messages the raw stream holds.
func (sn *secureNATS) rawMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := sn.js.Stream(context.Background(), topology.RawStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jetlog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jetlog dlq and jetlog publish read the services' configuration: the
// nats section of the file, JETLOG_NATS__* and -set, with user/password and
// TLS; only that section is checked, so the values of the services' own
// sections (a pipelines_dir that exists only on the servers) do not stop
// them. -nats URL overrides the URL and keeps the credentials.
func TestClientCommandsUseTheServicesConfiguration(t *testing.T) {
	sn := startSecureNATS(t, true)
	elsewhere := "/nonexistent/jetlog/pipelines"
	file := writeConfig(t, `# the services' file
nats:
  embedded: false
  url: `+sn.url+`
  user: ops
  password: s3cret
  tls:
    ca_file: `+sn.ca.File+`
enricher:
  pipelines_dir: `+elsewhere+`
`)
	if err := app.NewConfig().Load(config.Source{File: file}); err == nil || !strings.Contains(err.Error(), elsewhere) {
		t.Fatalf("jetlog run would accept this file (%v); the test needs a section only the services check", err)
	}
	published := uint64(0)
	publish := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := run(t, append(append([]string{"publish", "-subject", "logs.raw.cfg"}, args...), "hello")...)
		if code != wantCode {
			t.Fatalf("publish %v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		if code == 0 {
			published++
		}
		return out + errOut
	}

	publish(0, "-config", file)
	if code, out, errOut := run(t, "dlq", "ls", "-config", file); code != 0 {
		t.Fatalf("dlq ls -config: exit %d\n%s%s", code, out, errOut)
	}
	if out := publish(1, "-config", file, "-set", "nats.password=wrong"); !strings.Contains(out, "Authorization Violation") {
		t.Errorf("a wrong password from -set: %q", out)
	}
	if out := publish(1, "-config", file, "-set", "nats.tls.ca_file="); !strings.Contains(out, "certificate") {
		t.Errorf("without the CA: %q", out)
	}
	// -nats replaces the URL (and says the server is not embedded); the
	// file's credentials and TLS still apply.
	bogus := writeConfig(t, strings.Replace(readFile(t, file), sn.url, "nats://127.0.0.1:1", 1))
	publish(0, "-config", bogus, "-nats", sn.url)

	t.Run("environment", func(t *testing.T) {
		t.Setenv("JETLOG_NATS__EMBEDDED", "false")
		t.Setenv("JETLOG_NATS__URL", sn.url)
		t.Setenv("JETLOG_NATS__USER", "ops")
		t.Setenv("JETLOG_NATS__PASSWORD", "s3cret")
		t.Setenv("JETLOG_NATS__TLS__CA_FILE", sn.ca.File)
		t.Setenv("JETLOG_ENRICHER__PIPELINES_DIR", elsewhere)
		t.Setenv("JETLOG_PORT", "tcp://10.0.0.1:9464") // Kubernetes' own: warned about
		if out := publish(0); !strings.Contains(out, "JETLOG_PORT") {
			t.Errorf("no warning about JETLOG_PORT: %q", out)
		}
		if code, out, errOut := run(t, "dlq", "purge", "-yes"); code != 0 || !strings.Contains(out, "no dead letters") {
			t.Errorf("dlq purge from the environment: exit %d\n%s%s", code, out, errOut)
		}
		t.Setenv("JETLOG_NATS__PASSWORD", "wrong")
		publish(1)
	})
	if got := sn.rawMsgs(t); got != published {
		t.Errorf("the raw stream holds %d messages, want the %d published", got, published)
	}

	for name, body := range map[string]string{
		"two credentials": "nats: {embedded: false, url: " + sn.url + ", user: ops, password: s3cret, token: t}\n",
		"unknown key":     "nats: {embedded: false, url: " + sn.url + ", usr: ops}\n",
		"no url":          "nats: {embedded: false, url: \"\"}\n",
	} {
		if code, out, errOut := run(t, "dlq", "ls", "-config", writeConfig(t, body)); code != 2 || !strings.Contains(errOut, "jetlog.yaml:1") {
			t.Errorf("%s: exit %d, want 2 with the file and line\n%s%s", name, code, out, errOut)
		}
	}
}

// With nats.embedded (jetlog run's default) a client starts no server: it
// connects to the address the embedded server listens on. Every operator
// command reads the configuration the same way.
func TestClientCommandsReachTheEmbeddedServer(t *testing.T) {
	n := testkit.StartNATS(t)
	listen := strings.TrimPrefix(n.URL, "nats://")
	store := filepath.Join(t.TempDir(), "never")
	file := writeConfig(t, "nats:\n  embedded: true\n  server:\n    listen: "+listen+"\n    store_dir: "+store+"\n")
	if code, out, errOut := run(t, "publish", "-config", file, "-subject", "logs.raw.embedded", "a", "b"); code != 0 || !strings.Contains(out, "published 2 of 2") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errOut)
	}
	if got := n.StreamMsgs(topology.RawStream); got != 2 {
		t.Errorf("the jetlog run server's raw stream holds %d, want 2", got)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the client made the embedded store %s (%v): it started a server", store, err)
	}
	for _, cmd := range [][]string{{"dlq", "ls"}, {"silences", "ls"}, {"notifications", "ls"}} {
		if code, out, errOut := run(t, append(cmd, "-config", file)...); code != 0 {
			t.Errorf("%v -config: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	if code, _, errOut := run(t, "dlq", "ls", "-config", file, "-check-config"); code != 0 || !strings.Contains(errOut, "NATS at "+n.URL) {
		t.Errorf("-check-config: exit %d: %s", code, errOut)
	}
	random := writeConfig(t, "nats:\n  server:\n    listen: 127.0.0.1:0\n")
	if code, _, errOut := run(t, "dlq", "ls", "-config", random); code != 2 || !strings.Contains(errOut, "nats.server.listen") || !strings.Contains(errOut, "-nats") {
		t.Errorf("a random embedded port: exit %d: %s", code, errOut)
	}
}
