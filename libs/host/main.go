package host

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
)

// Main runs the program described by opts until SIGINT or SIGTERM, drains,
// and exits: 0 after a clean drain, 1 on a failure to run, 2 on bad flags or
// configuration. A signal that arrives while components are still starting
// is a clean stop (0). SIGHUP reloads the configuration (Host.Reload); one
// that arrives while the host starts or stops is refused and logged.
func Main(opts Options) { os.Exit(Command(opts, os.Args[1:], os.Stdout, os.Stderr)) }

// Command is Main without the exit, for tests and for CLIs that embed a
// host as a subcommand.
func Command(opts Options, args []string, stdout, stderr io.Writer) int {
	name := opts.Name
	if name == "" {
		name = "jetlog"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	example := "nats.url=nats://127.0.0.1:4222"
	if len(opts.Factories) > 0 {
		example = opts.Factories[0].Info().Name + ".consumer.batch=500"
	}
	flags := config.BindFlags(fs, example)
	only := fs.String("only", "", "run only these components, comma-separated (sets `components`)")
	print := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-config file.yaml] [-set path=value]... [-only a,b] [-check-config] [-print-config]\n\n"+
			"Settings come from defaults, then the file, then JETLOG_* environment variables\n"+
			"(JETLOG_NATS__URL sets nats.url), then -set flags.\n\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	cfg := NewConfig(opts)
	var warnings []string
	var log *slog.Logger
	src := flags.Source()
	src.Warn = func(msg string) {
		if log != nil { // a reload
			log.Warn(msg)
			return
		}
		warnings = append(warnings, msg)
	}
	if *only != "" {
		src.Set = append(src.Set, "components=["+strings.Join(strings.Split(*only, ","), ", ")+"]")
	}
	if err := cfg.Load(src); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if *print {
		out, err := cfg.Marshal()
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s", out)
		return 0
	}
	if flags.Check {
		for _, w := range warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", name, w)
		}
		fmt.Fprintf(stderr, "%s: configuration is valid\n", name)
		return 0
	}
	log = logging.New(cfg.Log, stderr).With("service", name)
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	// SIGHUP is caught from here on (its default would end the process)
	// and reloads, or is refused while the host starts or stops.
	defer reloadOnHangup(h)()
	if err := h.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped by a signal while starting: Start has already
			// stopped what it started, and nothing failed.
			log.Info("stopped during start", "reason", err)
			return 0
		}
		log.Error("start failed", "err", err)
		if errors.Is(err, config.ErrInvalid) {
			return 2
		}
		return 1
	}
	<-ctx.Done()
	log.Info("draining", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := h.Stop(sctx); err != nil {
		log.Error("stop", "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup reloads h's configuration on each SIGHUP until the
// returned function is called, which waits for a reload in progress.
func reloadOnHangup(h *Host) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				_, _ = h.Reload(context.Background()) // Reload logs the outcome
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		signal.Stop(hup)
	}
}
