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
	passed, failed := 0, 0
	for _, r := range set.RunTests() {
		if r.Passed() {
			passed++
			if *verbose {
				fmt.Fprintf(stdout, "ok    %s: %s\n", r.Pipeline, r.Test)
			}
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL  %s (%s): %s\n", r.Pipeline, r.File, r.Test)
		for _, f := range r.Failures {
			fmt.Fprintf(stdout, "        %s\n", f)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
