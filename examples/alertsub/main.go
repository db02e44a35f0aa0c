// Command alertsub is a live alert subscriber written against the alert
// subject contract alone (package libs/alert): it reads alert events from
// the ALERTS stream with a JetStream ordered consumer, filtered by subject
// (alerts.<state>.<severity>.<rule>), and prints one line per event. It
// resumes after the last stream sequence it printed when given -from, so
// a restarted subscriber sees no gap and no repeat.
//
//	alertsub -nats nats://127.0.0.1:4222 -subject 'alerts.firing.critical.>' -from 0
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
)

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL")
	subject := flag.String("subject", "alerts.>", "subject filter: alerts.firing.> (firing), alerts.*.critical.> (critical), alerts.*.*.<rule>")
	from := flag.Uint64("from", 0, "print events after this ALERTS sequence (0: from the oldest kept)")
	count := flag.Int("count", 0, "exit after this many events (0: run until interrupted)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *subject, *from, *count); err != nil {
		fmt.Fprintln(os.Stderr, "alertsub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, subject string, from uint64, count int) error {
	nc, err := nats.Connect(url, nats.Name("alertsub"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	cons, err := js.OrderedConsumer(ctx, "ALERTS", cfg)
	if err != nil {
		return err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); msgs.Stop() }()
	for n := 0; count == 0 || n < count; n++ {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var a alert.Alert
		if err := json.Unmarshal(m.Data(), &a); err != nil {
			return fmt.Errorf("%s: not an alert event: %w", m.Subject(), err)
		}
		md, _ := m.Metadata()
		fmt.Printf("%d %s %s %s %s %s\n", md.Sequence.Stream, a.State, a.Severity, a.Rule, a.Fingerprint, a.Annotations["summary"])
	}
	return nil
}
