// Package gateway is the ingest gateway: the front door where shippers hand
// logs to jetlog. It serves the Fluentd forward protocol (Fluent Bit's
// forward output, fluentd, the fluent-logger libraries), HTTP (JSON, NDJSON,
// Fluent Bit's http output), an OpenSearch _bulk-compatible API and OTLP/HTTP
// logs, and answers "accepted" only for what JetStream stored.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/gateway/auth"
	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/httpin"
	"github.com/jetlog/jetlog/services/gateway/ingest"
	"github.com/jetlog/jetlog/services/gateway/otlp"
)

// Config is the gateway's configuration.
type Config struct {
	// HTTP serves /v1/ingest, the _bulk-compatible API and OTLP /v1/logs.
	HTTP HTTPConfig `yaml:"http"`
	// Forward serves the Fluentd forward protocol.
	Forward ForwardConfig `yaml:"forward"`
	// Auth says who may write, and which sources each may write.
	Auth auth.Config `yaml:"auth"`
	// The publisher's settings: subject prefix, in-flight bound, timeouts
	// and record limits.
	ingest.PublisherConfig `yaml:",inline"`
}

// HTTPConfig configures the HTTP listener.
type HTTPConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// TLS, when a certificate is given, serves HTTPS, and can verify
	// client certificates.
	TLS forward.TLS `yaml:"tls"`
	// MaxBodyBytesInFlight bounds the request bodies held in memory at
	// once: a request waits for room (up to queue_timeout), then gets 429.
	MaxBodyBytesInFlight int64 `yaml:"max_body_bytes_in_flight"`
	// ReadTimeout bounds reading one request.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// ForwardConfig switches the forward listener on and configures it.
type ForwardConfig struct {
	Enabled        bool `yaml:"enabled"`
	forward.Config `yaml:",inline"`
}

// Defaults returns the gateway's defaults: both listeners on loopback.
func Defaults() Config {
	return Config{
		HTTP: HTTPConfig{Enabled: true, Listen: "127.0.0.1:9880", TLS: forward.TLS{ClientAuth: forward.ClientAuthNone},
			MaxBodyBytesInFlight: 64 << 20, ReadTimeout: time.Minute},
		Forward:         ForwardConfig{Enabled: true, Config: forward.DefaultConfig()},
		Auth:            auth.Defaults(),
		PublisherConfig: ingest.DefaultPublisherConfig(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.HTTP.Enabled {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			errs.Addf("http.listen", "%q is not host:port (%v)", c.HTTP.Listen, err)
		}
		if c.HTTP.MaxBodyBytesInFlight < int64(c.Limits.MaxRequestBytes) {
			errs.Addf("http.max_body_bytes_in_flight", "%d is below limits.max_request_bytes %d: no request could ever be read", c.HTTP.MaxBodyBytesInFlight, c.Limits.MaxRequestBytes)
		}
		if c.HTTP.ReadTimeout <= 0 {
			errs.Addf("http.read_timeout", "must be > 0")
		}
		errs.Check("http.tls", &c.HTTP.TLS)
	}
	if c.Forward.Enabled {
		errs.Check("forward", &c.Forward.Config)
	}
	if !c.HTTP.Enabled && !c.Forward.Enabled {
		errs.Addf("http.enabled", "both listeners are off: enable http or forward")
	}
	errs.Check("auth", &c.Auth)
	c.validateAuth(&errs)
	errs.Check("limits", &c.Limits)
	if c.MaxInflightBytes < int64(c.Limits.MaxRequestBytes) {
		errs.Addf("max_inflight_bytes", "%d is below limits.max_request_bytes %d", c.MaxInflightBytes, c.Limits.MaxRequestBytes)
	}
	if c.QueueTimeout <= 0 || c.AckTimeout <= 0 {
		errs.Addf("ack_timeout", "queue_timeout and ack_timeout must be > 0")
	}
	return errs.Err()
}

// validateAuth checks that no listener lets anonymous writers in from
// other hosts unless the operator said so, and that when credentials are
// required each listener's clients have a way to present one.
func (c *Config) validateAuth(errs *config.Errors) {
	type listener struct {
		path, listen string
		tls          *forward.TLS
		// shared: the forward shared key admits only who knows it.
		shared bool
		// can: a client can present a credential there.
		can bool
		how string
	}
	var ls []listener
	certs := c.Auth.HasCertNames()
	if c.HTTP.Enabled {
		ls = append(ls, listener{path: "http", listen: c.HTTP.Listen, tls: &c.HTTP.TLS,
			can: c.Auth.HasSecrets() || certs && c.HTTP.TLS.VerifiesClients(),
			how: "a credential with a token or a password, or http.tls.client_auth with credentials' client_cert_names"})
	}
	if c.Forward.Enabled {
		ls = append(ls, listener{path: "forward", listen: c.Forward.Listen, tls: &c.Forward.TLS, shared: c.Forward.Handshakes(),
			can: c.Forward.Handshakes() && c.Auth.HasPasswords() || certs && c.Forward.TLS.VerifiesClients(),
			how: "forward.shared_key_file with a credential that has a username and password (the protocol carries them in its shared-key handshake only), or forward.tls.client_auth with credentials' client_cert_names"})
	}
	for _, l := range ls {
		if c.Auth.Required {
			if !l.can {
				errs.Addf("auth.required", "%s clients could present no credential: configure %s", l.path, l.how)
			}
			continue
		}
		if c.Auth.AllowAnonymousOnNetwork || l.shared || l.tls.ClientAuth == forward.ClientAuthRequire || loopback(l.listen) {
			continue
		}
		errs.Addf(l.path+".listen", "%s is reachable from other hosts and auth.required is off: anyone who reaches it could write any source. "+
			"Set auth.required: true with auth.credentials, or bind a loopback address, or set auth.allow_anonymous_on_network: true "+
			"if something in front of the gateway authenticates", l.listen)
	}
}

// loopback reports whether a listen address accepts connections from this
// host only: a loopback IP or "localhost". A host name could resolve to
// anything, and an empty host is every interface.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Gateway runs the listeners.
//
// Lifecycle: Start binds the listeners and returns; Stop stops accepting,
// lets requests and chunks in flight finish (answered after their
// PubAcks), then returns. Stop is idempotent and safe without Start.
type Gateway struct {
	cfg  Config
	nc   *nats.Conn
	log  *slog.Logger
	m    *ingest.Metrics
	auth *auth.Store
	pub  *ingest.Publisher
	fwd  *forward.Server
	srv  *http.Server
	ln   net.Listener
	body *semaphore.Weighted

	mu      sync.Mutex
	started bool
	stopped bool
	served  chan struct{}
}

// New builds a gateway publishing over nc. reg receives its metrics.
func New(cfg Config, nc *nats.Conn, reg prometheus.Registerer, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	// The byte bound (max_inflight_bytes) limits publishing; the count of
	// pending async publishes must never be the tighter limit.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(65536))
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, nc: nc, log: log.With("component", "gateway"), m: ingest.NewMetrics(reg)}
	if g.auth, err = auth.New(cfg.Auth, auth.Options{Log: g.log, Reloads: g.m.AuthReloads}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.pub = ingest.NewPublisher(js, cfg.PublisherConfig, g.m, g.log)
	if cfg.Forward.Enabled {
		if g.fwd, err = forward.New(cfg.Forward.Config, g.pub, g.m, g.log, g.auth); err != nil {
			return nil, err
		}
	}
	if cfg.HTTP.Enabled {
		mux := http.NewServeMux()
		httpin.New(g.pub, g.m, g.log).Register(mux)
		mux.Handle(otlp.Path, otlp.NewHandler(g.pub, g.log, g.m))
		g.body = semaphore.NewWeighted(cfg.HTTP.MaxBodyBytesInFlight)
		tc, err := cfg.HTTP.TLS.ServerConfig()
		if err != nil {
			return nil, fmt.Errorf("gateway: http.tls: %w", err)
		}
		if g.auth.Enabled() && tc == nil && !loopback(cfg.HTTP.Listen) {
			g.log.Warn("gateway: HTTP credentials cross the network in clear text: set gateway.http.tls", "listen", cfg.HTTP.Listen)
		}
		var h http.Handler = g.limitBodies(mux)
		if g.auth.Enabled() {
			h = g.authenticate(h)
		}
		g.srv = &http.Server{
			Handler:           h,
			TLSConfig:         tc,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       cfg.HTTP.ReadTimeout,
			WriteTimeout:      cfg.HTTP.ReadTimeout + cfg.QueueTimeout + cfg.AckTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		}
	}
	return g, nil
}

// limitBodies holds a request until its body fits in the in-flight budget
// (Content-Length, or max_request_bytes when unknown), so a flood of
// senders waits or is refused instead of growing the heap.
func (g *Gateway) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			next.ServeHTTP(w, r)
			return
		}
		n := int64(g.cfg.Limits.MaxRequestBytes)
		if r.ContentLength >= 0 && r.ContentLength < n && r.Header.Get("Content-Encoding") == "" {
			n = max(r.ContentLength, 1)
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.QueueTimeout)
		err := g.body.Acquire(ctx, n)
		cancel()
		if err != nil {
			g.m.Requests.WithLabelValues(protocolOf(r), "retry").Inc()
			w.Header().Set("Retry-After", strconv.Itoa(5))
			http.Error(w, `{"error":"gateway busy: too many request bytes in flight, retry later"}`, http.StatusTooManyRequests)
			return
		}
		defer g.body.Release(n)
		next.ServeHTTP(w, r)
	})
}

