package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// publishCmd publishes each argument, or each line of stdin, as one raw
// event, and reports only what JetStream acknowledged.
func publishCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jetlog publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := bindClientFlags(fs)
	subject := fs.String("subject", "logs.raw.cli", "subject to publish on (under logs.raw.)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: jetlog publish [-config file] [-set path=value]... [-nats URL] [-subject logs.raw.<source>] [message]...\n\n"+
			"With no message arguments, each line of standard input is one message.\n\n%s\n\n", clientHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	nc, js, done, err := conn.connect("publish", stderr)
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetlog publish: %v\n", err)
		return exitCode(err)
	}
	defer nc.Close()
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
