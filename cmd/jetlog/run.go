package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// loadConfig parses the shared -config/-set flags and loads the file.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (app.Config, bool, int) {
	file := fs.String("config", "", "YAML configuration file (see jetlog.example.yaml)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	var sets multiFlag
	fs.Var(&sets, "set", "override one setting, path=value (repeatable), e.g. -set indexer.consumer.batch=500")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, false, 2
	}
	cfg := app.Defaults()
	if err := config.Load(config.Source{File: *file, EnvPrefix: "JETLOG_", Set: sets}, &cfg); err != nil {
		fmt.Fprintf(stderr, "jetlog: %v\n", err)
		return cfg, false, 2
	}
	return cfg, *check, -1
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