// Start binds the listeners and returns.
func (g *Gateway) Start(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("gateway: already started")
	}
	g.started = true
	if g.fwd != nil {
		if err := g.fwd.Start(); err != nil {
			return err
		}
	}
	if g.srv != nil {
		ln, err := net.Listen("tcp", g.cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("gateway: listen on %s: %w (set gateway.http.listen)", g.cfg.HTTP.Listen, err)
		}
		g.ln = ln
		g.served = make(chan struct{})
		go func() {
			defer close(g.served)
			var err error
			if g.srv.TLSConfig != nil {
				err = g.srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			} else {
				err = g.srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("http listener stopped", "err", err)
			}
		}()
		g.log.Info("gateway: http listening", "addr", ln.Addr().String(), "tls", g.cfg.HTTP.TLS.Enabled())
	}
	return nil
}

// HTTPAddr is the HTTP listener's address, once started.
func (g *Gateway) HTTPAddr() string {
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// ForwardAddr is the forward listener's address, once started.
func (g *Gateway) ForwardAddr() string {
	if g.fwd == nil || g.fwd.Addr() == nil {
		return ""
	}
	return g.fwd.Addr().String()
}

// Ready reports whether the gateway can accept: NATS connected.
func (g *Gateway) Ready(context.Context) error {
	if !g.nc.IsConnected() {
		return fmt.Errorf("nats %s: the gateway refuses with retry-later answers", g.nc.Status())
	}
	return nil
}

// Stop stops the listeners after the requests in flight are answered.
func (g *Gateway) Stop(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started || g.stopped {
		return nil
	}
	g.stopped = true
	var errs []error
	if g.srv != nil && g.ln != nil {
		errs = append(errs, g.srv.Shutdown(ctx))
		<-g.served
	}
	if g.fwd != nil {
		errs = append(errs, g.fwd.Stop(ctx))
	}
	return errors.Join(errs...)
}
