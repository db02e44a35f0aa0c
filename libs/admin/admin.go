// Package admin serves a process's operational endpoints: /metrics for
// Prometheus, /healthz (the process is alive), /readyz (it can do all its
// work: NATS connected, OpenSearch reachable, …) and /readyz/<component>
// (one component can do its work: the probe for a role, so that an
// OpenSearch outage does not take the gateway out of service).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports why a part of the process cannot work, or nil.
type Check func(ctx context.Context) error

// Server is the admin HTTP server.
type Server struct {
	listen string
	log    *slog.Logger
	reg    *prometheus.Registry
	mux    *http.ServeMux

	mu     sync.Mutex
	checks map[string]Check
	owner  map[string]string // check name → component ("" for the process)
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
}

// New returns a server for listen ("127.0.0.1:9464"; port 0 picks one) that
// exposes reg, to which it adds the Go runtime and process collectors.
func New(listen string, reg *prometheus.Registry, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{listen: listen, log: log, reg: reg, mux: http.NewServeMux(), checks: map[string]Check{}, owner: map[string]string{}}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /readyz/{component}", s.ready)
	return s
}

// EnablePprof serves Go's profiles under /debug/pprof/, for measuring a
// running process (keep the admin address on loopback or a private network).
func (s *Server) EnablePprof() {
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Handle adds a handler to the admin mux (for example a service's own API).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddCheck registers a readiness check of the whole process under name
// (reported by /readyz and by every /readyz/<component>).
func (s *Server) AddCheck(name string, c Check) { s.AddComponentCheck("", name, c) }

// AddComponentCheck registers a readiness check of a component, reported as
// "<component>/<name>" (or "<component>" when name is empty) by /readyz and
// by /readyz/<component>.
func (s *Server) AddComponentCheck(component, name string, c Check) {
	full := name
	switch {
	case component != "" && name == "":
		full = component
	case component != "":
		full = component + "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[full] = c
	s.owner[full] = component
}

// Ready runs the checks of component (every check when component is "":
// the process's own and every component's) and returns their results by
// name ("ok" or the reason), and whether all passed. It returns nil, false
// for a component that has no checks.
func (s *Server) Ready(ctx context.Context, component string) (map[string]string, bool) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	found := component == ""
	for n, o := range s.owner {
		if component == "" || o == "" || o == component {
			names = append(names, n)
		}
		found = found || o == component
	}
	checks := s.checks
	s.mu.Unlock()
	if !found {
		return nil, false
	}
	sort.Strings(names)
	out := make(map[string]string, len(names))
	ok := true
	for _, n := range names {
		s.mu.Lock()
		check := checks[n]
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(cctx)
		cancel()
		if err != nil {
			out[n] = err.Error()
			ok = false
		} else {
			out[n] = "ok"
		}
	}
	return out, ok
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	comp := r.PathValue("component")
	res, ok := s.Ready(r.Context(), comp)
	w.Header().Set("Content-Type", "application/json")
	if res == nil && comp != "" {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "no component " + comp + " runs in this process"})
		return
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "checks": res})
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	s.log.Info("admin endpoints listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop shuts the server down; it is safe to call more than once or without
// Start.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-done
	return err
}
