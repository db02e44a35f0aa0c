package dlq_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

func store(t *testing.T, n *testkit.NATS, stage string, seq int) {
	t.Helper()
	r := &dlq.Record{Stage: stage, Kind: dlq.KindPermanent, Reason: fmt.Sprint("reason ", seq), Stream: topology.RawStream,
		Subject: "logs.raw.web", Sequence: uint64(seq), Time: time.Now(), Header: nats.Header{}, Data: []byte("x")}
	if _, err := n.JS.PublishMsg(context.Background(), r.Msg()); err != nil {
		t.Fatal(err)
	}
}

// A pass ends at the last dead letter stored when the reader opened:
// whatever arrives meanwhile (a redriven message that fails again) waits
// for the next pass, so a redrive never chases its own tail.
func TestReaderEndsAtTheLastDeadLetterAtOpen(t *testing.T) {
	n := testkit.StartNATS(t)
	for i := 1; i <= 3; i++ {
		store(t, n, "enricher", i)
	}
	ctx := context.Background()
	rd, err := dlq.Open(ctx, n.JS, dlq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []uint64
	for rd.Next(ctx) {
		got = append(got, rd.Entry().Seq)
		if len(got) == 1 {
			store(t, n, "enricher", 100)
		}
	}
	if rd.Err() != nil || fmt.Sprint(got) != "[1 2 3]" || rd.Read() != 3 || rd.Total() != 3 {
		t.Errorf("read %v (err %v, %d read, total %d), want [1 2 3] of 3, not the one stored meanwhile", got, rd.Err(), rd.Read(), rd.Total())
	}
}

// Dead letters removed while a reader waits for them do not keep it
// waiting: it asks the server and ends.
func TestReaderEndsWhenWhatItExpectsIsRemoved(t *testing.T) {
	n := testkit.StartNATS(t)
	for i := 1; i <= 3; i++ {
		store(t, n, "indexer", i)
	}
	store(t, n, "enricher", 4)
	ctx := context.Background()
	rd, err := dlq.Open(ctx, n.JS, dlq.Query{Stage: "indexer"})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	s, err := n.JS.Stream(ctx, topology.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	for info := range s.ListConsumers(ctx).Info() {
		if info.Delivered.Consumer != 0 {
			t.Fatalf("the reader fetched before its first Next (%+v): this test cannot remove what it expects first", info.Delivered)
		}
	}
	if rd.Next(ctx) || rd.Err() != nil {
		t.Errorf("Next = true or err %v after every selected dead letter was removed", rd.Err())
	}
}

func TestQueryValidate(t *testing.T) {
	for _, q := range []dlq.Query{{StartSeq: 1, Since: time.Now()}, {Stage: "a b"}, {Stage: "dlq.>"}, {Stage: "x."}} {
		if q.Validate() == nil {
			t.Errorf("%+v accepted", q)
		}
	}
	if err := (dlq.Query{Stage: "team.labeler", StartSeq: 3}).Validate(); err != nil {
		t.Error(err)
	}
}
