package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/jetlog/jetlog/libs/osclient"
)

// Options configure a harness run.
type Options struct {
	// Repo is the repository root: pipelines/, services/, cmd/.
	Repo string
	// WorkDir holds the built binaries, the processes' logs and stores.
	WorkDir string
	// OpenSearchURL is the node every measurement writes to.
	OpenSearchURL string
	// Runs is how many times each measurement is repeated (at least 2:
	// the machine is shared).
	Runs int
	// Events is the number of lines of each mix in the end-to-end and CPU
	// measurements.
	Events int
	// Backlog is the number of events left waiting in JetStream for the
	// memory measurement of `jetlog run`.
	Backlog int
	// GatewayRecords and EnricherEvents size the gateway and enricher
	// ratios.
	GatewayRecords int
	EnricherEvents int
	// ProfileDir, when set, receives a CPU and an allocation profile of
	// `jetlog run` during an extra end-to-end run of the JSON mix.
	ProfileDir string
	// Sets are -set path=value overrides given to every jetlog process
	// (jetlog run and the gateway, enricher and indexer binaries), to
	// measure a setting against the defaults; the reports list them.
	Sets []string
	Log  *slog.Logger
}

// Env is what every measurement of one harness run shares: the options,
// the OpenSearch client, and the binaries, each built once.
type Env struct {
	Options
	OS    *opensearchapi.Client
	mu    sync.Mutex
	bins  map[string]string
	stamp int64
}

// NewEnv checks OpenSearch answers and returns the environment.
func NewEnv(ctx context.Context, o Options) (*Env, error) {
	if o.Runs < 1 {
		o.Runs = 1
	}
	cfg := osclient.Defaults()
	cfg.URLs = []string{o.OpenSearchURL}
	cl, err := osclient.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := osclient.Ping(ctx, cl); err != nil {
		return nil, fmt.Errorf("OpenSearch at %s: %w (start one with `make opensearch-up`, or set OPENSEARCH_URL)", o.OpenSearchURL, err)
	}
	return &Env{Options: o, OS: cl, bins: map[string]string{}, stamp: time.Now().Unix()}, nil
}

// Bin builds (once) the main package at pkg and returns its path.
func (e *Env) Bin(pkg string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.bins[pkg]; ok {
		return b, nil
	}
	e.Log.Info("building", "package", pkg)
	b, err := Build(e.Repo, pkg, e.WorkDir)
	if err != nil {
		return "", err
	}
	e.bins[pkg] = b
	return b, nil
}

// Prefix names the indices of one measurement; every name starts with
// "bench-" and the harness's start time, so leftovers are easy to find.
func (e *Env) Prefix(kind string, mix Mix, run int) string {
	return fmt.Sprintf("bench-%d-%s-%s-%d", e.stamp, kind, mix, run)
}

// withSets appends the -set overrides of the options to args.
func (e *Env) withSets(args ...string) []string {
	for _, s := range e.Sets {
		args = append(args, "-set", s)
	}
	return args
}

// Machine describes the machine and the OpenSearch node.
func (e *Env) Machine() Machine { return ThisMachine(e.OpenSearchURL) }

// jetlogProc is one running `jetlog run`.
type jetlogProc struct {
	*Proc
	Forward string // the gateway's forward listener
	Admin   string
	NATS    *NATS // a connection to its embedded server, to watch the streams
	store   string
}

// startJetlog starts `jetlog run` as a user would from the repository,
// with the shipped pipelines and rules and every default but the
// addresses, the store and the index prefix; it returns once the process is ready (all of it, or, when
// OpenSearch is meant to be unreachable, its gateway and enricher).
func (e *Env) startJetlog(ctx context.Context, name, osURL, prefix string, pprof bool) (*jetlogProc, error) {
	bin, err := e.Bin("cmd/jetlog")
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(5)
	if err != nil {
		return nil, err
	}
	store, err := os.MkdirTemp(e.WorkDir, name+"-nats")
	if err != nil {
		return nil, err
	}
	p, err := StartProc(name, bin, e.WorkDir, nil, e.withSets("run",
		"-set", "nats.server.listen="+addrs[0], "-set", "nats.server.store_dir="+store,
		"-set", "admin.listen="+addrs[1], "-set", fmt.Sprintf("admin.pprof=%v", pprof),
		"-set", "gateway.forward.listen="+addrs[2], "-set", "gateway.http.listen="+addrs[3], "-set", "notifier.http.listen="+addrs[4],
		"-set", "opensearch.urls=["+osURL+"]", "-set", "indexer.index_prefix="+prefix,
		"-set", "enricher.pipelines_dir="+filepath.Join(e.Repo, "pipelines"),
		"-set", "alerter.rules_dir="+filepath.Join(e.Repo, "rules"), "-set", "alerter.index_prefix="+prefix)...)
	if err != nil {
		return nil, err
	}
	j := &jetlogProc{Proc: p, Forward: addrs[2], Admin: addrs[1], store: store}
	ready := func() error {
		if osURL != e.OpenSearchURL {
			if err := p.WaitReady(ctx, j.Admin, "gateway"); err != nil {
				return err
			}
			return p.WaitReady(ctx, j.Admin, "enricher")
		}
		return p.WaitReady(ctx, j.Admin, "")
	}
	if err := ready(); err != nil {
		j.Stop()
		return nil, err
	}
	if j.NATS, err = connectNATS(ctx, "nats://"+addrs[0]); err != nil {
		j.Stop()
		return nil, err
	}
	return j, nil
}

// Stop stops the process and removes its store.
func (j *jetlogProc) Stop() {
	if j.NATS != nil {
		j.NATS.Close()
	}
	j.Proc.Stop()
	_ = os.RemoveAll(j.store)
}

// natsProc is a standalone NATS server process (loadtest/cmd/natsd).
type natsProc struct {
	*Proc
	URL   string
	store string
}

func (e *Env) startNATSProc(ctx context.Context) (*natsProc, error) {
	bin, err := e.Bin("loadtest/cmd/natsd")
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	store, err := os.MkdirTemp(e.WorkDir, "natsd")
	if err != nil {
		return nil, err
	}
	p, err := StartProc("natsd", bin, e.WorkDir, nil, "-listen", addrs[0], "-store", store)
	if err != nil {
		return nil, err
	}
	n := &natsProc{Proc: p, URL: "nats://" + addrs[0], store: store}
	for i := 0; ; i++ {
		if err := p.Exited(); err != nil {
			return nil, err
		}
		if c, err := net.Dial("tcp", addrs[0]); err == nil {
			c.Close()
			return n, nil
		}
		if i > 600 {
			n.Stop()
			return nil, fmt.Errorf("natsd not listening on %s after a minute", addrs[0])
		}
		select {
		case <-ctx.Done():
			n.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *natsProc) Stop() {
	n.Proc.Stop()
	_ = os.RemoveAll(n.store)
}

// serviceProc is a standalone jetlog binary (gateway, enricher, indexer).
type serviceProc struct {
	*Proc
	Admin string
}

// startService starts a standalone component against the NATS at natsURL
// and waits until it is ready.
func (e *Env) startService(ctx context.Context, name, natsURL string, args ...string) (*serviceProc, error) {
	bin, err := e.Bin("services/" + name)
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	args = e.withSets(append([]string{"-set", "admin.listen=" + addrs[0]}, args...)...)
	p, err := StartProc(name, bin, e.WorkDir, []string{"JETLOG_NATS__URL=" + natsURL}, args...)
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, addrs[0], ""); err != nil {
		p.Stop()
		return nil, err
	}
	return &serviceProc{Proc: p, Admin: addrs[0]}, nil
}
