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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/alerter/alerting"
)

// alertsCmd lists open alerts and acknowledges them.
func alertsCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: jetlog alerts <ls|ack> [flags]

  ls               list the open alerts (pending, firing, acknowledged)
  ack FINGERPRINT  acknowledge a firing alert: its owner publishes it as
                   acknowledged (alerts.acknowledged.<severity>.<rule>); it
                   still resolves when its condition ends`)
	}
	if len(args) == 0 || (args[0] != "ls" && args[0] != "ack") {
		usage()
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("jetlog alerts "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := bindClientFlags(fs)
	by := fs.String("by", os.Getenv("USER"), "ack: who acknowledges")
	comment := fs.String("comment", "", "ack: why")
	wait := fs.Duration("wait", 10*time.Second, "ack: how long to wait for the alerter to apply it (0: do not wait)")
	asJSON := fs.Bool("json", false, "ls: JSON output")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	nc, js, done, err := conn.connect("alerts", stderr)
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "jetlog alerts: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "jetlog alerts: %v\n", err)
		return 1
	case done:
		return 0
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, topology.AlertStateBucket)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog alerts: bucket %s: %v\n", topology.AlertStateBucket, err)
		return 1
	}
	if sub == "ls" {
		return alertsList(ctx, kv, *asJSON, stdout, stderr)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: jetlog alerts ack FINGERPRINT [-by name] [-comment text]")
		return 2
	}
	return alertsAck(ctx, kv, pos[0], alerting.AckRequest{By: *by, Comment: *comment, At: time.Now().UTC()}, *wait, stdout, stderr)
}

func openAlert(ctx context.Context, kv jetstream.KeyValue, fp string) (*alert.Alert, error) {
	e, err := kv.Get(ctx, alerting.LedgerKey(fp))
	if err != nil {
		return nil, err
	}
	var a alert.Alert
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func alertsList(ctx context.Context, kv jetstream.KeyValue, asJSON bool, stdout, stderr io.Writer) int {
	lister, err := kv.ListKeysFiltered(ctx, "alert.*")
	if err != nil {
		fmt.Fprintf(stderr, "jetlog alerts: %v\n", err)
		return 1
	}
	var out []*alert.Alert
	for k := range lister.Keys() {
		if a, err := openAlert(ctx, kv, strings.TrimPrefix(k, "alert.")); err == nil {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartsAt.Before(out[j].StartsAt) })
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range out {
			_ = enc.Encode(a)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tSTATE\tSEVERITY\tRULE\tSINCE\tGROUP\tSUMMARY")
	for _, a := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Fingerprint, a.State, a.Severity, a.Rule, a.StartsAt.UTC().Format(time.RFC3339),
			strings.TrimSpace(groupString(*a)), a.Annotations["summary"])
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "%d open alert(s)\n", len(out))
	return 0
}

func alertsAck(ctx context.Context, kv jetstream.KeyValue, fp string, req alerting.AckRequest, wait time.Duration, stdout, stderr io.Writer) int {
	a, err := openAlert(ctx, kv, fp)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		fmt.Fprintf(stderr, "jetlog alerts: no open alert %s (jetlog alerts ls lists them)\n", fp)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "jetlog alerts: %v\n", err)
		return 1
	case a.State == alert.StateAcknowledged:
		fmt.Fprintf(stdout, "%s is already acknowledged by %s\n", fp, a.AcknowledgedBy)
		return 0
	case a.State != alert.StateFiring:
		fmt.Fprintf(stderr, "jetlog alerts: %s is %s; only a firing alert can be acknowledged\n", fp, a.State)
		return 1
	}
	b, _ := json.Marshal(req)
	if _, err := kv.Put(ctx, alerting.AckKey(fp), b); err != nil {
		fmt.Fprintf(stderr, "jetlog alerts: %v\n", err)
		return 1
	}
	deadline := time.Now().Add(wait)
	for wait > 0 && time.Now().Before(deadline) {
		if a, err := openAlert(ctx, kv, fp); err == nil && a.State == alert.StateAcknowledged {
			fmt.Fprintf(stdout, "%s (%s) acknowledged by %s\n", fp, a.Rule, a.AcknowledgedBy)
			return 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "%s: acknowledgement recorded; the alerter that owns the alert applies it when it runs\n", fp)
	return 0
}
