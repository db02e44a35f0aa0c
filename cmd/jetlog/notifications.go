package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/delivery"
)

// notificationsCmd lists the delivery log.
func notificationsCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "ls" {
		fmt.Fprintln(stderr, `usage: jetlog notifications ls [-receiver R] [-outcome delivered|retrying|failed] [-id ID] [-since 1h] [-limit N] [-json]

Lists the delivery log (the NOTIFICATIONS stream): one line per attempt to
deliver a notification, oldest first.`)
		return 2
	}
	fs := flag.NewFlagSet("jetlog notifications ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := bindClientFlags(fs)
	receiver := fs.String("receiver", "", "only this receiver")
	outcome := fs.String("outcome", "", "only this outcome: delivered, retrying, failed")
	id := fs.String("id", "", "only the attempts of this notification")
	since := fs.Duration("since", 0, "only attempts younger than this, e.g. 1h")
	limit := fs.Int("limit", 100, "at most this many rows (the newest)")
	asJSON := fs.Bool("json", false, "JSON output, one record per line")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	nc, js, done, err := conn.connect("notifications", stderr)
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetlog notifications: %v\n", err)
		return exitCode(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	subject := delivery.SubjectPrefix + or(*outcome, "*") + "." + or(*receiver, "*")
	var rows []*delivery.Record
	err = readAll(ctx, js, topology.NotificationsStream, subject, func(m jetstream.Msg) bool {
		r, err := delivery.Parse(m.Data())
		if err != nil || (*id != "" && r.ID != *id) || (*since > 0 && time.Since(r.At) > *since) {
			return true
		}
		rows = append(rows, r)
		if len(rows) > *limit {
			rows = rows[1:]
		}
		return true
	})
	if err != nil {
		fmt.Fprintf(stderr, "jetlog notifications ls: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			_ = enc.Encode(r)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tRECEIVER\tINTEGRATION\tSTATUS\tALERTS\tATTEMPT\tOUTCOME\tDURATION\tERROR")
	for _, r := range rows {
		msg := r.Error
		if len(msg) > 100 {
			msg = msg[:100] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.At.Local().Format(time.DateTime), r.ID, r.Receiver, r.Integration,
			r.Status, r.Firing+r.Resolved, r.Attempt, r.Outcome, r.Duration.Round(time.Millisecond), msg)
	}
	_ = tw.Flush()
	fmt.Fprintf(stderr, "%d attempt(s)\n", len(rows))
	return 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return strings.ReplaceAll(s, ".", "_")
}

// readAll calls each for every message of stream on subject stored so far,
// oldest first, until each returns false.
func readAll(ctx context.Context, js jetstream.JetStream, stream, subject string, each func(jetstream.Msg) bool) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("open the %s stream: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
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
			if !each(m) {
				return nil
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				return nil
			}
		}
		if n == 0 {
			return batch.Error()
		}
	}
}
