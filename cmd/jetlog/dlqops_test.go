package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// fillDLQ stores count dead letters of stage, numbered from first, each
// failed on logs.raw.<source> with the reason "<reason> <i>".
func fillDLQ(t *testing.T, n *testkit.NATS, stage, reason, source string, first, count int) {
	t.Helper()
	acks := make([]jetstream.PubAckFuture, 0, count)
	for i := first; i < first+count; i++ {
		r := &dlq.Record{Stage: stage, Kind: dlq.KindPermanent, Reason: fmt.Sprintf("%s %d", reason, i), Stream: topology.RawStream,
			Subject: "logs.raw." + source, Sequence: uint64(i), Time: time.Now(), Header: nats.Header{}, Data: []byte(fmt.Sprintf("line %d", i))}
		f, err := n.JS.PublishMsgAsync(r.Msg())
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
}

// listedJSON runs jetlog dlq ls -json and returns the dead letters listed
// and what it said on stderr.
func listedJSON(t *testing.T, url string, args ...string) ([]listed, string) {
	t.Helper()
	code, out, errOut := run(t, append([]string{"dlq", "ls", "-nats", url, "-json", "-limit", "0"}, args...)...)
	if code != 0 {
		t.Fatalf("dlq ls %v: exit %d\n%s%s", args, code, out, errOut)
	}
	var rows []listed
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r listed
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("dlq ls -json line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows, errOut
}

func seqsOf(rows []listed) []uint64 {
	out := make([]uint64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

// dlqSeqs returns the sequences the DLQ stream holds, read directly.
func dlqSeqs(t *testing.T, js jetstream.JetStream) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range deadLetters(t, js) {
		out = append(out, r.Sequence)
	}
	return out
}

// The start of ls is the consumer's: from a sequence or a time, what lies
// before is never delivered (the count of messages read says so), and
// -stage is the server's subject filter, so another stage's dead letters
// are not read either; -kind and -reason filter what is read.
func TestDLQListStartsWhereAsked(t *testing.T) {
	n := testkit.StartNATS(t)
	fillDLQ(t, n, "enricher", "old", "web", 1, 10) // DLQ seq 1..10
	s, err := n.JS.Stream(context.Background(), topology.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	fillDLQ(t, n, "enricher", "new", "web", 11, 5)   // 11..15
	fillDLQ(t, n, "indexer", "mapper", "web", 16, 5) // 16..20
	eleventh, err := s.GetMsg(context.Background(), 11)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		want     []uint64
		wantRead int
	}{
		{"from a sequence", []string{"-seq", "14"}, []uint64{14, 15, 16, 17, 18, 19, 20}, 7},
		{"from a time", []string{"-since", eleventh.Time.Format(time.RFC3339Nano)}, []uint64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 10},
		{"from a duration ago", []string{"-since", "1h", "-stage", "indexer"}, []uint64{16, 17, 18, 19, 20}, 5},
		{"one stage, from a sequence", []string{"-stage", "enricher", "-seq", "9"}, []uint64{9, 10, 11, 12, 13, 14, 15}, 7},
		{"a reason among what is read", []string{"-seq", "12", "-reason", "NEW 1"}, []uint64{12, 13, 14, 15}, 9},
		{"a kind that is not there", []string{"-seq", "19", "-kind", "panic"}, nil, 2},
		{"past the end", []string{"-seq", "21"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errOut := listedJSON(t, n.URL, tt.args...)
			if fmt.Sprint(seqsOf(rows)) != fmt.Sprint(tt.want) {
				t.Errorf("listed %v, want %v", seqsOf(rows), tt.want)
			}
			if want := fmt.Sprintf("%d dead letter(s) listed, %d read", len(tt.want), tt.wantRead); !strings.Contains(errOut, want) {
				t.Errorf("stderr %q, want %q: nothing before the start is read", errOut, want)
			}
		})
	}
	rows, _ := listedJSON(t, n.URL, "-seq", "16")
	if r := rows[0]; r.Stage != "indexer" || r.Reason != "mapper 16" || r.Subject != "logs.raw.web" || r.Stream != topology.RawStream || r.Sequence != 16 || r.Bytes != len("line 16") {
		t.Errorf("first row %+v", r)
	}
	code, out, errOut := run(t, "dlq", "ls", "-nats", n.URL, "-limit", "3")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") ||
		!strings.Contains(lines[3], "old 3") || !strings.Contains(errOut, "stopped at -limit 3") {
		t.Errorf("dlq ls -limit 3: exit %d\n%s%s", code, out, errOut)
	}
	for _, bad := range [][]string{{"-since", "yesterday"}, {"-since", "-1h"}, {"-since", "1h", "-seq", "3"}, {"-stage", "a b"}} {
		if code, _, errOut := run(t, append([]string{"dlq", "ls", "-nats", n.URL}, bad...)...); code != 2 {
			t.Errorf("dlq ls %v: exit %d, want 2 (%s)", bad, code, errOut)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                       now.Add(-90 * time.Minute),
		"2d":                        now.Add(-48 * time.Hour),
		"2026-11-24T10:00:00Z":      time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T11:00:00+01:00": time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0s", "-1h", "xd", "2026-11-24"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted", in)
		}
	}
}

// ls writes each dead letter as it reads it: a reader of its output gets
// the first line while most of the DLQ has not even been delivered.
func TestDLQListStreamsItsOutput(t *testing.T) {
	n := testkit.StartNATS(t)
	const total = 1000
	fillDLQ(t, n, "enricher", "bad", "web", 1, total)
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- dispatch([]string{"dlq", "ls", "-nats", n.URL, "-json", "-limit", "0"}, nil, pw, &errOut)
		pw.Close()
	}()
	lines := bufio.NewReader(pr)
	first, err := lines.ReadString('\n')
	if err != nil || !strings.Contains(first, `"seq":1,`) {
		t.Fatalf("first line %q, %v", first, err)
	}
	// ls is now blocked writing its second line: ask the server how far its
	// consumer got.
	s, err := n.JS.Stream(context.Background(), topology.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	var infos []*jetstream.ConsumerInfo
	for info := range s.ListConsumers(context.Background()).Info() {
		infos = append(infos, info)
	}
	if len(infos) != 1 || infos[0].NumPending == 0 || infos[0].Delivered.Stream >= total {
		for _, i := range infos {
			t.Logf("consumer %s: delivered up to %d, %d pending", i.Name, i.Delivered.Stream, i.NumPending)
		}
		t.Fatalf("after the first line, want one consumer of the DLQ that has not delivered everything yet")
	}
	t.Logf("first line out after %d of %d delivered", infos[0].Delivered.Stream, total)
	rest := 1
	for {
		if _, err := lines.ReadString('\n'); err != nil {
			break
		}
		rest++
	}
	if c := <-code; c != 0 || rest != total {
		t.Fatalf("dlq ls: exit %d, %d lines, want %d\n%s", c, rest, total, errOut.String())
	}
	testkit.Poll(t, 10*time.Second, func() (bool, string) { // the reader removes its consumer
		c := 0
		for range s.ListConsumers(context.Background()).Info() {
			c++
		}
		return c == 0, fmt.Sprintf("%d consumers left on the DLQ", c)
	})
}

// windowJS is a JetStream that measures what a redrive holds: at every
// tenth publish, how many dead letters the server has delivered to it that
// it has not yet removed from the DLQ (in its reader's prefetch or in its
// window of publishes awaiting acknowledgement), and of those how many it
// republished.
type windowJS struct {
	jetstream.JetStream
	t                  *testing.T
	mu                 sync.Mutex
	published, deleted int
	maxInFlight        int // republished, not yet removed
	maxHeld            int // delivered, not yet removed
}

func (w *windowJS) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	w.mu.Lock()
	w.published++
	w.maxInFlight = max(w.maxInFlight, w.published-w.deleted)
	check := w.published%10 == 1
	w.mu.Unlock()
	if check {
		s, err := w.JetStream.Stream(context.Background(), topology.DLQStream)
		if err != nil {
			w.t.Fatal(err)
		}
		for info := range s.ListConsumers(context.Background()).Info() {
			w.mu.Lock()
			w.maxHeld = max(w.maxHeld, int(info.Delivered.Stream)-w.deleted)
			w.mu.Unlock()
		}
	}
	return w.JetStream.PublishMsgAsync(m, opts...)
}

func (w *windowJS) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := w.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return &windowStream{Stream: s, w: w}, nil
}

type windowStream struct {
	jetstream.Stream
	w *windowJS
}

func (s *windowStream) DeleteMsg(ctx context.Context, seq uint64) error {
	s.w.mu.Lock()
	s.w.deleted++
	s.w.mu.Unlock()
	return s.Stream.DeleteMsg(ctx, seq)
}

// A redrive of more dead letters than a window holds at most a window of
// them at a time: it publishes a window, waits for the PubAcks, removes
// them from the DLQ, and reads on. Every one arrives once, and a second
// redrive finds nothing.
func TestDLQRedriveAWindowAtATime(t *testing.T) {
	n := testkit.StartNATS(t)
	const total, window = 1050, 100
	fillDLQ(t, n, "enricher", "grok", "redrive", 1, total)
	fillDLQ(t, n, "indexer", "mapper", "other", total+1, 3) // not selected
	rec := testkit.Record(t, n.JS, topology.RawStream, "logs.raw.redrive")

	var out, errOut bytes.Buffer
	if code := dlqRedrive(context.Background(), n.JS, dlq.Query{Stage: "enricher"}, redriveOptions{dry: true, window: window}, &out, &errOut); code != 0 ||
		strings.Count(out.String(), "would redrive") != total || n.StreamMsgs(topology.DLQStream) != total+3 {
		t.Fatalf("dry run: exit %d, %d lines, DLQ %d\n%s", code, strings.Count(out.String(), "\n"), n.StreamMsgs(topology.DLQStream), errOut.String())
	}

	w := &windowJS{JetStream: n.JS, t: t}
	out.Reset()
	if code := dlqRedrive(context.Background(), w, dlq.Query{Stage: "enricher"}, redriveOptions{window: window}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), fmt.Sprintf("redrove %d dead letter(s), 0 failed", total)) {
		t.Fatalf("redrive: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("at most %d republished and %d read but not yet removed", w.maxInFlight, w.maxHeld)
	if w.published != total || w.deleted != total || w.maxInFlight > window || w.maxHeld > window+dlq.Prefetch+1 {
		t.Errorf("published %d, removed %d, at most %d republished and %d read but not removed at once; want %d, %d, at most %d and %d",
			w.published, w.deleted, w.maxInFlight, w.maxHeld, total, total, window, window+dlq.Prefetch+1)
	}
	msgs := rec.Wait(t, total, 30*time.Second)
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[string(m.Data())] = true
		if m.Headers().Get("Jetlog-Redriven-From") == "" {
			t.Fatalf("redriven message without Jetlog-Redriven-From: %v", m.Headers())
		}
	}
	if len(msgs) != total || len(seen) != total {
		t.Errorf("%d messages (%d distinct) on logs.raw.redrive, want %d", len(msgs), len(seen), total)
	}
	if left := dlqSeqs(t, n.JS); len(left) != 3 {
		t.Errorf("the DLQ holds %d dead letters, want the 3 of the indexer", len(left))
	}
	if code, out, errOut := run(t, "dlq", "redrive", "-nats", n.URL, "-stage", "enricher"); code != 0 || !strings.Contains(out, "redrove 0 dead letter(s)") {
		t.Errorf("second redrive: exit %d\n%s%s", code, out, errOut)
	}

	// -keep leaves them; the redrive is idempotent, so nothing doubles.
	fillDLQ(t, n, "enricher", "keep", "kept", 5000, 3)
	if code, out, errOut := run(t, "dlq", "redrive", "-nats", n.URL, "-reason", "keep", "-keep", "-window", "2"); code != 0 || !strings.Contains(out, "redrove 3") {
		t.Errorf("redrive -keep: exit %d\n%s%s", code, out, errOut)
	}
	if left := dlqSeqs(t, n.JS); len(left) != 6 {
		t.Errorf("after -keep the DLQ holds %d, want 6", len(left))
	}
	if code, _, errOut := run(t, "dlq", "redrive", "-nats", n.URL, "-window", "0"); code != 2 {
		t.Errorf("-window 0: exit %d (%s)", code, errOut)
	}
}

// rm removes the dead letters named, or those the filters select, and
// -dry-run only lists them; purge removes a stage's or all at once, and
// asks first.
func TestDLQRemoveAndPurge(t *testing.T) {
	n := testkit.StartNATS(t)
	fillDLQ(t, n, "enricher", "grok", "web", 1, 5)      // 1..5
	fillDLQ(t, n, "indexer", "mapper", "web", 6, 5)     // 6..10
	fillDLQ(t, n, "gateway", "too large", "web", 11, 2) // 11..12
	dlqRun := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := run(t, append([]string{"dlq"}, args...)...)
		if code != wantCode {
			t.Fatalf("dlq %v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		return out + errOut
	}
	seqs := func() string { return fmt.Sprint(dlqSeqs(t, n.JS)) }

	dlqRun(0, "rm", "-nats", n.URL, "2", "3")
	if got := seqs(); got != "[1 4 5 6 7 8 9 10 11 12]" {
		t.Fatalf("after rm 2 3: %s", got)
	}
	if out := dlqRun(0, "rm", "-nats", n.URL, "-stage", "indexer", "4", "7"); !strings.Contains(out, "keep 4: the filters do not select it") {
		t.Errorf("rm -stage indexer 4 7 said %q", out)
	}
	if out := dlqRun(0, "rm", "-nats", n.URL, "-reason", "mapper", "-seq", "9", "-dry-run"); strings.Count(out, "(indexer, permanent): mapper") != 2 || seqs() != "[1 4 5 6 8 9 10 11 12]" {
		t.Errorf("rm -dry-run removed something, or listed: %q; left %s", out, seqs())
	}
	dlqRun(0, "rm", "-nats", n.URL, "-reason", "mapper", "-seq", "9")
	if got := seqs(); got != "[1 4 5 6 8 11 12]" {
		t.Fatalf("after rm -reason mapper -seq 9: %s", got)
	}
	dlqRun(1, "rm", "-nats", n.URL, "999")
	dlqRun(2, "rm", "-nats", n.URL)
	dlqRun(2, "rm", "-nats", n.URL, "x")

	// purge: without -yes and without a terminal to ask on, nothing happens.
	if out := dlqRun(2, "purge", "-nats", n.URL, "-stage", "enricher"); !strings.Contains(out, "3 dead letter(s) on dlq.enricher") || !strings.Contains(out, "-yes") {
		t.Errorf("purge without -yes said %q", out)
	}
	dlqRun(0, "purge", "-nats", n.URL, "-stage", "enricher", "-dry-run")
	if got := seqs(); got != "[1 4 5 6 8 11 12]" {
		t.Fatalf("a purge without -yes or with -dry-run removed something: %s", got)
	}
	dlqRun(0, "purge", "-nats", n.URL, "-stage", "enricher", "-yes")
	if got := seqs(); got != "[6 8 11 12]" {
		t.Fatalf("after purge -stage enricher: %s", got)
	}
	// On a terminal, the answer decides.
	for _, answer := range []string{"n\n", ""} {
		var out, errOut bytes.Buffer
		if code := dlqPurge(context.Background(), n.JS, "", purgeOptions{tty: true, stdin: strings.NewReader(answer)}, &out, &errOut); code != 1 || seqs() != "[6 8 11 12]" {
			t.Fatalf("answered %q: exit %d, left %s\n%s", answer, code, seqs(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := dlqPurge(context.Background(), n.JS, "", purgeOptions{tty: true, stdin: strings.NewReader("yes\n")}, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "Purge 4 dead letter(s) on dlq.> (dlq.gateway: 2, dlq.indexer: 2)? [y/N]") {
		t.Fatalf("answered yes: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if got := n.StreamMsgs(topology.DLQStream); got != 0 {
		t.Errorf("after purge: %d dead letters left", got)
	}
	if out := dlqRun(0, "purge", "-nats", n.URL, "-yes"); !strings.Contains(out, "no dead letters") {
		t.Errorf("purge of an empty DLQ said %q", out)
	}
}
