package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishCmd publishes each argument, or each line of stdin, as one raw
// event, and reports only what JetStream acknowledged.
func publishCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jetlog publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", nats.DefaultURL, "NATS server URL")
	subject := fs.String("subject", "logs.raw.cli", "subject to publish on (under logs.raw.)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jetlog publish [-nats url] [-subject logs.raw.<source>] [message]...\n\nWith no message arguments, each line of standard input is one message.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nc, err := nats.Connect(*url, nats.Name("jetlog-publish"))
	if err != nil {
		fmt.Fprintf(stderr, "jetlog publish: %v\n", err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog publish: %v\n", err)
		return 1
	}
	msgs := fs.Args()
	if len(msgs) == 0 {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				msgs = append(msgs, line)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(stderr, "jetlog publish: read stdin: %v\n", err)
			return 1
		}
	}
	ok := 0
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := js.Publish(ctx, *subject, []byte(m))
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "jetlog publish: %v\n", err)
			continue
		}
		ok++
	}
	fmt.Fprintf(stdout, "published %d of %d messages to %s\n", ok, len(msgs), *subject)
	if ok != len(msgs) {
		return 1
	}
	return 0
}
