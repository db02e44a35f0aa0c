// Command natsd runs the NATS server jetlog embeds (libs/natsserver, with
// the settings of `jetlog run`) as a process of its own, so the load-test
// harness can measure the server's CPU time and memory apart from jetlog's
// components.
//
//	natsd -listen 127.0.0.1:4222 -store /tmp/natsd
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetlog/jetlog/libs/natsserver"
)

func main() {
	cfg := natsserver.Defaults()
	flag.StringVar(&cfg.Listen, "listen", cfg.Listen, "client address")
	flag.StringVar(&cfg.StoreDir, "store", cfg.StoreDir, "JetStream's directory")
	flag.StringVar(&cfg.Sync, "sync", cfg.Sync, `fsync interval, or "always"`)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := natsserver.Start(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
	fmt.Println(srv.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
}
