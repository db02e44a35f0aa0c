package notifybench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/topology"
)

// route is the routing both systems get (see the package documentation),
// indented to sit under a key at the given depth.
func route(indent string) string {
	return strings.ReplaceAll(`
receiver: bench
group_by: ['...']
group_wait: 0s
group_interval: 1h
repeat_interval: 4h`, "\n", "\n"+indent)
}

// system is one way of turning alerts into notifications at the receiver.
type system interface {
	// send hands alert i over without waiting for the system to take it
	// (errors are counted, see failures).
	send(i int)
	// burst hands alerts [from, to) over as fast as the system takes them
	// and returns when it took them all.
	burst(ctx context.Context, from, to int) error
	// failures counts hand-overs the system refused.
	failures() int64
	// proc is the process under test (nil for the direct reference).
	proc() *proc
	stop()
}

// alerts are the run's alerts, each with the bodies each system is given,
// built before anything is timed.
type alerts struct {
	run   string
	event [][]byte // the alert event JSON (jetlog)
	subj  []string
	msgID []string
	am    [][]byte // one postable alert (Alertmanager), without brackets
	hook  [][]byte // a webhook body carrying the alert (direct reference)
}

// makeAlerts builds n alerts for a run: labels as an alerter rule with a
// service and an id, an annotation, all firing.
func makeAlerts(run string, n int) *alerts {
	as := &alerts{run: run, event: make([][]byte, n), subj: make([]string, n), msgID: make([]string, n), am: make([][]byte, n), hook: make([][]byte, n)}
	start := time.Now().UTC().Truncate(time.Second)
	for i := range n {
		group := map[string]string{"service": "svc-" + strconv.Itoa(i%50), idLabel: strconv.Itoa(i), "run": run}
		labels := map[string]string{"alertname": "BenchHighErrorRate", "severity": "warning"}
		for k, v := range group {
			labels[k] = v
		}
		ann := map[string]string{"summary": "error rate above 5% on " + group["service"]}
		a := &alert.Alert{Fingerprint: alert.Fingerprint("BenchHighErrorRate", group), Rule: "BenchHighErrorRate", Group: group,
			State: alert.StateFiring, Severity: "warning", Labels: labels, Annotations: ann, StartsAt: start, At: start,
			Value: 0.07, Threshold: 0.05, Origin: alert.OriginStream}
		as.event[i], _ = json.Marshal(a)
		as.subj[i], as.msgID[i] = a.Subject(), a.MsgID()
		as.am[i], _ = json.Marshal(map[string]any{"labels": labels, "annotations": ann, "startsAt": start})
		as.hook[i], _ = json.Marshal(map[string]any{"status": "firing", "alerts": []any{map[string]any{"labels": labels, "annotations": ann}}})
	}
	return as
}

// jetlogSystem is the notifier binary with NATS embedded (one process, as
// on a single machine), fed by publishing alert events to ALERTS.
type jetlogSystem struct {
	p     *proc
	admin string
	nc    *nats.Conn
	js    jetstream.JetStream
	as    *alerts
	futs  chan jetstream.PubAckFuture
	fail  atomic.Int64
	wg    sync.WaitGroup
	store string
}

