package host

import (
	"fmt"
	"net"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/logging"
	"github.com/jetlog/jetlog/libs/natsclient"
	"github.com/jetlog/jetlog/libs/natsserver"
	"github.com/jetlog/jetlog/libs/osclient"
	"github.com/jetlog/jetlog/libs/topology"
)

// JetlogSections are the configuration sections of jetlog's own components.
// A process that does not run one of them still accepts its section (and its
// JETLOG_<NAME>__… variables) without checking it, so every process of a
// deployment can read the same file and environment.
var JetlogSections = []string{"gateway", "enricher", "archiver", "indexer", "alerter", "notifier", "api"}

// DefaultAdminPort is the admin port of a process that runs several
// components (jetlog run).
const DefaultAdminPort = 9464

// Keys are the host's own configuration keys, shared by every component of
// the process.
type Keys struct {
	// NATS says how to reach NATS, or to run it in-process.
	NATS NATS `yaml:"nats"`
	// Streams configures the pipeline's streams (package topology).
	Streams topology.Config `yaml:"streams"`
	// OpenSearch is the cluster the components that need one talk to.
	OpenSearch osclient.Config `yaml:"opensearch"`
	// Admin serves /metrics, /healthz and /readyz.
	Admin Admin `yaml:"admin"`
	// Log configures the process's logs.
	Log logging.Config `yaml:"log"`
	// ShutdownTimeout bounds the drain at SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Runtime tunes the Go runtime's memory and garbage collection.
	Runtime Runtime `yaml:"runtime"`
	// Components chooses which of the program's components this process
	// runs; empty runs all of them. The -only flag sets it.
	Components []string `yaml:"components"`
}

// NATS says whether to run NATS in-process or connect to a server.
type NATS struct {
	// Embedded runs a NATS server with JetStream inside this process.
	Embedded bool `yaml:"embedded"`
	// Server configures the embedded server.
	Server natsserver.Config `yaml:"server"`
	// The client connection, used when Embedded is false.
	natsclient.Config `yaml:",inline"`
}

// Runtime tunes the Go garbage collector, which otherwise runs whenever the
// heap doubles: under load that is many times a second and a large share of
// the CPU. With a memory limit the collector can be told to run less often
// (a higher gc_percent, or -1 to let the limit alone decide), trading memory
// the process may use for CPU. Either value 0 keeps the Go default (or the
// GOMEMLIMIT / GOGC environment variables).
type Runtime struct {
	// MemoryLimitBytes is the runtime's soft memory limit (GOMEMLIMIT).
	MemoryLimitBytes int64 `yaml:"memory_limit_bytes"`
	// GCPercent is GOGC: collect when the heap grew by this percentage
	// since the last collection; -1 turns that off, leaving the memory
	// limit to trigger collections (then memory_limit_bytes is required).
	GCPercent int `yaml:"gc_percent"`
}

// Validate checks the settings.
func (r *Runtime) Validate() error {
	var errs config.Errors
	if r.MemoryLimitBytes < 0 || (r.MemoryLimitBytes > 0 && r.MemoryLimitBytes < 32<<20) {
		errs.Addf("memory_limit_bytes", "%d: use 0 (no limit) or at least 32 MiB", r.MemoryLimitBytes)
	}
	if r.GCPercent < -1 {
		errs.Addf("gc_percent", "%d: use -1 (off), 0 (the default) or a percentage", r.GCPercent)
	}
	if r.GCPercent == -1 && r.MemoryLimitBytes == 0 {
		errs.Addf("gc_percent", "-1 turns the collector off: set memory_limit_bytes too, or the heap grows without bound")
	}
	return errs.Err()
}

// apply sets the runtime's limits, and returns what it set for the log.
func (r *Runtime) apply() []any {
	var out []any
	if r.MemoryLimitBytes > 0 {
		debug.SetMemoryLimit(r.MemoryLimitBytes)
		out = append(out, "memory_limit_bytes", r.MemoryLimitBytes)
	}
	if r.GCPercent != 0 {
		debug.SetGCPercent(r.GCPercent)
		out = append(out, "gc_percent", r.GCPercent)
	}
	return out
}

// Admin configures the admin endpoints.
type Admin struct {
	// Enabled serves the endpoints.
	Enabled bool `yaml:"enabled"`
	// Listen is host:port. Empty chooses 127.0.0.1:9464 for a process that
	// runs several components (or the program's own, Options.AdminPort:
	// the enricher binary, which runs the archiver too, keeps 9466), and
	// the component's own port for a process that runs one (gateway 9465,
	// enricher 9466, indexer 9467, archiver 9468, alerter 9469, notifier
	// 9470), so standalone components share a machine without clashing.
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiles under /debug/pprof/.
	Pprof bool `yaml:"pprof"`
}

