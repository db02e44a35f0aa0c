// Command jetlog runs the whole pipeline in one process and holds the
// operator's subcommands.
//
//	jetlog run [-config jetlog.yaml] [-set path=value]...   run the pipeline
//	jetlog publish -subject logs.raw.demo [message]...        publish raw events
//	jetlog pipeline check|test [dir|files]                    validate and unit-test pipelines
//	jetlog rules check|test [dir|files] [--events f.ndjson]   validate, unit-test and try alert rules
//	jetlog alerts ls|ack FINGERPRINT                          list and acknowledge open alerts
//	jetlog dlq ls|show|redrive|rm|purge                       inspect, redrive and remove dead letters
//	jetlog silences add|ls|rm                                 silence alerts
//	jetlog notifications ls                                   the delivery log of notifications
//	jetlog version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() { os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type command struct {
	name, summary string
	run           func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the pipeline: NATS (embedded by default), gateway, enricher, indexer, alerter, notifier", runCmd},
		{"publish", "publish raw log lines to a subject with JetStream acknowledgements", publishCmd},
		{"pipeline", "check pipeline files and run their tests (jetlog pipeline test)", pipelineCmd},
		{"rules", "check alert rules, run their tests, or run them over sample events", rulesCmd},
		{"alerts", "list open alerts and acknowledge them", alertsCmd},
		{"dlq", "list, show, redrive and remove dead letters", dlqCmd},
		{"silences", "add, list and expire alert silences", silencesCmd},
		{"notifications", "list the delivery log of notifications", notificationsCmd},
		{"version", "print the version", func(_ []string, _ io.Reader, out, _ io.Writer) int {
			fmt.Fprintln(out, "jetlog", version)
			return 0
		}},
	}
}

func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "jetlog: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: jetlog <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'jetlog <command> -h' for a command's flags.")
}
