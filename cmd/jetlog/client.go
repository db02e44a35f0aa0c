package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/cmd/jetlog/app"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
	"github.com/jetlog/jetlog/libs/natsclient"
)

// clientFlags are the connection flags of jetlog's operator commands (dlq,
// publish): the configuration of the services, read the way `jetlog run`
// reads it (-config file, JETLOG_* variables, -set path=value), and -nats
// URL as a shorthand for a server given by hand.
type clientFlags struct {
	cfg  *config.Flags
	nats string
}

// bindClientFlags registers the connection flags on fs.
func bindClientFlags(fs *flag.FlagSet) *clientFlags {
	f := &clientFlags{cfg: config.BindFlags(fs, "nats.user=ops")}
	fs.StringVar(&f.nats, "nats", "", "NATS server URL(s), comma-separated; shorthand for -set nats.url=URL -set nats.embedded=false")
	return f
}

// clientHelp explains the connection flags in a command's usage.
const clientHelp = `Connection: the same configuration as the services, from -config, the
JETLOG_* environment and -set (the nats section: url, creds_file, nkey_file,
user/password, token, tls); only the nats section is checked. When
nats.embedded is true (the default of jetlog run) this command starts no
server: it connects to the one jetlog run serves, at nats.server.listen.
-nats URL names the server instead (nats.url, with nats.embedded false);
credentials and TLS still come from the configuration.`

// errUsage marks errors that are the caller's (exit code 2).
var errUsage = errors.New("usage")

// connect loads the configuration and opens the connection; done reports
// that -check-config asked only for the check, which was printed.
func (f *clientFlags) connect(name string, stderr io.Writer) (nc *nats.Conn, js jetstream.JetStream, done bool, err error) {
	cfg := app.NewConfig()
	src := f.cfg.Source()
	src.Warn = func(msg string) { fmt.Fprintf(stderr, "jetlog %s: warning: %s\n", name, msg) }
	if f.nats != "" {
		src.Set = append(src.Set, "nats.embedded=false", "nats.url="+strconv.Quote(f.nats))
	}
	if err := cfg.LoadClient(src); err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", errUsage, err)
	}
	cc, err := cfg.ClientNATS()
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.cfg.Check {
		fmt.Fprintf(stderr, "jetlog %s: configuration is valid; NATS at %s\n", name, cc.URL)
		return nil, nil, true, nil
	}
	nc, err = natsclient.Connect(cc, "jetlog-"+name, logging.New(cfg.Log, stderr))
	if err != nil {
		return nil, nil, false, err
	}
	// Every wait is bounded: a lost PubAck ends in an error, never a hang.
	js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, false, err
	}
	return nc, js, false, nil
}

// exitCode maps an error of connect to the command's exit code.
func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
