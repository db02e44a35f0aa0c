package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchutil"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/auth/authtest"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/gateway"
)

// Secrets of the tests' credentials; no log line may show any of them.
const (
	tokenA    = "tok-a-1f6b2c"
	passwordB = "pw-b-93e1d7"
	wrong     = "wr0ng-guess-55"
)

// authEnv is a gateway requiring the credentials of team-a (a bearer
// token for team-a.*) and team-b (user vector-b for team-b and team-b-*),
// over a private JetStream.
type authEnv struct {
	gw       *gateway.Gateway
	url      string
	reg      *prometheus.Registry
	raw      *testkit.Recorder
	logs     *authtest.Log
	tokenA   string // the file of team-a's token
	certName string // the client certificate name of team-c, when TLS is on
}

func startAuth(t *testing.T, mut func(*gateway.Config)) *authEnv {
	t.Helper()
	n := testkit.StartNATS(t)
	nc, _ := n.Connect()
	e := &authEnv{reg: prometheus.NewRegistry(), logs: &authtest.Log{}, tokenA: authtest.SecretFile(t, tokenA)}
	cfg := gateway.Defaults()
	cfg.HTTP.Listen, cfg.Forward.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Auth.Required = true
	cfg.Auth.ReloadInterval = time.Nanosecond // read the token file at every request
	cfg.Auth.Credentials = []auth.Credential{
		{Name: "team-a", TokenFile: e.tokenA, Sources: []string{"team-a.*"}},
		{Name: "team-b", Username: "vector-b", PasswordFile: authtest.SecretFile(t, passwordB), Sources: []string{"team-b", "team-b-*"}},
	}
	cfg.Forward.SharedKeyFile = authtest.SecretFile(t, "shared")
	if mut != nil {
		mut(&cfg)
	}
	gw, err := gateway.New(cfg, nc, e.reg, e.logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Stop(ctx); err != nil {
			t.Error(err)
		}
		e.logs.NoSecrets(t, tokenA, passwordB, wrong, "tok-a-rotated")
	})
	scheme := "http"
	if cfg.HTTP.TLS.Enabled() {
		scheme = "https"
	}
	e.gw, e.url = gw, scheme+"://"+gw.HTTPAddr()
	e.raw = testkit.Record(t, n.JS, topology.RawStream)
	return e
}

// failures returns jetlog_gateway_auth_failures_total{protocol,reason}.
func (e *authEnv) failures(t *testing.T, protocol, reason string) float64 {
	t.Helper()
	return metric(t, e.reg, "jetlog_gateway_auth_failures_total", "protocol", protocol, "reason", reason)
}

// stored waits for n events on the raw stream and returns them by subject;
// it fails if more arrive than n.
func (e *authEnv) stored(t *testing.T, n int) map[string][]*event.Event {
	t.Helper()
	out := map[string][]*event.Event{}
	msgs := e.raw.Wait(t, n, 10*time.Second)
	for _, m := range msgs {
		ev, err := event.Unmarshal(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(m.Subject(), topology.RawPrefix)] = append(out[strings.TrimPrefix(m.Subject(), topology.RawPrefix)], ev)
	}
	if len(msgs) != n {
		t.Fatalf("%d events stored, want %d: %v", len(msgs), n, out)
	}
	return out
}

