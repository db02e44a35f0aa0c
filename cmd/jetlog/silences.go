package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetlog/jetlog/services/notifier/silence"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// silencesCmd adds, lists and expires silences.
func silencesCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: jetlog silences <add|ls|rm> [flags]

  add MATCHER...   silence the alerts the matchers match (all must), e.g.
                   jetlog silences add -comment "db maintenance" -duration 2h 'service="db"' 'severity=~"warning|info"'
  ls               list silences (active and pending; -expired adds the expired ones)
  rm ID...         expire silences now (they stay listed, expired, for the record)`)
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("jetlog silences "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn := bindClientFlags(fs)
	var matchers multiFlag
	fs.Var(&matchers, "matcher", "add: a label matcher (repeatable; matchers may also follow the flags)")
	duration := fs.Duration("duration", time.Hour, "add: how long the silence lasts")
	startStr := fs.String("start", "", "add: when it starts, RFC 3339 (default now)")
	endStr := fs.String("end", "", "add: when it ends, RFC 3339 (overrides -duration)")
	author := fs.String("author", os.Getenv("USER"), "add: who silences")
	comment := fs.String("comment", "", "add: why (required)")
	expired := fs.Bool("expired", false, "ls: list expired silences too")
	asJSON := fs.Bool("json", false, "ls: JSON output, one silence per line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nc, js, done, err := conn.connect("silences", stderr)
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jetlog silences: %v\n", err)
		return exitCode(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := silence.Open(ctx, js, nil)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog silences: %v\n", err)
		return 1
	}
	now := time.Now().UTC()
	switch sub {
	case "add":
		s := &silence.Silence{Matchers: append(matchers, fs.Args()...), StartsAt: now, CreatedBy: *author, Comment: *comment}
		if *startStr != "" {
			if s.StartsAt, err = time.Parse(time.RFC3339, *startStr); err != nil {
				fmt.Fprintf(stderr, "jetlog silences add: -start: %v\n", err)
				return 2
			}
		}
		s.EndsAt = s.StartsAt.Add(*duration)
		if *endStr != "" {
			if s.EndsAt, err = time.Parse(time.RFC3339, *endStr); err != nil {
				fmt.Fprintf(stderr, "jetlog silences add: -end: %v\n", err)
				return 2
			}
		}
		id, err := st.Add(ctx, s)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog silences add: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, id)
		return 0
	case "ls":
		all, err := st.List(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog silences ls: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if !*asJSON {
			fmt.Fprintln(tw, "ID\tSTATE\tMATCHERS\tSTARTS\tENDS\tCREATED BY\tCOMMENT")
		}
		n := 0
		for _, s := range all {
			state := s.State(now)
			if state == silence.StateExpired && !*expired {
				continue
			}
			n++
			if *asJSON {
				b, _ := json.Marshal(struct {
					*silence.Silence
					State string `json:"state"`
				}{s, state})
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, state, strings.Join(s.Matchers, ", "),
				s.StartsAt.Local().Format(time.DateTime), s.EndsAt.Local().Format(time.DateTime), s.CreatedBy, s.Comment)
		}
		_ = tw.Flush()
		fmt.Fprintf(stderr, "%d silence(s)\n", n)
		return 0
	case "rm":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "usage: jetlog silences rm ID...")
			return 2
		}
		for _, id := range fs.Args() {
			if err := st.Expire(ctx, id, now); err != nil {
				fmt.Fprintf(stderr, "jetlog silences rm: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "expired %s\n", id)
		}
		return 0
	}
	usage()
	return 2
}
