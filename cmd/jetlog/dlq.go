package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/dlq"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/topology"
)

const dlqUsage = `usage: jetlog dlq <command> [flags]

  ls [filters]         list dead letters, oldest first, as they are read
                       (-limit N, -json for one JSON object per line)
  show SEQ             print one dead letter: its headers and original bytes
  redrive [filters]    publish dead letters back to the subject they failed
                       on, once the cause is fixed: a window at a time, each
                       removed from the DLQ once the stream stored it again
                       (-keep to leave it), idempotently; -dry-run lists them;
                       -legacy-events also marks as jetlog events the
                       gateway's events dead-lettered by a release before
                       the Jetlog-Format header
  rm SEQ... | filters  remove these dead letters, or every one the filters
                       select (-dry-run lists them)
  purge [-stage S]     remove every dead letter, or one stage's, at once
                       (asks on a terminal; -yes otherwise)

Filters: -stage S reads only dlq.<S>; -since (1h, 2d or an RFC 3339 time)
and -seq N say where reading starts, so nothing before is read at all;
-kind and -reason select among what is read.

Run 'jetlog dlq <command> -h' for a command's flags.`

// dlqCmd inspects, redrives and removes dead letters.
func dlqCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, dlqUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("jetlog dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := bindClientFlags(fs)
	var (
		qf                    queryFlags
		limit, window         int
		asJSON, dry, keep, ok bool
		legacy                bool
	)
	synopsis := map[string]string{
		"ls": "ls [filters] [-limit N] [-json]", "show": "show [-json] SEQ", "redrive": "redrive [filters] [-window N] [-keep] [-legacy-events] [-dry-run]",
		"rm": "rm [filters] [-dry-run] [SEQ...]", "purge": "purge [-stage S] [-yes] [-dry-run]",
	}[sub]
	if synopsis == "" {
		fmt.Fprintf(stderr, "jetlog dlq: unknown command %q\n\n%s\n", sub, dlqUsage)
		return 2
	}
	switch sub {
	case "ls":
		qf.bind(fs, true)
		fs.IntVar(&limit, "limit", 100, "stop after this many rows (0: no limit)")
		fs.BoolVar(&asJSON, "json", false, "one JSON object per line")
	case "show":
		fs.BoolVar(&asJSON, "json", false, "JSON output")
	case "redrive":
		qf.bind(fs, true)
		fs.IntVar(&window, "window", 256, "publish at most this many before waiting for their acknowledgements and removing them (1..1000)")
		fs.BoolVar(&keep, "keep", false, "keep the dead letters after redriving them")
		fs.BoolVar(&dry, "dry-run", false, "list what would be redriven")
		fs.BoolVar(&legacy, "legacy-events", false, "mark as jetlog events (header "+event.FormatHeader+": "+event.FormatEventV1+") the dead letters of "+
			topology.RawStream+" that a release before that header wrote: no such header, and a body that is an event whose id is the message's original Nats-Msg-Id")
	case "rm":
		qf.bind(fs, true)
		fs.BoolVar(&dry, "dry-run", false, "list what would be removed")
	case "purge":
		qf.bind(fs, false)
		fs.BoolVar(&ok, "yes", false, "do not ask for confirmation")
		fs.BoolVar(&dry, "dry-run", false, "say what would be purged")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: jetlog dlq %s [-config file] [-set path=value]... [-nats URL]\n\n%s\n\n", synopsis, clientHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	q, err := qf.query(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq %s: %v\n", sub, err)
		return 2
	}
	var seqs []uint64
	switch sub {
	case "show", "rm":
		for _, a := range fs.Args() {
			seq, err := strconv.ParseUint(a, 10, 64)
			if err != nil || seq == 0 {
				fmt.Fprintf(stderr, "jetlog dlq %s: %q is not a sequence number\n", sub, a)
				return 2
			}
			seqs = append(seqs, seq)
		}
	default:
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "jetlog dlq %s: unexpected argument %q\n", sub, fs.Arg(0))
			return 2
		}
	}
	switch {
	case sub == "show" && len(seqs) != 1:
		fmt.Fprintln(stderr, "usage: jetlog dlq show SEQ")
		return 2
	case sub == "rm" && len(seqs) == 0 && q == (dlq.Query{}):
		fmt.Fprintln(stderr, "jetlog dlq rm: give sequence numbers or a filter (-stage, -kind, -reason, -since, -seq); jetlog dlq purge removes everything")
		return 2
	case sub == "redrive" && (window < 1 || window > 1000):
		fmt.Fprintf(stderr, "jetlog dlq redrive: -window %d is outside 1..1000\n", window)
		return 2
	}
	nc, js, done, err := conn.connect("dlq", stderr)
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq %s: %v\n", sub, err)
		return exitCode(err)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "ls":
		return dlqList(ctx, js, q, limit, asJSON, stdout, stderr)
	case "show":
		return dlqShow(ctx, js, seqs[0], asJSON, stdout, stderr)
	case "redrive":
		return dlqRedrive(ctx, js, q, redriveOptions{dry: dry, keep: keep, window: window, legacyEvents: legacy}, stdout, stderr)
	case "rm":
		return dlqRemove(ctx, js, q, seqs, dry, stdout, stderr)
	default:
		return dlqPurge(ctx, js, q.Stage, purgeOptions{yes: ok, dry: dry, tty: isTerminal(stdin), stdin: stdin}, stdout, stderr)
	}
}

