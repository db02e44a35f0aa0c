package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
)

// dlqCmd lists, shows and redrives dead letters.
func dlqCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: jetlog dlq <ls|show|redrive> [flags]

  ls        list dead letters (filters: -stage, -kind, -reason, -since)
  show SEQ  print one dead letter: its headers and original bytes
  redrive   publish matching dead letters back to the subject they failed on,
            once the cause is fixed; each is removed from the DLQ once the
            stream stored it again (-keep to leave it), idempotently;
            -legacy-events also marks as jetlog events the gateway's events
            dead-lettered by a release before the Jetlog-Format header`)
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("jetlog dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", nats.DefaultURL, "NATS server URL")
	f := filter{}
	fs.StringVar(&f.stage, "stage", "", "only this stage (enricher, indexer, gateway, …)")
	fs.StringVar(&f.kind, "kind", "", "only this kind: permanent, panic, max_deliver")
	fs.StringVar(&f.reason, "reason", "", "only reasons containing this text")
	fs.DurationVar(&f.since, "since", 0, "only dead letters younger than this, e.g. 1h")
	limit := fs.Int("limit", 100, "ls: at most this many rows")
	asJSON := fs.Bool("json", false, "ls/show: JSON output")
	dry := fs.Bool("dry-run", false, "redrive: list what would be redriven")
	keep := fs.Bool("keep", false, "redrive: keep the dead letters after redriving")
	legacy := fs.Bool("legacy-events", false, "redrive: mark as jetlog events (header "+event.FormatHeader+": "+event.FormatEventV1+") the dead letters of "+
		topology.RawStream+" that a release before that header wrote: no such header, and a body that is an event whose id is the message's original Nats-Msg-Id")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nc, js, err := connectJS(*url, "jetlog-dlq")
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq: %v\n", err)
		return 1
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch sub {
	case "ls":
		return dlqList(ctx, js, f, *limit, *asJSON, stdout, stderr)
	case "show":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: jetlog dlq show SEQ")
			return 2
		}
		seq, err := strconv.ParseUint(fs.Arg(0), 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog dlq show: %q is not a sequence number\n", fs.Arg(0))
			return 2
		}
		return dlqShow(ctx, js, seq, *asJSON, stdout, stderr)
	case "redrive":
		return dlqRedrive(ctx, js, f, redriveOptions{dry: *dry, keep: *keep, legacyEvents: *legacy}, stdout, stderr)
	}
	usage()
	return 2
}

type filter struct {
	stage, kind, reason string
	since               time.Duration
}

func (f filter) subject() string {
	if f.stage != "" {
		return dlq.Subject(f.stage)
	}
	return topology.DLQSubjects
}

func (f filter) match(r *dlq.Record) bool {
	return (f.kind == "" || r.Kind == f.kind) &&
		(f.reason == "" || strings.Contains(strings.ToLower(r.Reason), strings.ToLower(f.reason))) &&
		(f.since == 0 || time.Since(r.Time) <= f.since)
}

// entry is a dead letter with its sequence in the DLQ stream.
type entry struct {
	Seq uint64 `json:"seq"`
	*dlq.Record
}

// scan reads the DLQ stream's messages matching f, oldest first.
func scan(ctx context.Context, js jetstream.JetStream, f filter, each func(entry) bool) error {
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		return fmt.Errorf("open the DLQ stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject()}})
	if err != nil {
		return err
	}
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, _ := m.Metadata()
			r, err := dlq.Parse(m.Headers(), m.Data())
			if err != nil || !f.match(r) {
				continue
			}
			if !each(entry{Seq: md.Sequence.Stream, Record: r}) {
				return nil
			}
			if md.Sequence.Stream >= info.State.LastSeq {
				return nil
			}
		}
		if n == 0 {
			return batch.Error()
		}
	}
}

func dlqList(ctx context.Context, js jetstream.JetStream, f filter, limit int, asJSON bool, stdout, stderr io.Writer) int {
	var rows []entry
	err := scan(ctx, js, f, func(e entry) bool {
		rows = append(rows, e)
		return len(rows) < limit
	})
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq ls: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			_ = enc.Encode(map[string]any{"seq": r.Seq, "stage": r.Stage, "kind": r.Kind, "reason": r.Reason, "deliveries": r.Deliveries,
				"subject": r.Subject, "time": r.Time, "bytes": len(r.Data)})
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSTAGE\tKIND\tDELIVERIES\tSUBJECT\tREASON")
	for _, r := range rows {
		reason := r.Reason
		if len(reason) > 100 {
			reason = reason[:100] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Seq, r.Time.Local().Format(time.DateTime), r.Stage, r.Kind, r.Deliveries, r.Subject, reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(stderr, "%d dead letter(s)\n", len(rows))
	return 0
}

func dlqShow(ctx context.Context, js jetstream.JetStream, seq uint64, asJSON bool, stdout, stderr io.Writer) int {
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq show: %v\n", err)
		return 1
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq show %d: %v\n", seq, err)
		return 1
	}
	r, err := dlq.Parse(m.Header, m.Data)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq show %d: %v\n", seq, err)
		return 1
	}
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(map[string]any{"seq": seq, "stage": r.Stage, "kind": r.Kind, "reason": r.Reason,
			"deliveries": r.Deliveries, "stream": r.Stream, "subject": r.Subject, "sequence": r.Sequence, "time": r.Time,
			"msg_id": r.MsgID, "headers": r.Header, "data": string(r.Data)})
		return 0
	}
	fmt.Fprintf(stdout, "seq:        %d\nstage:      %s\nkind:       %s\nreason:     %s\ndeliveries: %d\nfrom:       %s seq %d, subject %s\nmsg id:     %s\ntime:       %s\n",
		seq, r.Stage, r.Kind, r.Reason, r.Deliveries, r.Stream, r.Sequence, r.Subject, r.MsgID, r.Time.Local().Format(time.RFC3339))
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "header:     %s: %s\n", k, strings.Join(r.Header[k], ", "))
	}
	fmt.Fprintf(stdout, "data (%d bytes):\n", len(r.Data))
	var pretty any
	if json.Unmarshal(r.Data, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintln(stdout, string(r.Data))
	}
	return 0
}

// redriveMsgID makes a redrive idempotent within JetStream's duplicate
// window: redriving the same dead letter twice stores it once. Downstream,
// the event id keeps the stage's own output idempotent.
func redriveMsgID(seq uint64) string { return fmt.Sprintf("redrive:%d", seq) }

// redriveOptions are the flags of jetlog dlq redrive.
type redriveOptions struct {
	dry, keep bool
	// legacyEvents marks the events dead-lettered before the format header.
	legacyEvents bool
}

// legacyEvent reports whether a dead letter is an event the gateway
// published before messages carried event.FormatHeader: it came from the
// raw stream without that header, and its body is an event whose id is the
// message's original Nats-Msg-Id, as the gateway always published them. A
// shipper's JSON line carries a Nats-Msg-Id equal to an "id" of its own
// only if its publisher chose so on purpose, which is why this is a flag
// of the operator's and not the enricher's guess.
func legacyEvent(r *dlq.Record) bool {
	if r.Stream != topology.RawStream || r.MsgID == "" || r.Header.Get(event.FormatHeader) != "" {
		return false
	}
	ev, err := event.Unmarshal(r.Data)
	return err == nil && ev.ID == r.MsgID && !ev.Timestamp.IsZero()
}

func dlqRedrive(ctx context.Context, js jetstream.JetStream, f filter, o redriveOptions, stdout, stderr io.Writer) int {
	var todo []entry
	if err := scan(ctx, js, f, func(e entry) bool { todo = append(todo, e); return true }); err != nil {
		fmt.Fprintf(stderr, "jetlog dlq redrive: %v\n", err)
		return 1
	}
	if o.dry {
		for _, e := range todo {
			as := ""
			if o.legacyEvents && legacyEvent(e.Record) {
				as = ", marked as a jetlog event"
			}
			fmt.Fprintf(stdout, "would redrive %d (%s, %s) to %s%s\n", e.Seq, e.Stage, e.Kind, e.Subject, as)
		}
		fmt.Fprintf(stderr, "%d dead letter(s) match\n", len(todo))
		return 0
	}
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq redrive: %v\n", err)
		return 1
	}
	bar := progressbar.NewOptions(len(todo), progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("redriving"),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(isTerminal(stderr)))
	done, failed := 0, 0
	for _, e := range todo {
		if e.Subject == "" || !strings.HasPrefix(e.Subject, "logs.") {
			fmt.Fprintf(stderr, "skip %d: no subject to redrive to (%q)\n", e.Seq, e.Subject)
			failed++
			continue
		}
		m := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
		for k, v := range e.Header {
			m.Header[k] = v
		}
		if o.legacyEvents && legacyEvent(e.Record) {
			m.Header.Set(event.FormatHeader, event.FormatEventV1)
		}
		m.Header.Set(nats.MsgIdHdr, redriveMsgID(e.Seq))
		m.Header.Set("Jetlog-Redriven-From", strconv.FormatUint(e.Seq, 10))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			fmt.Fprintf(stderr, "redrive %d: %v\n", e.Seq, err)
			failed++
			continue
		}
		if !o.keep {
			if err := s.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				fmt.Fprintf(stderr, "redriven %d but not removed from the DLQ: %v\n", e.Seq, err)
			}
		}
		done++
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	fmt.Fprintf(stdout, "redrove %d dead letter(s), %d failed\n", done, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
