package topology_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// bareNATS starts a server with no jetlog streams, as a store of an earlier
// release would be before this one first starts on it.
func bareNATS(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Sync: "1s", MaxPayload: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// small is a configuration with small bounds and no archive (the archiver
// stage, whose consumer would hold the raw backlog, is not run here).
func small() topology.Config {
	c := topology.Defaults()
	c.RawMaxBytes, c.EnrichedMaxBytes, c.Archive.MaxBytes = 1<<20, 1<<20, 1<<20
	c.Archive.Enabled = false
	return c
}

func streamState(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// ackN takes n messages from a durable consumer and acknowledges them.
func ackN(t *testing.T, js jetstream.JetStream, stream, durable string, n int) {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		mb, err := c.Fetch(n-got, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range mb.Messages() {
			if err := m.DoubleAck(context.Background()); err != nil {
				t.Fatal(err)
			}
			got++
		}
	}
}

// What every consumer acknowledged is freed; what one has not is kept.
func TestPipelineStreamsHoldOnlyTheBacklog(t *testing.T) {
	js := bareNATS(t)
	ctx := context.Background()
	if err := topology.Ensure(ctx, js, small(), nil); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := js.Publish(ctx, "logs.raw.web", []byte(fmt.Sprintf("event %d", i)), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	ackN(t, js, topology.RawStream, "enricher", 60)
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		raw := streamState(t, js, topology.RawStream)
		return raw.Msgs == 40, fmt.Sprintf("LOGS_RAW %d (want 40 unacknowledged)", raw.Msgs)
	})
}

// The durable consumers of the pipeline are created with the streams: an
// event published before its stage ever ran is kept for it.
func TestEventsPublishedBeforeAStageFirstRunsAreKept(t *testing.T) {
	js := bareNATS(t)
	ctx := context.Background()
	if err := topology.Ensure(ctx, js, small(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "logs.enriched.web", []byte("early")); err != nil {
		t.Fatal(err)
	}
	if n := streamState(t, js, topology.EnrichedStream).Msgs; n != 1 {
		t.Fatalf("LOGS holds %d messages, want 1: the indexer's consumer must exist before the indexer runs", n)
	}
	ackN(t, js, topology.EnrichedStream, "indexer", 1)
}

// A full backlog refuses new events (DiscardNew) and evicts nothing; the
// refusal is the one the gateway turns into "retry later".
func TestAFullBacklogRefusesAndEvictsNothing(t *testing.T) {
	js := bareNATS(t)
	ctx := context.Background()
	if err := topology.Ensure(ctx, js, small(), nil); err != nil {
		t.Fatal(err)
	}
	payload := []byte(strings.Repeat("x", 4000))
	var refused error
	for i := 0; i < 1000 && refused == nil; i++ {
		_, refused = js.Publish(ctx, "logs.raw.web", payload)
	}
	if refused == nil || !strings.Contains(refused.Error(), "maximum bytes") {
		t.Fatalf("a full LOGS_RAW did not refuse: %v", refused)
	}
	first := streamState(t, js, topology.RawStream).FirstSeq
	if first != 1 {
		t.Errorf("the oldest unprocessed event was evicted: first sequence %d", first)
	}
	b, err := topology.ReadBacklog(ctx, js, topology.RawStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "consumer enricher has") {
		t.Errorf("backlog reason = %v, want it to name the consumer holding it", err)
	}
	ackN(t, js, topology.RawStream, "enricher", int(b.Messages))
	if _, err := js.Publish(ctx, "logs.raw.web", payload); err != nil {
		t.Errorf("still refused after the backlog drained: %v", err)
	}
}

// A store of the previous release (limits retention, the consumers its
// stages created) is migrated at start: the archiver's consumer starts at
// the old stream's first event so history reaches the archive, what every
// consumer acknowledged is freed, and nothing unprocessed is lost.
func TestStoreOfThePreviousReleaseIsMigrated(t *testing.T) {
	js := bareNATS(t)
	ctx := context.Background()
	old := jetstream.StreamConfig{Name: topology.RawStream, Subjects: []string{topology.RawSubjects}, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardNew, MaxBytes: 1 << 20, MaxAge: 7 * 24 * time.Hour}
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, topology.RawStream, jetstream.ConsumerConfig{Durable: "enricher", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: topology.RawSubjects, MaxDeliver: 11}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := js.Publish(ctx, "logs.raw.web", []byte(fmt.Sprintf("event %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	ackN(t, js, topology.RawStream, "enricher", 60)
	if n := streamState(t, js, topology.RawStream).Msgs; n != 100 {
		t.Fatalf("limits retention should keep acknowledged events: %d", n)
	}

	cfg := small()
	cfg.Archive.Enabled = true
	if err := topology.Ensure(ctx, js, cfg, nil); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, topology.RawStream)
	if info, _ := s.Info(ctx); info.Config.Retention != jetstream.InterestPolicy || info.Config.MaxAge != 0 {
		t.Fatalf("LOGS_RAW not migrated: retention %v, max_age %v", info.Config.Retention, info.Config.MaxAge)
	}
	if n := streamState(t, js, topology.RawStream).Msgs; n != 100 {
		t.Fatalf("LOGS_RAW holds %d events after the migration, want all 100: the archiver has not copied any yet", n)
	}
	// The previous release's gateway did not mark its events: the enricher
	// is told up to where to read them the old way, across later starts.
	for i := range 2 {
		if until, err := topology.UnmarkedEventsUntil(ctx, js); err != nil || until != 100 {
			t.Fatalf("start %d: unmarked events until %d (%v), want 100", i+1, until, err)
		}
		if err := topology.Ensure(ctx, js, cfg, nil); err != nil {
			t.Fatal(err)
		}
	}
	ackN(t, js, topology.RawStream, topology.ArchiverDurable, 100)
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		n := streamState(t, js, topology.RawStream).Msgs
		return n == 40, fmt.Sprintf("LOGS_RAW %d, want the 40 the enricher has not processed", n)
	})
	ackN(t, js, topology.RawStream, "enricher", 40)
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		n := streamState(t, js, topology.RawStream).Msgs
		return n == 0, fmt.Sprintf("LOGS_RAW %d after everything was processed", n)
	})
	// Ensure is idempotent on a migrated store; turning the archive off
	// removes the archiver's consumer, which would otherwise hold the
	// backlog.
	if err := topology.Ensure(ctx, js, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := topology.Ensure(ctx, js, small(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, topology.RawStream, topology.ArchiverDurable); err == nil {
		t.Error("the archiver's consumer survived archive.enabled: false")
	}
}

// LOGS keeps its events for the alerter's durable from the start; when
// nobody reads that consumer and the backlog fills, the reason says which
// consumer to remove and how.
func TestAnUnreadConsumerIsNamedWhenTheBacklogFills(t *testing.T) {
	js := bareNATS(t)
	ctx := context.Background()
	if err := topology.Ensure(ctx, js, small(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, topology.EnrichedStream, topology.AlerterDurable); err != nil {
		t.Fatalf("the alerter's consumer is not created with LOGS: %v", err)
	}
	payload := []byte(strings.Repeat("x", 4000))
	for i := 0; i < 1000; i++ {
		if _, err := js.Publish(ctx, "logs.enriched.web", payload); err != nil {
			break
		}
	}
	ackN(t, js, topology.EnrichedStream, "indexer", int(streamState(t, js, topology.EnrichedStream).Msgs))
	b, err := topology.ReadBacklog(ctx, js, topology.EnrichedStream)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Err()
	if err == nil || !strings.Contains(err.Error(), "consumer alerter has") || !strings.Contains(err.Error(), "nats consumer rm LOGS alerter") {
		t.Errorf("backlog reason = %v, want it to name the unread alerter consumer and how to remove it", err)
	}
}