// queryFlags are the flags that select dead letters.
type queryFlags struct {
	stage, kind, reason, since string
	seq                        uint64
}

// bind registers -stage, and with all the start and the filters too.
func (f *queryFlags) bind(fs *flag.FlagSet, all bool) {
	fs.StringVar(&f.stage, "stage", "", "only this stage's dead letters, dlq.<stage> (enricher, indexer, gateway, …)")
	if !all {
		return
	}
	fs.StringVar(&f.since, "since", "", "start at dead letters stored this long ago (1h, 2d) or since this RFC 3339 time")
	fs.Uint64Var(&f.seq, "seq", 0, "start at this DLQ sequence")
	fs.StringVar(&f.kind, "kind", "", "only this kind: permanent, panic, max_deliver")
	fs.StringVar(&f.reason, "reason", "", "only reasons containing this text (any case)")
}

// query turns the flags into a query; now anchors a relative -since.
func (f *queryFlags) query(now time.Time) (dlq.Query, error) {
	q := dlq.Query{Stage: f.stage, Kind: f.kind, Reason: f.reason, StartSeq: f.seq}
	if f.since != "" {
		t, err := parseSince(f.since, now)
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	return q, q.Validate()
}

// parseSince reads -since: a duration back from now (Go's units, plus d for
// days) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("-since %q is neither a positive duration (30m, 1h, 2d) nor an RFC 3339 time (2026-11-24T10:00:00Z)", s)
	}
	return now.Add(-d), nil
}

// listed is the JSON form of a dead letter in jetlog dlq ls -json.
type listed struct {
	Seq        uint64    `json:"seq"`
	Stored     time.Time `json:"stored"`
	Stage      string    `json:"stage"`
	Kind       string    `json:"kind"`
	Reason     string    `json:"reason"`
	Deliveries uint64    `json:"deliveries"`
	Stream     string    `json:"stream"`
	Subject    string    `json:"subject"`
	Sequence   uint64    `json:"sequence"`
	Time       time.Time `json:"time"`
	MsgID      string    `json:"msg_id,omitempty"`
	Bytes      int       `json:"bytes"`
}

// dlqList writes each dead letter q selects as soon as it is read: one row
// (or one JSON object) per line, in one write each, so a pipe sees them
// while the DLQ is still being read.
func dlqList(ctx context.Context, js jetstream.JetStream, q dlq.Query, limit int, asJSON bool, stdout, stderr io.Writer) int {
	rd, err := dlq.Open(ctx, js, q)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq ls: %v\n", err)
		return 1
	}
	defer rd.Close()
	const row = "%-8v  %-19s  %-14s  %-11s  %5v  %-32s  %s\n"
	if !asJSON {
		fmt.Fprintf(stdout, row, "SEQ", "STORED", "STAGE", "KIND", "DELIV", "SUBJECT", "REASON")
	}
	n := 0
	for (limit <= 0 || n < limit) && rd.Next(ctx) {
		e := rd.Entry()
		n++
		var err error
		if asJSON {
			b, _ := json.Marshal(listed{Seq: e.Seq, Stored: e.Stored, Stage: e.Stage, Kind: e.Kind, Reason: e.Reason, Deliveries: e.Deliveries,
				Stream: e.Stream, Subject: e.Subject, Sequence: e.Sequence, Time: e.Time, MsgID: e.MsgID, Bytes: len(e.Data)})
			_, err = stdout.Write(append(b, '\n'))
		} else {
			_, err = fmt.Fprintf(stdout, row, e.Seq, e.Stored.Local().Format(time.DateTime), e.Stage, e.Kind, e.Deliveries, e.Subject, shorten(e.Reason, 100))
		}
		if err != nil { // the reader went away (| head): stop quietly
			return 0
		}
	}
	if err := rd.Err(); err != nil {
		fmt.Fprintf(stderr, "jetlog dlq ls: %v\n", err)
		return 1
	}
	more := ""
	if limit > 0 && n == limit {
		more = fmt.Sprintf("; stopped at -limit %d", limit)
	}
	fmt.Fprintf(stderr, "%d dead letter(s) listed, %d read%s\n", n, rd.Read(), more)
	return 0
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
	// window bounds the publishes awaiting their PubAck, and so what a
	// redrive holds in memory besides the reader's prefetch.
	window int
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

