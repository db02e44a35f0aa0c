package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// rulesCmd checks alert rules and runs them over sample events.
func rulesCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "test" && args[0] != "check") {
		fmt.Fprintln(stderr, `usage: jetlog rules <check|test> [dir or files...] [--events sample.ndjson] [--until 10m]

  check  compile the rules (default dir: rules) and report every problem with its file and line
  test   compile them and run the tests: section of each file; with --events, run
         the rules over the events of an NDJSON file (one event per line, in the
         shape LOGS carries) and print every alert transition and when`)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("jetlog rules "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "test: list passing tests too")
	events := fs.String("events", "", "test: run the rules over the events of this NDJSON file instead of their tests")
	until := fs.Duration("until", 0, "test --events: run the clock on this long after the last event (flatline, resolution)")
	paths, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"rules"}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog rules: %v\n", err)
			return 2
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		m, _ := rule.Files(p)
		files = append(files, m...)
	}
	var errs config.Errors
	set := rule.Load(rule.ReadFiles(files, &errs), rule.DefaultOptions())
	set.Refused.List = append(errs.List, set.Refused.List...)
	if err := set.Refused.Err(); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "%d rule file(s) refused\n", len(set.RefusedFiles()))
		return 1
	}
	switch {
	case sub == "check":
		fmt.Fprintf(stdout, "%d rule(s) OK\n", len(set.Rules))
		return 0
	case *events != "":
		return rulesOverEvents(set.Rules, *events, *until, stdout, stderr)
	}
	var outcomes []testOutcome
	for _, r := range set.Rules {
		for _, res := range engine.RunTests(r) {
			outcomes = append(outcomes, testOutcome{name: res.Rule, file: res.File, test: res.Test, failures: res.Failures})
		}
	}
	return reportTests(stdout, *verbose, outcomes)
}

// parseInterspersed parses flags that may come after the positional
// arguments (jetlog rules test FILE --events x.ndjson).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// rulesOverEvents runs the rules over the events of an NDJSON file, in the
// file's order, and prints what would fire and when.
func rulesOverEvents(rules []*rule.Rule, path string, until time.Duration, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog rules: %v\n", err)
		return 2
	}
	defer f.Close()
	var raw []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			fmt.Fprintf(stderr, "jetlog rules: %s:%d: %v\n", path, line, err)
			return 1
		}
		raw = append(raw, m)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "jetlog rules: %s: %v\n", path, err)
		return 1
	}
	evs, err := engine.TestEvents(raw)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog rules: %s: %v\n", path, err)
		return 1
	}
	sim := engine.ReplayRules(rules, evs, until)
	t0, last := engine.TestTime, engine.TestTime
	for i, ev := range evs {
		if i == 0 {
			t0, last = ev.Timestamp, ev.Timestamp
		}
		if ev.Timestamp.After(last) {
			last = ev.Timestamp
		}
	}
	out := sim.Alerts()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	fmt.Fprintf(stdout, "%d events from %s to %s, %d rule(s)\n", len(evs), t0.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), len(rules))
	for _, a := range out {
		fmt.Fprintf(stdout, "%s  %-12s %-9s %s%s  value=%g  %s\n", a.At.UTC().Format(time.RFC3339Nano), a.Rule, a.State, a.Fingerprint,
			groupString(a), a.Value, a.Annotations["summary"])
	}
	firing := 0
	for _, a := range out {
		if a.State == alert.StateFiring {
			firing++
		}
	}
	fmt.Fprintf(stdout, "%d transition(s), %d firing\n", len(out), firing)
	if sim.Errors > 0 {
		fmt.Fprintf(stdout, "%d event(s) a rule's condition failed on\n", sim.Errors)
	}
	return 0
}

func groupString(a alert.Alert) string {
	if len(a.Group) == 0 {
		return ""
	}
	keys := make([]string, 0, len(a.Group))
	for k := range a.Group {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := " {"
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += k + "=" + a.Group[k]
	}
	return s + "}"
}