func startJetlog(ctx context.Context, bin, dir, receiverURL string, as *alerts) (*jetlogSystem, error) {
	natsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	store, err := os.MkdirTemp(dir, "nats")
	if err != nil {
		return nil, err
	}
	secret := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secret, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "notifier.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
nats:
  embedded: true
  server: {listen: %q, store_dir: %q}
admin: {listen: %q, pprof: true}
log: {level: warn}
notifier:
  http: {enabled: false}
  route:%s
  receivers:
    - name: bench
      webhook_configs:
        - url: %s/jetlog
          secret_file: %s
          send_resolved: false
          allow_cidrs: [127.0.0.0/8]
`, natsAddr, store, admin, route("    "), receiverURL, secret)), 0o600); err != nil {
		return nil, err
	}
	p, err := startProc(dir, "notifier", bin, "-config", cfg)
	if err != nil {
		return nil, err
	}
	s := &jetlogSystem{p: p, admin: admin, as: as, store: store, futs: make(chan jetstream.PubAckFuture, 1<<16)}
	if err := p.waitHTTP(ctx, "http://"+admin+"/readyz", 60*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	if s.nc, err = nats.Connect("nats://" + natsAddr); err != nil {
		p.stop()
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		s.stop()
		return nil, err
	}
	s.wg.Add(1)
	go s.check()
	return s, nil
}

// check counts publishes that were not acknowledged.
func (s *jetlogSystem) check() {
	defer s.wg.Done()
	for f := range s.futs {
		select {
		case <-f.Ok():
		case <-f.Err():
			s.fail.Add(1)
		}
	}
}

func (s *jetlogSystem) msg(i int) *nats.Msg {
	m := &nats.Msg{Subject: s.as.subj[i], Data: s.as.event[i], Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, s.as.msgID[i])
	return m
}

func (s *jetlogSystem) send(i int) {
	f, err := s.js.PublishMsgAsync(s.msg(i))
	if err != nil {
		s.fail.Add(1)
		return
	}
	s.futs <- f
}

func (s *jetlogSystem) burst(ctx context.Context, from, to int) error {
	const window = 4000
	for i := from; i < to; i += window {
		futs := make([]jetstream.PubAckFuture, 0, window)
		for j := i; j < min(i+window, to); j++ {
			f, err := s.js.PublishMsgAsync(s.msg(j))
			if err != nil {
				return err
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (s *jetlogSystem) failures() int64 { return s.fail.Load() }
func (s *jetlogSystem) proc() *proc     { return s.p }

func (s *jetlogSystem) stop() {
	close(s.futs)
	s.wg.Wait()
	if s.nc != nil {
		s.nc.Close()
	}
	s.p.stop()
	_ = os.RemoveAll(s.store)
}

// direct subscribes an ordered consumer to ALERTS in this process: the
// JetStream part of jetlog's latency, for scale.
func (s *jetlogSystem) direct(ctx context.Context, a *arrivals) (func(), error) {
	c, err := s.js.OrderedConsumer(ctx, topology.AlertsStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, err
	}
	cc, err := c.Consume(func(m jetstream.Msg) { a.mark(m.Data(), a.clock.now()) })
	if err != nil {
		return nil, err
	}
	return cc.Stop, nil
}

// httpSender posts JSON bodies with a pool of keep-alive connections.
type httpSender struct {
	client *http.Client
	fail   atomic.Int64
	wg     sync.WaitGroup
}

func newHTTPSender() *httpSender {
	return &httpSender{client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}}
}

func (h *httpSender) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// goPost posts in the background, counting failures.
func (h *httpSender) goPost(url string, body []byte) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := h.post(context.Background(), url, body); err != nil {
			h.fail.Add(1)
		}
	}()
}

// parallel runs n jobs on workers goroutines, stopping at the first error.
func parallel(ctx context.Context, n, workers int, job func(ctx context.Context, k int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= n || ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				if err := job(ctx, k); err != nil {
					cancel()
					errs <- err
					return
				}
			}
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// alertmanagerSystem is Alertmanager (the Debian package), fed by POST
// /api/v2/alerts the way Prometheus feeds it: one sender that posts what
// has queued up, at most 64 alerts a request, one request at a time (at a
// low rate that is one alert a request). A burst is posted by four such
// senders at once, so that the feed is not what limits it.
type alertmanagerSystem struct {
	p     *proc
	url   string
	as    *alerts
	queue chan int
	*httpSender
}

// AMBatch is the most alerts one POST carries, as Prometheus's notifier
// batches them.
const AMBatch = 64

func startAlertmanager(ctx context.Context, dir, receiverURL string, as *alerts) (*alertmanagerSystem, error) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		return nil, errors.New("alertmanager is not installed: run `make deps` (Debian package prometheus-alertmanager)")
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
route:%s
receivers:
  - name: bench
    webhook_configs:
      - url: %s/alertmanager
        send_resolved: false
`, route("  "), receiverURL)), 0o600); err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp(dir, "alertmanager")
	if err != nil {
		return nil, err
	}
	// No cluster: a single Alertmanager waits for no peer before sending.
	p, err := startProc(dir, "alertmanager", bin, "--config.file="+cfg, "--storage.path="+data,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	if err != nil {
		return nil, err
	}
	s := &alertmanagerSystem{p: p, url: "http://" + addr + "/api/v2/alerts", as: as, queue: make(chan int, len(as.am)), httpSender: newHTTPSender()}
	if err := p.waitHTTP(ctx, "http://"+addr+"/-/ready", 60*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	s.wg.Add(1)
	go s.sender()
	return s, nil
}

// sender posts the queued alerts, as many as are waiting (up to AMBatch)
// in each request.
func (s *alertmanagerSystem) sender() {
	defer s.wg.Done()
	for first := range s.queue {
		batch := []int{first}
	more:
		for len(batch) < AMBatch {
			select {
			case i, ok := <-s.queue:
				if !ok {
					break more
				}
				batch = append(batch, i)
			default:
				break more
			}
		}
		b := []byte{'['}
		for k, i := range batch {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, s.as.am[i]...)
		}
		if err := s.post(context.Background(), s.url, append(b, ']')); err != nil {
			s.fail.Add(int64(len(batch)))
		}
	}
}

func (s *alertmanagerSystem) body(from, to int) []byte {
	b := []byte{'['}
	for i := from; i < to; i++ {
		if i > from {
			b = append(b, ',')
		}
		b = append(b, s.as.am[i]...)
	}
	return append(b, ']')
}

func (s *alertmanagerSystem) send(i int) { s.queue <- i }

func (s *alertmanagerSystem) burst(ctx context.Context, from, to int) error {
	n := (to - from + AMBatch - 1) / AMBatch
	bodies := make([][]byte, n)
	for k := range n {
		bodies[k] = s.body(from+k*AMBatch, min(from+(k+1)*AMBatch, to))
	}
	return parallel(ctx, n, 4, func(ctx context.Context, k int) error { return s.post(ctx, s.url, bodies[k]) })
}

func (s *alertmanagerSystem) failures() int64 { return s.fail.Load() }
func (s *alertmanagerSystem) proc() *proc     { return s.p }
func (s *alertmanagerSystem) stop() {
	close(s.queue)
	s.wg.Wait()
	s.p.stop()
}

// directSystem posts each alert's webhook body straight to the receiver:
// what one HTTP hop to the receiver costs, and how many requests a second
// the receiver takes, for scale.
type directSystem struct {
	url string
	as  *alerts
	*httpSender
}

func (s *directSystem) send(i int) { s.goPost(s.url, s.as.hook[i]) }

func (s *directSystem) burst(ctx context.Context, from, to int) error {
	return parallel(ctx, to-from, 64, func(ctx context.Context, k int) error { return s.post(ctx, s.url, s.as.hook[from+k]) })
}

func (s *directSystem) failures() int64 { return s.fail.Load() }
func (s *directSystem) proc() *proc     { return nil }
func (s *directSystem) stop()           { s.wg.Wait() }