// Config is a host's whole configuration: its own keys and one section per
// component, keyed by the component's name (indexer.consumer.batch is the
// same key in a file, in JETLOG_INDEXER__CONSUMER__BATCH and in -set,
// whichever process reads it).
type Config struct {
	Keys
	// File is the configuration file the values came from, if any.
	File string

	opts      Options
	factories []component.Factory
	sections  map[string]any
	node      *yaml.Node
	// src is where Load read the values from, so a reload reads the same
	// file, environment and -set flags again; nil for a configuration
	// made in code.
	src *config.Source
}

// NewConfig returns the defaults of a host running factories.
func NewConfig(opts Options) *Config {
	c := &Config{
		Keys: Keys{
			NATS:            NATS{Embedded: opts.EmbeddedNATS, Server: natsserver.Defaults(), Config: natsclient.Config{URL: nats.DefaultURL}},
			Streams:         topology.Defaults(),
			OpenSearch:      osclient.Defaults(),
			Admin:           Admin{Enabled: true},
			Log:             logging.Defaults(),
			ShutdownTimeout: 30 * time.Second,
		},
		opts:      opts,
		factories: opts.Factories,
		sections:  map[string]any{},
	}
	for _, f := range opts.Factories {
		c.sections[f.Info().Name] = f.NewConfig()
	}
	return c
}

// Section returns the configuration of the component named name, or nil.
func (c *Config) Section(name string) any { return c.sections[name] }

// SectionOf returns the configuration of the component named name as a *C.
// It panics when the component is not the program's or its type is not C,
// which is a programming error.
func SectionOf[C any](c *Config, name string) *C {
	s, ok := c.sections[name].(*C)
	if !ok {
		panic(fmt.Sprintf("host: section %q is %T, not *%s", name, c.sections[name], reflect.TypeFor[C]()))
	}
	return s
}

// Factories returns the program's component factories.
func (c *Config) Factories() []component.Factory { return c.factories }

// Running returns the factories of the components this process runs, in
// the program's order.
func (c *Config) Running() []component.Factory {
	if len(c.Components) == 0 {
		return c.factories
	}
	var out []component.Factory
	for _, f := range c.factories {
		if slices.Contains(c.Components, f.Info().Name) {
			out = append(out, f)
		}
	}
	return out
}

// Load fills the configuration from src (file, JETLOG_* variables, -set
// flags) and validates it, every error naming its key and, for the file, its
// line.
func (c *Config) Load(src config.Source) error {
	if err := c.decode(src); err != nil {
		return err
	}
	src.Set = slices.Clone(src.Set)
	c.src = &src
	return c.Validate()
}

// LoadClient fills the configuration from src like Load, but validates only
// the nats section: what a client of the deployment needs, such as jetlog's
// operator commands (jetlog dlq, jetlog publish). They read the same file
// and JETLOG_* variables as the services, so every key is still decoded
// strictly (an unknown key or a wrong type is an error, with its line), but
// the values of sections they do not use, a pipelines_dir that exists only
// on the servers for one, are not checked.
func (c *Config) LoadClient(src config.Source) error {
	if err := c.decode(src); err != nil {
		return err
	}
	var errs config.Errors
	if c.NATS.Embedded {
		if _, err := c.embeddedAddr(); err != nil {
			errs.Addf("nats.server.listen", "%v", err)
		}
	} else {
		errs.Check("nats", &c.NATS.Config)
	}
	return config.Locate(c.File, c.node, errs.Err())
}

// ClientNATS is the connection a client of this deployment opens. With
// nats.embedded false it is the nats section as configured (URLs, creds,
// nkey, user/password, token, TLS). With nats.embedded true, where a
// jetlog run process serves NATS in-process, it is a plain connection to
// that server's address, nats.server.listen (an unspecified host, 0.0.0.0
// or ::, is reached on loopback): a client never starts a server of its own,
// and the embedded server takes no credentials.
func (c *Config) ClientNATS() (natsclient.Config, error) {
	if !c.NATS.Embedded {
		return c.NATS.Config, nil
	}
	addr, err := c.embeddedAddr()
	if err != nil {
		return natsclient.Config{}, fmt.Errorf("%w: nats.server.listen: %w", config.ErrInvalid, err)
	}
	return natsclient.Config{URL: "nats://" + addr}, nil
}