// redriveMsg is the message that sends a dead letter back to the subject
// it failed on.
func redriveMsg(e dlq.Entry, o redriveOptions) *nats.Msg {
	m := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
	for k, v := range e.Header {
		m.Header[k] = v
	}
	if o.legacyEvents && legacyEvent(e.Record) {
		m.Header.Set(event.FormatHeader, event.FormatEventV1)
	}
	m.Header.Set(nats.MsgIdHdr, redriveMsgID(e.Seq))
	m.Header.Set("Jetlog-Redriven-From", strconv.FormatUint(e.Seq, 10))
	return m
}

// inflight is a redriven dead letter awaiting its PubAck.
type inflight struct {
	seq uint64
	ack jetstream.PubAckFuture
}

// dlqRedrive streams the dead letters q selects back to their subjects, a
// window at a time: publish up to o.window, wait for every PubAck, remove
// the acknowledged ones from the DLQ, read on. It never holds more than the
// window and the reader's prefetch, however many dead letters match; an
// interruption (Ctrl-C) finishes the window in flight first.
func dlqRedrive(ctx context.Context, js jetstream.JetStream, q dlq.Query, o redriveOptions, stdout, stderr io.Writer) int {
	rd, err := dlq.Open(ctx, js, q)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq redrive: %v\n", err)
		return 1
	}
	defer rd.Close()
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq redrive: %v\n", err)
		return 1
	}
	var matched, done, failed int
	counts := func() string {
		if o.dry {
			return fmt.Sprintf("%d to redrive", matched)
		}
		return fmt.Sprintf("%d redriven, %d failed", done, failed)
	}
	prog := newProgress(stderr, "jetlog dlq redrive")
	window := make([]inflight, 0, o.window)
	finish := func() {
		// Bounded even after Ctrl-C: the PubAck waits by the publish timeout,
		// the deletes by their own.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, f := range window {
			select {
			case <-f.ack.Ok():
			case err := <-f.ack.Err():
				fmt.Fprintf(stderr, "redrive %d: %v (kept in the DLQ)\n", f.seq, err)
				failed++
				continue
			}
			done++
			if !o.keep {
				if err := s.DeleteMsg(dctx, f.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					fmt.Fprintf(stderr, "redriven %d but not removed from the DLQ: %v\n", f.seq, err)
				}
			}
		}
		window = window[:0]
		prog.update(rd.Read(), rd.Total(), counts())
	}
	for rd.Next(ctx) {
		e := rd.Entry()
		matched++
		if e.Subject == "" || !strings.HasPrefix(e.Subject, "logs.") {
			fmt.Fprintf(stderr, "skip %d: no subject to redrive to (%q)\n", e.Seq, e.Subject)
			failed++
			continue
		}
		if o.dry {
			as := ""
			if o.legacyEvents && legacyEvent(e.Record) {
				as = ", marked as a jetlog event"
			}
			fmt.Fprintf(stdout, "would redrive %d (%s, %s) to %s%s\n", e.Seq, e.Stage, e.Kind, e.Subject, as)
			prog.update(rd.Read(), rd.Total(), counts())
			continue
		}
		ack, err := js.PublishMsgAsync(redriveMsg(e, o))
		if err != nil {
			fmt.Fprintf(stderr, "redrive %d: %v (kept in the DLQ)\n", e.Seq, err)
			failed++
			continue
		}
		window = append(window, inflight{seq: e.Seq, ack: ack})
		if len(window) == o.window {
			finish()
		}
	}
	finish()
	prog.finish()
	if err := rd.Err(); err != nil {
		fmt.Fprintf(stderr, "jetlog dlq redrive: stopped after %d read: %v\n", rd.Read(), err)
		failed++
	}
	if o.dry {
		fmt.Fprintf(stderr, "%d dead letter(s) match, %d read\n", matched, rd.Read())
	} else {
		fmt.Fprintf(stdout, "redrove %d dead letter(s), %d failed\n", done, failed)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// dlqRemove deletes the dead letters seqs names that q selects, or, with no
// seqs, every one q selects, one message at a time as they are read.
func dlqRemove(ctx context.Context, js jetstream.JetStream, q dlq.Query, seqs []uint64, dry bool, stdout, stderr io.Writer) int {
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq rm: %v\n", err)
		return 1
	}
	removed, failed := 0, 0
	remove := func(e dlq.Entry) {
		if dry {
			fmt.Fprintf(stdout, "would remove %d (%s, %s): %s\n", e.Seq, e.Stage, e.Kind, shorten(e.Reason, 100))
			removed++
			return
		}
		if err := s.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			fmt.Fprintf(stderr, "remove %d: %v\n", e.Seq, err)
			failed++
			return
		}
		removed++
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	if len(seqs) > 0 {
		for _, seq := range seqs {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				fmt.Fprintf(stderr, "remove %d: %v\n", seq, err)
				failed++
				continue
			}
			r, err := dlq.Parse(m.Header, m.Data)
			if err != nil {
				fmt.Fprintf(stderr, "remove %d: %v\n", seq, err)
				failed++
				continue
			}
			if e := (dlq.Entry{Seq: seq, Stored: m.Time, Record: r}); q.Match(e) {
				remove(e)
			} else {
				fmt.Fprintf(stderr, "keep %d: the filters do not select it\n", seq)
			}
		}
	} else {
		rd, err := dlq.Open(ctx, js, q)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog dlq rm: %v\n", err)
			return 1
		}
		defer rd.Close()
		prog := newProgress(stderr, "jetlog dlq rm")
		for rd.Next(ctx) {
			remove(rd.Entry())
			prog.update(rd.Read(), rd.Total(), fmt.Sprintf("%d %s", removed, verb))
		}
		prog.finish()
		if err := rd.Err(); err != nil {
			fmt.Fprintf(stderr, "jetlog dlq rm: stopped after %d read: %v\n", rd.Read(), err)
			failed++
		}
	}
	fmt.Fprintf(stdout, "%s %d dead letter(s), %d failed\n", verb, removed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// purgeOptions are the flags of jetlog dlq purge, and where to ask.
type purgeOptions struct {
	yes, dry bool
	tty      bool // stdin is a terminal to ask on
	stdin    io.Reader
}

// dlqPurge removes every dead letter, or one stage's, with one stream purge
// bounded by the last sequence counted, so what arrives while the operator
// answers is not removed unseen.
func dlqPurge(ctx context.Context, js jetstream.JetStream, stage string, o purgeOptions, stdout, stderr io.Writer) int {
	q := dlq.Query{Stage: stage}
	subject := q.Subject()
	s, err := js.Stream(ctx, topology.DLQStream)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq purge: %v\n", err)
		return 1
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		fmt.Fprintf(stderr, "jetlog dlq purge: %v\n", err)
		return 1
	}
	var n uint64
	subjects := make([]string, 0, len(info.State.Subjects))
	for subj, c := range info.State.Subjects {
		n += c
		subjects = append(subjects, fmt.Sprintf("%s: %d", subj, c))
	}
	sort.Strings(subjects)
	if n == 0 {
		fmt.Fprintf(stdout, "no dead letters on %s\n", subject)
		return 0
	}
	what := fmt.Sprintf("%d dead letter(s) on %s (%s)", n, subject, strings.Join(subjects, ", "))
	if o.dry {
		fmt.Fprintf(stdout, "would purge %s\n", what)
		return 0
	}
	if !o.yes {
		if !o.tty {
			fmt.Fprintf(stderr, "jetlog dlq purge: would purge %s; give -yes to confirm (standard input is not a terminal to ask on)\n", what)
			return 2
		}
		if !confirm(fmt.Sprintf("Purge %s? [y/N] ", what), o.stdin, stderr) {
			fmt.Fprintln(stderr, "not purged")
			return 1
		}
	}
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSequence(info.State.LastSeq + 1)}
	if stage != "" {
		opts = append(opts, jetstream.WithPurgeSubject(subject))
	}
	if err := s.Purge(ctx, opts...); err != nil {
		fmt.Fprintf(stderr, "jetlog dlq purge: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "purged %s\n", what)
	return 0
}

// confirm asks question and reports whether the answer is yes.
func confirm(question string, stdin io.Reader, stderr io.Writer) bool {
	fmt.Fprint(stderr, question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
