package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/notifier/route"
)

// flushes records what each flush was given.
type flushes struct {
	mu   sync.Mutex
	got  []string
	ok   bool
	wake chan struct{}
}

func newFlushes() *flushes { return &flushes{ok: true, wake: make(chan struct{}, 100)} }

func (f *flushes) Flush(_ context.Context, g *Group, alerts []*alert.Alert) bool {
	var parts []string
	for _, a := range alerts {
		parts = append(parts, fmt.Sprintf(" %s:%s", a.Labels["instance"], a.State))
	}
	slices.Sort(parts)
	s := strings.Join(parts, "")
	f.mu.Lock()
	f.got = append(f.got, g.Route.Receiver+" "+route.LabelString(g.Labels)+s)
	ok := f.ok
	f.mu.Unlock()
	f.wake <- struct{}{}
	return ok
}

func (f *flushes) take(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-f.wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("expected %d flushes", n)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.got
	f.got = nil
	slices.Sort(out)
	return out
}

func (f *flushes) none(t *testing.T) {
	t.Helper()
	select {
	case <-f.wake:
		t.Fatalf("unexpected flush: %v", f.got)
	default:
	}
}

func setup(t *testing.T, tree string) (*Dispatcher, *clockwork.FakeClock, *flushes) {
	t.Helper()
	return setupStore(t, tree, nil)
}

// setupStore is setup with a store.
func setupStore(t *testing.T, tree string, store Store) (*Dispatcher, *clockwork.FakeClock, *flushes) {
	t.Helper()
	var c route.Config
	if err := yaml.Unmarshal([]byte(tree), &c); err != nil {
		t.Fatal(err)
	}
	r, err := route.Compile(c, route.Known{})
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	f := newFlushes()
	d := New(Options{Route: r, Flusher: f, Clock: clock, Store: store})
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d, clock, f
}

var start = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func mk(name, instance string, state alert.State, lbls ...string) *alert.Alert {
	l := map[string]string{"alertname": name, "instance": instance}
	for i := 0; i+1 < len(lbls); i += 2 {
		l[lbls[i]] = lbls[i+1]
	}
	a := &alert.Alert{Rule: name, Labels: l, State: state, StartsAt: start, Fingerprint: alert.Fingerprint(name, map[string]string{"instance": instance})}
	if state == alert.StateResolved {
		a.EndsAt = start.Add(time.Hour)
	}
	return a
}

func put(t *testing.T, d *Dispatcher, as ...*alert.Alert) {
	t.Helper()
	for _, a := range as {
		if err := d.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

const simple = `
receiver: team
group_by: [alertname]
group_wait: 30s
group_interval: 5m
repeat_interval: 4h
`

func TestGroupWaitBatchesThenGroupIntervalFlushes(t *testing.T) {
	d, clock, f := setup(t, simple)
	put(t, d, mk("HighErrors", "a", alert.StateFiring), mk("HighErrors", "b", alert.StateFiring), mk("DiskFull", "a", alert.StateFiring))
	clock.Advance(29 * time.Second)
	f.none(t)
	clock.Advance(time.Second)
	got := f.take(t, 2)
	want := []string{`team {alertname="DiskFull"} a:firing`, `team {alertname="HighErrors"} a:firing b:firing`}
	if !slices.Equal(got, want) {
		t.Fatalf("first flushes\n got %q\nwant %q", got, want)
	}
	// An alert added to a group that has flushed waits for group_interval,
	// not group_wait.
	put(t, d, mk("HighErrors", "c", alert.StateFiring))
	if err := clock.BlockUntilContext(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	f.none(t)
	clock.Advance(5*time.Minute - 30*time.Second)
	got = f.take(t, 2)
	if got[1] != `team {alertname="HighErrors"} a:firing b:firing c:firing` {
		t.Errorf("after group_interval: %q", got)
	}
}

func TestResolvedLeavesTheGroupAfterASuccessfulFlush(t *testing.T) {
	d, clock, f := setup(t, simple)
	put(t, d, mk("HighErrors", "a", alert.StateFiring), mk("HighErrors", "b", alert.StateFiring))
	clock.Advance(30 * time.Second)
	f.take(t, 1)
	put(t, d, mk("HighErrors", "a", alert.StateResolved))
	f.mu.Lock()
	f.ok = false // the receiver is down: the resolved alert stays
	f.mu.Unlock()
	_ = clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(5 * time.Minute)
	if got := f.take(t, 1); got[0] != `team {alertname="HighErrors"} a:resolved b:firing` {
		t.Fatalf("got %q", got)
	}
	f.mu.Lock()
	f.ok = true
	f.mu.Unlock()
	_ = clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(5 * time.Minute)
	if got := f.take(t, 1); got[0] != `team {alertname="HighErrors"} a:resolved b:firing` {
		t.Fatalf("got %q", got)
	}
	// The flush is seen when the receiver is called; the resolved alert
	// leaves once it has returned. The next flush's timer is armed before
	// that, so advancing the clock at once could start the next flush
	// first.
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		return len(d.Alerts()) == 1, fmt.Sprintf("%d alerts held", len(d.Alerts()))
	})
	_ = clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(5 * time.Minute)
	if got := f.take(t, 1); got[0] != `team {alertname="HighErrors"} b:firing` {
		t.Fatalf("resolved alert still in the group: %q", got)
	}
	put(t, d, mk("HighErrors", "b", alert.StateResolved))
	_ = clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(5 * time.Minute)
	f.take(t, 1)
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		return len(d.Groups()) == 0 && len(d.Alerts()) == 0, fmt.Sprintf("groups %v", d.Groups())
	})
}