// embeddedAddr is the address a client reaches the embedded server at.
func (c *Config) embeddedAddr() (string, error) {
	listen := c.NATS.Server.Listen
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (%v)", listen, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 {
		return "", fmt.Errorf("%q has no fixed port for a client to connect to "+
			"(give the server's URL with -nats or nats.url, with nats.embedded: false)", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// decode fills the configuration from src without validating it.
func (c *Config) decode(src config.Source) error {
	root := c.root()
	node, err := config.Decode(src, root.Addr().Interface())
	if err != nil {
		return err
	}
	c.File, c.node = src.File, node
	c.Keys = root.Field(0).Interface().(Keys)
	for i, f := range c.factories {
		reflect.ValueOf(c.sections[f.Info().Name]).Elem().Set(root.Field(i + 1))
	}
	return nil
}

// root builds a struct type at run time with the host's keys inline and one
// field per section, so the whole file is decoded strictly in one pass and
// every unknown key is reported with its line.
func (c *Config) root() reflect.Value {
	fields := []reflect.StructField{{Name: "Keys", Type: reflect.TypeFor[Keys](), Tag: `yaml:",inline"`}}
	have := map[string]bool{}
	for i, f := range c.factories {
		name := f.Info().Name
		have[name] = true
		fields = append(fields, reflect.StructField{
			Name: "S" + strconv.Itoa(i), Type: reflect.TypeOf(c.sections[name]).Elem(),
			Tag: reflect.StructTag(`yaml:"` + name + `"`),
		})
	}
	for i, name := range JetlogSections {
		if !have[name] {
			fields = append(fields, reflect.StructField{
				Name: "R" + strconv.Itoa(i), Type: reflect.TypeFor[yaml.Node](), Tag: reflect.StructTag(`yaml:"` + name + `,omitempty"`),
			})
		}
	}
	v := reflect.New(reflect.StructOf(fields)).Elem()
	v.Field(0).Set(reflect.ValueOf(c.Keys))
	for i, f := range c.factories {
		v.Field(i + 1).Set(reflect.ValueOf(c.sections[f.Info().Name]).Elem())
	}
	return v
}

// Type returns the type of the whole configuration file of a program with
// these factories; tests compare it with the example configuration.
func Type(opts Options) reflect.Type { return NewConfig(opts).root().Type() }

// Validate checks the host's keys and the sections of the components this
// process runs, and reports every problem at once.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.NATS.Embedded {
		errs.Check("nats.server", &c.NATS.Server)
	} else {
		errs.Check("nats", &c.NATS.Config)
	}
	errs.Check("streams", &c.Streams)
	errs.Check("log", &c.Log)
	errs.Check("runtime", &c.Runtime)
	if c.Admin.Enabled && c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			errs.Addf("admin.listen", "%q is not host:port (%v)", c.Admin.Listen, err)
		}
	}
	if c.ShutdownTimeout <= 0 {
		errs.Addf("shutdown_timeout", "must be > 0")
	}
	names := make([]string, 0, len(c.factories))
	for _, f := range c.factories {
		names = append(names, f.Info().Name)
	}
	for i, n := range c.Components {
		if !slices.Contains(names, n) {
			errs.Addf(fmt.Sprintf("components[%d]", i), "%q is not a component of this program (it has: %s)", n, strings.Join(names, ", "))
		}
	}
	needOpenSearch := false
	for _, f := range c.Running() {
		name := f.Info().Name
		sec := c.sections[name]
		if v, ok := sec.(interface{ Validate() error }); ok {
			errs.Merge(name, v.Validate())
		}
		needOpenSearch = needOpenSearch || f.Requires(sec).OpenSearch
	}
	if needOpenSearch {
		errs.Check("opensearch", &c.OpenSearch)
	}
	return config.Locate(c.File, c.node, errs.Err())
}

// adminListen is the admin address: the configured one, else the program's
// default for several components, else the one component's own port.
func (c *Config) adminListen() string {
	if c.Admin.Listen != "" {
		return c.Admin.Listen
	}
	run := c.Running()
	if len(run) == 1 {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(run[0].Info().AdminPort))
	}
	port := c.opts.AdminPort
	if port == 0 {
		port = DefaultAdminPort
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Marshal returns the effective configuration as YAML, with the values of
// secret keys (password, token, secret, shared_key) replaced, for
// `-print-config`.
func (c *Config) Marshal() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(c.root().Interface()); err != nil {
		return nil, err
	}
	redact(&doc)
	return yaml.Marshal(&doc)
}

func redact(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			secret := strings.Contains(k, "password") || strings.Contains(k, "token") || strings.Contains(k, "secret") || k == "shared_key"
			if secret && v.Kind == yaml.ScalarNode && v.Value != "" && !strings.HasSuffix(k, "_file") {
				v.Value, v.Tag, v.Style = "<redacted>", "!!str", 0
			}
		}
	}
	for _, c := range n.Content {
		redact(c)
	}
}
