// Command notifier routes, groups and delivers alerts (ALERTS → webhooks,
// Slack, Alertmanager, email, NATS) and serves the live alert stream: the
// host with the notifier component.
package main

import (
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/services/notifier/notifier"
)

func main() {
	host.Main(host.Options{Name: "notifier", Factories: []component.Factory{notifier.Component}})
}