func TestStaleEventsAreIgnored(t *testing.T) {
	d, clock, f := setup(t, simple)
	a := mk("HighErrors", "a", alert.StateFiring)
	put(t, d, a)
	resolved := mk("HighErrors", "a", alert.StateResolved)
	put(t, d, resolved)
	put(t, d, a) // the firing event redelivered after the resolution
	older := mk("HighErrors", "a", alert.StateFiring)
	older.StartsAt = start.Add(-time.Hour)
	put(t, d, older)
	pending := mk("HighErrors", "z", alert.StatePending)
	put(t, d, pending)
	clock.Advance(30 * time.Second)
	if got := f.take(t, 1); got[0] != `team {alertname="HighErrors"} a:resolved` {
		t.Fatalf("got %q", got)
	}
}

func TestRoutesWithContinueMakeOneGroupEach(t *testing.T) {
	d, clock, f := setup(t, simple+`
routes:
  - matchers: ['severity="critical"']
    receiver: pager
    continue: true
    group_wait: 10s
  - matchers: ['team="db"']
    receiver: db
    group_by: [team]
`)
	put(t, d, mk("HighErrors", "a", alert.StateFiring, "severity", "critical", "team", "db"))
	clock.Advance(10 * time.Second)
	if got := f.take(t, 1); got[0] != `pager {alertname="HighErrors"} a:firing` {
		t.Fatalf("got %q", got)
	}
	clock.Advance(20 * time.Second)
	if got := f.take(t, 1); got[0] != `db {team="db"} a:firing` {
		t.Fatalf("got %q", got)
	}
	if n := len(d.Groups()); n != 2 {
		t.Errorf("%d groups", n)
	}
}

// blockingStore holds every Put after the first until released, as a
// KV bucket does for its round trip, much longer under load.
type blockingStore struct {
	puts    int
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) Put(ctx context.Context, _ *alert.Alert) error {
	s.puts++
	if s.puts == 1 {
		return nil
	}
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *blockingStore) Delete(context.Context, string) error { return nil }

// TestAStoreWriteDoesNotHoldBackFlushes: while one alert event is being
// stored, the groups already held are flushed on time; storing an alert
// must not stop every other group's notifications for its round trip.
func TestAStoreWriteDoesNotHoldBackFlushes(t *testing.T) {
	store := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	d, clock, f := setupStore(t, simple, store)
	var once sync.Once
	release := func() { once.Do(func() { close(store.release) }) }
	t.Cleanup(release) // runs first: a failed test must not leave the write blocked

	put(t, d, mk("HighErrors", "a", alert.StateFiring))
	stored := make(chan error, 1)
	go func() { stored <- d.Put(context.Background(), mk("DiskFull", "b", alert.StateFiring)) }()
	<-store.entered // the second event is being stored
	clock.Advance(30 * time.Second)
	select {
	case <-f.wake:
	case err := <-stored:
		t.Fatalf("the store write finished first (%v)", err)
	case <-time.After(30 * time.Second):
		t.Fatal("HighErrors was not flushed while another alert was being stored")
	}
	release()
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	if got := len(d.Alerts()); got != 2 {
		t.Errorf("%d alerts held, want 2", got)
	}
}

// barrierStore returns from no Put until n Puts are under way at once.
type barrierStore struct {
	mu      sync.Mutex
	n       int
	entered int
	all     chan struct{}
	stored  []*alert.Alert
}