// The README's curl, as net/http: no credential and a wrong one are 401
// with a challenge, a source outside the credential's list 403, its own
// source stored; basic auth works the same way; the _bulk probes need a
// credential too.
func TestHTTPIngestAuth(t *testing.T) {
	e := startAuth(t, nil)
	post := func(path, authz, msg string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(fmt.Sprintf(`{"message":%q,"level":"warn"}`, msg)))
		req.Header.Set("Content-Type", "application/json")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	basic := func(user, pw string) string {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(user, pw)
		return r.Header.Get("Authorization")
	}
	cases := []struct {
		name, path, authz string
		status            int
		body              string
	}{
		{"no credential", "/v1/ingest/team-a.shop", "", 401, "authentication required"},
		{"wrong token", "/v1/ingest/team-a.shop", "Bearer " + wrong, 401, "invalid bearer token"},
		{"wrong password", "/v1/ingest/team-b", basic("vector-b", wrong), 401, "invalid username or password"},
		{"another team's source", "/v1/ingest/team-b", "Bearer " + tokenA, 403, `may not write source \"team-b\"`},
		{"own source, token", "/v1/ingest/team-a.shop", "Bearer " + tokenA, 200, `"accepted":1`},
		{"own source, basic", "/v1/ingest/team-b", basic("vector-b", passwordB), 200, `"accepted":1`},
		{"the source from X-Source", "/v1/ingest?source=team-b", basic("vector-b", passwordB), 200, `"accepted":1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := post(c.path, c.authz, c.name)
			if status != c.status || !strings.Contains(body, c.body) {
				t.Fatalf("%d %s, want %d with %s", status, body, c.status, c.body)
			}
			if status == 401 && !strings.Contains(strings.Join(hdr.Values("WWW-Authenticate"), ","), `Basic realm="jetlog"`) {
				t.Fatalf("401 without a Basic challenge: %v", hdr)
			}
		})
	}
	got := e.stored(t, 3)
	if len(got["team-a.shop"]) != 1 || len(got["team-b"]) != 2 {
		t.Fatalf("stored %v", got)
	}
	for reason, want := range map[string]float64{auth.ReasonMissing: 1, auth.ReasonInvalid: 2, "forbidden_source": 1} {
		if n := e.failures(t, "http", reason); n != want {
			t.Errorf("auth failures http/%s = %v, want %v", reason, n, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET / without a credential: %d, want 401", resp.StatusCode)
	}
}

// opensearch-go's bulk indexer with basic auth, as Vector or Logstash
// would ship: the items of indices the credential may write are stored,
// the others fail alone with 403 (as OpenSearch's security plugin answers
// them), and a wrong password is 401 for the client.
func TestBulkIndexerWithBasicAuth(t *testing.T) {
	e := startAuth(t, nil)
	client := func(user, pw string) *opensearchapi.Client {
		c, err := opensearchapi.NewClient(opensearchapi.Config{Client: opensearch.Config{Addresses: []string{e.url}, Username: user, Password: pw}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := client("vector-b", wrong).Info(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("GET / with a wrong password: %v, want 401", err)
	}
	if _, err := client("", "").Info(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("GET / without credentials: %v, want 401", err)
	}
	c := client("vector-b", passwordB)
	if info, err := c.Info(context.Background(), nil); err != nil || info.Version.Distribution != "opensearch" {
		t.Fatalf("GET / = %+v, %v", info, err)
	}
	var mu sync.Mutex
	failed := map[string][]int{}
	bi, err := opensearchutil.NewBulkIndexer(opensearchutil.BulkIndexerConfig{Client: c, NumWorkers: 1, FlushBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	indices := []string{"team-b-web", "team-a-web", "team-b", "team-c"}
	for i := range 40 {
		index := indices[i%len(indices)]
		doc := fmt.Sprintf(`{"@timestamp":"2026-11-25T10:00:%02dZ","message":"request %d"}`, i, i)
		err := bi.Add(context.Background(), opensearchutil.BulkIndexerItem{Action: "create", Index: index, DocumentID: fmt.Sprint(i), Body: strings.NewReader(doc),
			OnFailure: func(_ context.Context, _ opensearchutil.BulkIndexerItem, r opensearchapi.BulkRespItem, err error) {
				mu.Lock()
				defer mu.Unlock()
				failed[index] = append(failed[index], r.Status)
				if r.Error == nil || r.Error.Type != "security_exception" {
					t.Errorf("item of %s: %d %+v %v", index, r.Status, r.Error, err)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := bi.Stats(); st.NumCreated != 20 || st.NumFailed != 20 {
		t.Fatalf("bulk indexer stats %+v, want 20 created and 20 failed", st)
	}
	if len(failed["team-a-web"]) != 10 || len(failed["team-c"]) != 10 || failed["team-c"][0] != http.StatusForbidden || len(failed) != 2 {
		t.Fatalf("failed items by index: %v, want 10 × 403 for team-a-web and team-c", failed)
	}
	got := e.stored(t, 20)
	if len(got["team-b-web"]) != 10 || len(got["team-b"]) != 10 {
		t.Fatalf("stored %v", got)
	}
	if n := e.failures(t, "bulk", "forbidden_source"); n != 1 {
		t.Errorf("auth failures bulk/forbidden_source = %v, want 1 (one request)", n)
	}
	if n := e.failures(t, "bulk", auth.ReasonInvalid); n != 1 {
		t.Errorf("auth failures bulk/invalid = %v, want 1", n)
	}
}

// The OpenTelemetry SDK's OTLP/HTTP exporter with a bearer header: its own
// service is stored, another team's service is 403 and a wrong token 401,
// both errors for the exporter; a request mixing both services stores the
// allowed records and reports the others in partial_success.
func TestOTLPExporterWithBearerToken(t *testing.T) {
	e := startAuth(t, nil)
	export := func(token, service, body string) error {
		ctx := context.Background()
		opts := []otlploghttp.Option{otlploghttp.WithEndpointURL(e.url + "/v1/logs"), otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false})}
		if token != "" {
			opts = append(opts, otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
		}
		exp, err := otlploghttp.New(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
		defer func() { _ = lp.Shutdown(ctx) }()
		var r otellog.Record
		r.SetTimestamp(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		r.SetBody(attribute.StringValue(body))
		lp.Logger("shop").Emit(ctx, r)
		return lp.ForceFlush(ctx)
	}
	if err := export(tokenA, "team-a.checkout", "order placed"); err != nil {
		t.Fatalf("own service: %v", err)
	}
	if err := export(tokenA, "team-b", "not mine"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("another team's service: %v, want a 403", err)
	}
	if err := export(wrong, "team-a.checkout", "who am i"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong token: %v, want a 401", err)
	}
	if err := export("", "team-a.checkout", "anyone"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("no token: %v, want a 401", err)
	}

	// One request, two resources: what the Collector sends for many services.
	rec := func(body string) *logspb.LogRecord {
		return &logspb.LogRecord{TimeUnixNano: 1795600000000000000, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}}}
	}
	rl := func(service string, recs ...*logspb.LogRecord) *logspb.ResourceLogs {
		return &logspb.ResourceLogs{
			Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}}}}},
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
		}
	}
	body, _ := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		rl("team-a.api", rec("a1"), rec("a2")), rl("team-b", rec("b1")),
	}})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var ans collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(data, &ans); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if ps := ans.GetPartialSuccess(); ps.GetRejectedLogRecords() != 1 || !strings.Contains(ps.GetErrorMessage(), `resourceLogs[1].scopeLogs[0].logRecords[0]: credential "team-a" may not write source "team-b"`) {
		t.Fatalf("partial success %v", ps)
	}
	got := e.stored(t, 3)
	if len(got["team-a.checkout"]) != 1 || len(got["team-a.api"]) != 2 || got["team-b"] != nil {
		t.Fatalf("stored %v", got)
	}
	for reason, want := range map[string]float64{auth.ReasonMissing: 1, auth.ReasonInvalid: 1, "forbidden_source": 2} {
		if n := e.failures(t, "otlp", reason); n != want {
			t.Errorf("auth failures otlp/%s = %v, want %v", reason, n, want)
		}
	}
}

// A token file rewritten in place of the old one is used from the next
// request on, and the old token is refused, without a restart.
func TestRotatedTokenFileTakesEffect(t *testing.T) {
	e := startAuth(t, nil)
	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/ingest/team-a.web", strings.NewReader("a line\n"))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(tokenA); s != 200 {
		t.Fatalf("before rotation: %d", s)
	}
	authtest.WriteSecret(t, e.tokenA, "tok-a-rotated")
	if s := status("tok-a-rotated"); s != 200 {
		t.Fatalf("the new token: %d, want 200", s)
	}
	if s := status(tokenA); s != 401 {
		t.Fatalf("the old token after rotation: %d, want 401", s)
	}
	if n := metric(t, e.reg, "jetlog_gateway_auth_reloads_total", "result", "ok"); n != 1 {
		t.Fatalf("reloads ok = %v, want 1", n)
	}
}

// With http.tls.client_auth require, a client without a certificate does
// not get through the TLS handshake; one whose certificate names a
// credential needs no Authorization header and is held to its sources.
func TestHTTPSRequiresClientCertificate(t *testing.T) {
	ca := authtest.NewCA(t)
	certFile, keyFile := ca.Server()
	e := startAuth(t, func(c *gateway.Config) {
		c.HTTP.TLS = forward.TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.File, ClientAuth: forward.ClientAuthRequire}
		c.Auth.Credentials = append(c.Auth.Credentials, auth.Credential{Name: "team-c", ClientCertNames: []string{"shipper-c.example"}, Sources: []string{"team-c"}})
	})
	post := func(cl *http.Client, path, authz string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(`{"message":"over tls"}`))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	client := func(certs ...tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	if s, err := post(client(), "/v1/ingest/team-a.web", "Bearer "+tokenA); err == nil {
		t.Fatalf("a client without a certificate got %d", s)
	} else if !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("a client without a certificate: %v, want the TLS alert", err)
	}
	cert, _, _ := ca.Client("shipper-c.example")
	withCert := client(cert)
	if s, err := post(withCert, "/v1/ingest/team-c", ""); err != nil || s != 200 {
		t.Fatalf("the certificate's own source: %d %v", s, err)
	}
	if s, err := post(withCert, "/v1/ingest/team-a.web", ""); err != nil || s != 403 {
		t.Fatalf("another source: %d %v, want 403", s, err)
	}
	if s, err := post(withCert, "/v1/ingest/team-a.web", "Bearer "+tokenA); err != nil || s != 200 {
		t.Fatalf("a token over a certificate: %d %v, want 200 (the header decides)", s, err)
	}
	got := e.stored(t, 2)
	if len(got["team-c"]) != 1 || len(got["team-a.web"]) != 1 {
		t.Fatalf("stored %v", got)
	}
}

func TestValidateListenersOnTheNetwork(t *testing.T) {
	token := authtest.SecretFile(t, "t")
	cases := []struct {
		name string
		mut  func(*gateway.Config)
		want string // "" means valid
	}{
		{"loopback, nothing required", func(c *gateway.Config) {}, ""},
		{"every interface, nothing required", func(c *gateway.Config) { c.HTTP.Listen = "0.0.0.0:9880" }, "http.listen: 0.0.0.0:9880 is reachable from other hosts"},
		{"an empty host is every interface", func(c *gateway.Config) { c.Forward.Listen = ":24224" }, "forward.listen: :24224 is reachable"},
		{"a host name may be anything", func(c *gateway.Config) { c.HTTP.Listen = "gw.internal:9880" }, "http.listen"},
		{"[::1]", func(c *gateway.Config) { c.HTTP.Listen = "[::1]:9880" }, ""},
		{"localhost", func(c *gateway.Config) { c.HTTP.Listen = "localhost:9880" }, ""},
		{"allowed on the network", func(c *gateway.Config) {
			c.HTTP.Listen, c.Forward.Listen, c.Auth.AllowAnonymousOnNetwork = "0.0.0.0:9880", "0.0.0.0:24224", true
		}, ""},
		{"forward with a shared key", func(c *gateway.Config) { c.Forward.Listen, c.Forward.SharedKeyFile = "0.0.0.0:24224", token }, ""},
		{"required with credentials", func(c *gateway.Config) {
			c.HTTP.Listen, c.HTTP.Enabled, c.Auth.Required = "0.0.0.0:9880", true, true
			c.Forward.Enabled = false
			c.Auth.Credentials = []auth.Credential{{Name: "a", TokenFile: token, Sources: []string{"*"}}}
		}, ""},
		{"required, forward without a way to authenticate", func(c *gateway.Config) {
			c.Auth.Required = true
			c.Auth.Credentials = []auth.Credential{{Name: "a", TokenFile: token, Sources: []string{"*"}}}
		}, "auth.required: forward clients could present no credential"},
		{"required, forward with user authentication", func(c *gateway.Config) {
			c.Auth.Required, c.Forward.SharedKeyFile = true, token
			c.Auth.Credentials = []auth.Credential{{Name: "a", Username: "u", PasswordFile: token, Sources: []string{"*"}}}
		}, ""},
		{"client_ca_file without client_auth", func(c *gateway.Config) { c.HTTP.TLS.ClientCAFile = token }, "http.tls.client_auth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := gateway.Defaults()
			c.mut(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate() = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
		})
	}
}

// metric sums the series of name whose labels include the given pairs.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
