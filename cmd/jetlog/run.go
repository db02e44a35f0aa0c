package main

import (
	"io"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/host"
)

// runCmd runs the pipeline: the host with every component (-only chooses).
func runCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	return host.Command(app.Options(), args, stdout, stderr)
}
