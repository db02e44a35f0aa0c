package app

import (
	"time"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/enrich"
	"github.com/jetlog/jetlog/services/gateway/gateway"
	"github.com/jetlog/jetlog/services/indexer/index"
)

// Config is the all-in-one configuration file (jetlog.yaml).
type Config struct {
	NATS       NATS                    `yaml:"nats"`
	Streams    topology.Limits         `yaml:"streams"`
	OpenSearch osclient.Config         `yaml:"opensearch"`
	Admin      worker.AdminConfig      `yaml:"admin"`
	Log        logging.Config          `yaml:"log"`
	Enricher   Section[enrich.Config]  `yaml:"enricher"`
	Indexer    Section[index.Settings] `yaml:"indexer"`
	Gateway    GatewaySection          `yaml:"gateway"`
	// ShutdownTimeout bounds the drain at SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// NATS says whether to run NATS in-process or connect to a server.
type NATS struct {
	// Embedded runs a NATS server with JetStream inside this process.
	Embedded bool `yaml:"embedded"`
	// Server configures the embedded server.
	Server natsserver.Config `yaml:"server"`
	// Client configures the connection when Embedded is false.
	natsclient.Config `yaml:",inline"`
}

// GatewaySection switches the ingest gateway on and configures it.
type GatewaySection struct {
	Enabled        bool `yaml:"enabled"`
	gateway.Config `yaml:",inline"`
}

// Section is one worker's part of the file: whether it runs, its consumer
// and its own settings.
type Section[C any] struct {
	Enabled  bool                  `yaml:"enabled"`
	Consumer worker.ConsumerConfig `yaml:"consumer"`
	Settings C                     `yaml:",inline"`
}

func section[C any](consumer worker.ConsumerConfig, settings C) Section[C] {
	return Section[C]{Enabled: true, Consumer: consumer, Settings: settings}
}

// Defaults is the embedded default: NATS in-process, the local OpenSearch.
func Defaults() Config {
	return Config{
		NATS:            NATS{Embedded: true, Server: natsserver.Defaults()},
		Streams:         topology.DefaultLimits(),
		OpenSearch:      osclient.Defaults(),
		Admin:           worker.AdminConfig{Listen: "127.0.0.1:9464"},
		Log:             logging.Defaults(),
		Enricher:        section(worker.DefaultConfig(enrich.Spec).Consumer, enrich.Defaults()),
		Indexer:         section(worker.DefaultConfig(index.Spec).Consumer, index.DefaultSettings()),
		Gateway:         GatewaySection{Enabled: true, Config: gateway.Defaults()},
		ShutdownTimeout: 30 * time.Second,
	}
}

// Validate checks the whole file and reports every problem.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.NATS.Embedded {
		errs.Check("nats.server", &c.NATS.Server)
	} else {
		errs.Check("nats", &c.NATS.Config)
	}
	errs.Check("streams", &c.Streams)
	errs.Check("opensearch", &c.OpenSearch)
	errs.Check("log", &c.Log)
	if c.Enricher.Enabled {
		errs.Check("enricher.consumer", &c.Enricher.Consumer)
		errs.Check("enricher", &c.Enricher.Settings)
	}
	if c.Indexer.Enabled {
		errs.Check("indexer.consumer", &c.Indexer.Consumer)
		errs.Check("indexer", &c.Indexer.Settings)
	}
	if c.Gateway.Enabled {
		errs.Check("gateway", &c.Gateway.Config)
	}
	if c.ShutdownTimeout <= 0 {
		errs.Addf("shutdown_timeout", "must be > 0")
	}
	return errs.Err()
}
