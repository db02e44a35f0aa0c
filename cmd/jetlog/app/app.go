// Package app is jetlog's all-in-one program: the host (package host) with
// every component of jetlog: the ingest gateway, the enricher, the archiver,
// the indexer, the alerter and the notifier, with NATS in-process by default. `jetlog run` runs it; tests
// embed it.
package app

import (
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/alerter/alerting"
	"github.com/jetlog/jetlog/services/enricher/archive"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/gateway/gateway"
	"github.com/jetlog/jetlog/services/indexer/index"
	"github.com/jetlog/jetlog/services/notifier/notifier"
)

// Factories returns jetlog's components in the order of the configuration
// file.
func Factories() []component.Factory {
	return []component.Factory{gateway.Component, enrich.Spec.Factory(), archive.Factory(), index.Spec.Factory(), alerting.Component, notifier.Component}
}

// Options describe `jetlog run`: every component, NATS in-process.
func Options() host.Options {
	return host.Options{Name: "jetlog", Factories: Factories(), EmbeddedNATS: true, AdminPort: host.DefaultAdminPort}
}

// NewConfig returns the defaults of `jetlog run`.
func NewConfig() *host.Config { return host.NewConfig(Options()) }

// Gateway returns the configuration sections of the gateway, the enricher
// and the indexer, for tests and tools that adjust them in code.
func Gateway(c *host.Config) *gateway.Config { return host.SectionOf[gateway.Config](c, "gateway") }

// Enricher returns the enricher's section.
func Enricher(c *host.Config) *worker.Section[enrich.Config] {
	return host.SectionOf[worker.Section[enrich.Config]](c, "enricher")
}

// Indexer returns the indexer's section.
func Indexer(c *host.Config) *worker.Section[index.Settings] {
	return host.SectionOf[worker.Section[index.Settings]](c, "indexer")
}

// Alerter returns the alerter's section.
func Alerter(c *host.Config) *alerting.Config { return host.SectionOf[alerting.Config](c, "alerter") }

// GatewayOf returns the running gateway of h, or nil.
func GatewayOf(h *host.Host) *gateway.Gateway {
	g, _ := h.Component("gateway").(*gateway.Gateway)
	return g
}

// Notifier returns the notifier's section.
func Notifier(c *host.Config) *notifier.Config { return host.SectionOf[notifier.Config](c, "notifier") }
