package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

const hostsRule = `name: host-errors
type: frequency
group_by: [resource.host.name]
window: 1h
threshold: 5
resolve_after: 1h
`

var (
	buildOnce sync.Once
	bin       string
	buildErr  error
)

// alerterBinary builds the alerter once for every test of the run.
func alerterBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jetlog-alerter-bin")
		if err != nil {
			buildErr = err
			return
		}
		bin = filepath.Join(dir, "alerter")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin != "" {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// input is hosts × perHost events, in blocks of 20 hosts that interleave,
// so groups cross their threshold all along the run; every event falls in
// one minute, so each alert's StartsAt does not depend on the order in
// which a redelivery brings events back.
func input(hosts, perHost int) []*event.Event {
	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var out []*event.Event
	for b := 0; b < hosts; b += 20 {
		for j := range perHost {
			for i := b; i < min(b+20, hosts); i++ {
				out = append(out, &event.Event{ID: fmt.Sprintf("h%03d-%d", i, j), Timestamp: base.Add(time.Duration(len(out)) * 10 * time.Microsecond),
					Source: "web", Body: "error", Resource: map[string]any{"host.name": fmt.Sprintf("h%03d", i)}})
			}
		}
	}
	return out
}

// expected computes, with the same engine in one uninterrupted pass, the
// alert events the input must raise: their message ids.
func expected(t *testing.T, evs []*event.Event) map[string]bool {
	t.Helper()
	r, err := rule.Compile("host-errors.yaml", []byte(hostsRule), rule.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	e.SetRules([]*rule.Rule{r}, evs[0].Timestamp)
	out := map[string]bool{}
	for _, ev := range evs {
		for _, a := range e.Apply(engine.NewHit(r, ev), 0) {
			out[a.MsgID()] = true
		}
	}
	return out
}

type cluster struct {
	t     *testing.T
	n     *testkit.NATS
	dir   string
	mu    sync.Mutex
	procs map[string]*testkit.Process
}

func newCluster(t *testing.T) *cluster {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host-errors.yaml"), []byte(hostsRule), 0o644); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, n: testkit.StartNATS(t), dir: dir, procs: map[string]*testkit.Process{}}
}

func (c *cluster) start(instance string) *testkit.Process {
	c.t.Helper()
	p := testkit.StartProcess(c.t, alerterBinary(c.t), []string{"JETLOG_NATS__URL=" + c.n.URL},
		"-set", "log.format=json", "-set", "admin.listen=127.0.0.1:0", "-set", "alerter.rules_dir="+c.dir,
		"-set", "alerter.instance="+instance, "-set", "alerter.partitions=8", "-set", "alerter.lease_ttl=2s",
		"-set", "alerter.tick=100ms", "-set", "alerter.checkpoint_interval=100ms", "-set", "alerter.hits.ack_wait=2s",
		"-set", "alerter.consumer.ack_wait=2s", "-set", "alerter.schedule.enabled=false", "-set", "alerter.rules_bucket=")
	c.mu.Lock()
	c.procs[instance] = p
	c.mu.Unlock()
	return p
}

func (c *cluster) kill(instance string) {
	c.t.Helper()
	c.mu.Lock()
	p := c.procs[instance]
	c.mu.Unlock()
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

func (c *cluster) publish(evs []*event.Event) {
	c.t.Helper()
	c.n.PublishMany(len(evs), func(i int) (string, string, []byte) {
		data, _ := evs[i].Marshal()
		return topology.EnrichedPrefix + evs[i].Source, evs[i].ID, data
	})
}

// alertIDs returns how often each alert message id is stored in ALERTS.
func (c *cluster) alertIDs() map[string]int {
	c.t.Helper()
	out := map[string]int{}
	cons, err := c.n.JS.OrderedConsumer(context.Background(), topology.AlertsStream, jetstreamAll())
	if err != nil {
		c.t.Fatal(err)
	}
	total := c.n.StreamMsgs(topology.AlertsStream)
	for range total {
		m, err := cons.Next()
		if err != nil {
			c.t.Fatal(err)
		}
		var a alert.Alert
		if err := json.Unmarshal(m.Data(), &a); err != nil {
			c.t.Fatal(err)
		}
		out[a.MsgID()]++
	}
	return out
}

// check waits until every expected alert is stored, then fails on a
// missing, duplicate or unexpected one.
func (c *cluster) check(want map[string]bool) {
	c.t.Helper()
	testkit.Poll(c.t, 2*time.Minute, func() (bool, string) {
		got := c.n.StreamMsgs(topology.AlertsStream)
		return got >= uint64(len(want)), fmt.Sprintf("%d of %d alert events stored", got, len(want))
	})
	got := c.alertIDs()
	var bad []string
	for id := range want {
		if got[id] != 1 {
			bad = append(bad, fmt.Sprintf("%s stored %d times", id, got[id]))
		}
	}
	for id := range got {
		if !want[id] {
			bad = append(bad, fmt.Sprintf("%s not expected", id))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		c.t.Errorf("%d of %d alert events wrong:\n%v", len(bad), len(want), bad[:min(len(bad), 20)])
	}
}

// SIGKILL the alerter mid-stream and restart it: every alert the input
// raises is stored exactly once.
func TestSIGKILLMidStreamNoDuplicateNoLoss(t *testing.T) {
	c := newCluster(t)
	evs := input(200, 8)
	want := expected(t, evs)
	p := c.start("a1")
	third := len(evs) / 3
	c.publish(evs[:third])
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := p.Metric("jetlog_alerter_alerts_total")
		return n >= 5, fmt.Sprintf("%v alerts published before the kill", n)
	})
	c.publish(evs[third : 2*third])
	c.kill("a1")
	c.start("a2")
	c.publish(evs[2*third:])
	c.check(want)
}

// Three alerters share the partitions; one is killed mid-run and the
// other two take its partitions over with their state: every alert is
// stored exactly once.
func TestThreeAlertersOneKilled(t *testing.T) {
	c := newCluster(t)
	evs := input(300, 6)
	want := expected(t, evs)
	for _, id := range []string{"a", "b", "c"} {
		c.start(id)
	}
	// Wait until the three split the partitions.
	testkit.Poll(t, time.Minute, func() (bool, string) {
		total, each := 0.0, []float64{}
		for _, id := range []string{"a", "b", "c"} {
			n := c.procs[id].Metric("jetlog_alerter_partitions_owned")
			total += n
			each = append(each, n)
		}
		ok := total == 8 && each[0] > 0 && each[1] > 0 && each[2] > 0
		return ok, fmt.Sprintf("partitions owned %v", each)
	})
	half := len(evs) / 2
	c.publish(evs[:half])
	c.kill("b")
	c.publish(evs[half:])
	c.check(want)
	testkit.Poll(t, time.Minute, func() (bool, string) {
		n := c.procs["a"].Metric("jetlog_alerter_partitions_owned") + c.procs["c"].Metric("jetlog_alerter_partitions_owned")
		return n == 8, fmt.Sprintf("the survivors own %v of 8 partitions", n)
	})
}

func jetstreamAll() jetstream.OrderedConsumerConfig { return jetstream.OrderedConsumerConfig{} }
