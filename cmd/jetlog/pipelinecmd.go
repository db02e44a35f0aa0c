package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jetlog/jetlog/services/enricher/pipeline"
)

// pipelineCmd checks and unit-tests pipeline files.
func pipelineCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "test" && args[0] != "check") {
		fmt.Fprintln(stderr, `usage: jetlog pipeline <check|test> [dir or files...]

  check  compile the pipelines (default dir: pipelines) and report every problem
  test   compile them and run the tests: section of each file`)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("jetlog pipeline "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "test: list passing tests too")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"pipelines"}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "jetlog pipeline: %v\n", err)
			return 2
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			files = append(files, m...)
		}
	}
	set, err := pipeline.LoadFiles(files, pipeline.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if sub == "check" {
		fmt.Fprintf(stdout, "%d pipeline(s) OK\n", len(set.Pipelines))
		return 0
	}
	var outcomes []testOutcome
	for _, r := range set.RunTests() {
		outcomes = append(outcomes, testOutcome{name: r.Pipeline, file: r.File, test: r.Test, failures: r.Failures})
	}
	return reportTests(stdout, *verbose, outcomes)
}

// testOutcome is one unit test of a pipeline or a rule, as `jetlog
// pipeline test` and `jetlog rules test` report it.
type testOutcome struct {
	name, file, test string
	failures         []string
}

// reportTests prints each failed test with its failures (and each passed
// one when verbose), then the counts, and returns the exit code: 1 when a
// test failed.
func reportTests(stdout io.Writer, verbose bool, outcomes []testOutcome) int {
	passed, failed := 0, 0
	for _, o := range outcomes {
		if len(o.failures) == 0 {
			passed++
			if verbose {
				fmt.Fprintf(stdout, "ok    %s: %s\n", o.name, o.test)
			}
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL  %s (%s): %s\n", o.name, o.file, o.test)
		for _, f := range o.failures {
			fmt.Fprintf(stdout, "        %s\n", f)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
