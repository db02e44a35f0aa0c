package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
)

// loadConfig parses the shared -config/-set flags and loads the file.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (app.Config, bool, int) {
	flags := config.BindFlags(fs, "indexer.consumer.batch=500")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, false, 2
	}
	cfg := app.Defaults()
	if err := flags.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "jetlog: %v\n", err)
		return cfg, false, 2
	}
	return cfg, flags.Check, -1
}

func runCmd(args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("jetlog run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, check, code := loadConfig(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if check {
		fmt.Fprintln(stderr, "jetlog: configuration is valid")
		return 0
	}
	log := logging.New(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "jetlog: %v\n", err)
		return 2
	}
	if err := a.Start(ctx); err != nil {
		log.Error("start failed", "err", err)
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		log.Error("stop", "err", err)
		return 1
	}
	return 0
}