func (s *barrierStore) Put(ctx context.Context, a *alert.Alert) error {
	s.mu.Lock()
	s.entered++
	s.stored = append(s.stored, a)
	if s.entered == s.n {
		close(s.all)
	}
	s.mu.Unlock()
	select {
	case <-s.all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *barrierStore) Delete(context.Context, string) error { return nil }

// TestABatchIsStoredInOneRoundTrip: the alerts of a batch of events are
// stored at once, not one round trip after another, and of several events
// of one alert only the newest is stored and held.
func TestABatchIsStoredInOneRoundTrip(t *testing.T) {
	store := &barrierStore{n: 3, all: make(chan struct{})}
	d, _, _ := setupStore(t, simple, store)

	older := mk("HighErrors", "a", alert.StateFiring)
	older.StartsAt = start.Add(-time.Hour)
	batch := []*alert.Alert{
		mk("HighErrors", "a", alert.StateFiring),
		mk("HighErrors", "b", alert.StateFiring),
		mk("HighErrors", "a", alert.StateResolved),
		mk("HighErrors", "a", alert.StateFiring), // redelivered after the resolution
		older,
		mk("HighErrors", "z", alert.StatePending),
		mk("DiskFull", "c", alert.StateFiring),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, err := range d.PutAll(ctx, batch) {
		if err != nil {
			t.Fatalf("event %d: %v (the store writes were made one after another)", i, err)
		}
	}
	var stored []string
	for _, a := range store.stored {
		stored = append(stored, a.Labels["alertname"]+"/"+a.Labels["instance"]+":"+string(a.State))
	}
	slices.Sort(stored)
	if want := []string{"DiskFull/c:firing", "HighErrors/a:resolved", "HighErrors/b:firing"}; !slices.Equal(stored, want) {
		t.Errorf("stored %v, want %v", stored, want)
	}
	var held []string
	for _, a := range d.Alerts() {
		held = append(held, a.Labels["instance"]+":"+string(a.State))
	}
	slices.Sort(held)
	if want := []string{"a:resolved", "b:firing", "c:firing"}; !slices.Equal(held, want) {
		t.Errorf("held %v, want %v", held, want)
	}
}

// TestReconfigureRegroupsAndKeepsTheTimersOfUnchangedKeys: a reload moves
// the held alerts onto the new tree; a group whose key is unchanged keeps
// its timer and takes the new receiver, a new group waits group_wait, and
// the new flusher is used from then on.
func TestReconfigureRegroupsAndKeepsTheTimersOfUnchangedKeys(t *testing.T) {
	d, clock, f := setup(t, simple)
	put(t, d, mk("HighErrors", "a", alert.StateFiring), mk("DiskFull", "a", alert.StateFiring))
	clock.Advance(30 * time.Second)
	f.take(t, 2)
	_ = clock.BlockUntilContext(context.Background(), 2)
	clock.Advance(time.Minute) // HighErrors' next flush is due in 4m

	var c route.Config
	if err := yaml.Unmarshal([]byte(strings.Replace(simple, "team", "pager", 1)+`
routes:
  - matchers: ['alertname="DiskFull"']
    receiver: disk
    group_by: [instance]
`), &c); err != nil {
		t.Fatal(err)
	}
	r, err := route.Compile(c, route.Known{})
	if err != nil {
		t.Fatal(err)
	}
	f2 := newFlushes()
	d.Reconfigure(r, f2)
	gs := d.Groups()
	if len(gs) != 2 || gs[0].Receiver != "disk" || gs[1].Receiver != "pager" {
		t.Fatalf("groups after the reload: %+v", gs)
	}
	_ = clock.BlockUntilContext(context.Background(), 2)
	clock.Advance(30 * time.Second) // the new DiskFull group's group_wait
	if got := f2.take(t, 1); !slices.Equal(got, []string{`disk {instance="a"} a:firing`}) {
		t.Fatalf("first flush after the reload: %q", got)
	}
	_ = clock.BlockUntilContext(context.Background(), 2)
	testkit.Poll(t, 10*time.Second, func() (bool, string) { return d.Flushing() == 0, "flushes in flight" })
	f2.none(t)                                    // the kept group did not start over with group_wait
	clock.Advance(3*time.Minute + 30*time.Second) // HighErrors' timer, armed before the reload
	if got := f2.take(t, 1); !slices.Equal(got, []string{`pager {alertname="HighErrors"} a:firing`}) {
		t.Fatalf("flush of the kept group: %q", got)
	}
	f.none(t)
}
