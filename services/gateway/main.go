// Command gateway is jetlog's ingest gateway as its own process: forward
// protocol, HTTP, _bulk-compatible and OTLP/HTTP in; JetStream out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/admin"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/gateway/gateway"
)

// fileConfig is the gateway's configuration file.
type fileConfig struct {
	NATS            natsclient.Config  `yaml:"nats"`
	Streams         topology.Limits    `yaml:"streams"`
	Admin           worker.AdminConfig `yaml:"admin"`
	Log             logging.Config     `yaml:"log"`
	ShutdownTimeout time.Duration      `yaml:"shutdown_timeout"`
	gateway.Config  `yaml:",inline"`
}

func (c *fileConfig) Validate() error {
	var errs config.Errors
	errs.Check("nats", &c.NATS)
	errs.Check("streams", &c.Streams)
	errs.Check("log", &c.Log)
	errs.Merge("", c.Config.Validate())
	if c.ShutdownTimeout <= 0 {
		errs.Addf("shutdown_timeout", "must be > 0")
	}
	return errs.Err()
}

func main() { os.Exit(command(os.Args[1:], os.Stderr)) }

func command(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.BindFlags(fs, "auth.required=true")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := fileConfig{
		NATS: natsclient.Config{URL: nats.DefaultURL}, Streams: topology.DefaultLimits(),
		Admin: worker.AdminConfig{Listen: "127.0.0.1:9465"}, Log: logging.Defaults(),
		ShutdownTimeout: 30 * time.Second, Config: gateway.Defaults(),
	}
	if err := flags.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}
	if flags.Check {
		fmt.Fprintln(stderr, "gateway: configuration is valid")
		return 0
	}
	log := logging.New(cfg.Log, stderr).With("service", "gateway")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exiting", "err", err)
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	return 0
}

func run(ctx context.Context, cfg fileConfig, log *slog.Logger) error {
	nc, err := natsclient.Connect(cfg.NATS, "jetlog-gateway", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := topology.Ensure(setup, js, cfg.Streams); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	g, err := gateway.New(cfg.Config, nc, reg, log)
	if err != nil {
		return err
	}
	var adm *admin.Server
	if cfg.Admin.Listen != "" {
		adm = admin.New(cfg.Admin.Listen, reg, log)
		if cfg.Admin.Pprof {
			adm.EnablePprof()
		}
		adm.AddCheck("gateway", g.Ready)
		if err := adm.Start(); err != nil {
			return err
		}
	}
	if err := g.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("draining", "timeout", cfg.ShutdownTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer scancel()
	errs := []error{g.Stop(sctx)}
	if adm != nil {
		errs = append(errs, adm.Stop(sctx))
	}
	errs = append(errs, nc.FlushTimeout(5*time.Second))
	return errors.Join(errs...)
}
