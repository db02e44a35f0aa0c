package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/notifier/egress"
)

// ReceiverConfig is a named receiver with its integrations, as
// Alertmanager's `receivers` entries. A receiver with no integration
// notifies nobody (a way to drop what a route catches).
type ReceiverConfig struct {
	Name                string               `yaml:"name"`
	WebhookConfigs      []WebhookConfig      `yaml:"webhook_configs"`
	SlackConfigs        []SlackConfig        `yaml:"slack_configs"`
	AlertmanagerConfigs []AlertmanagerConfig `yaml:"alertmanager_configs"`
	EmailConfigs        []EmailConfig        `yaml:"email_configs"`
	NATSConfigs         []NATSConfig         `yaml:"nats_configs"`
}

// Common are the keys every HTTP and SMTP integration has.
type Common struct {
	// SendResolved sends resolved alerts too (default: true, but false for
	// email, as in Alertmanager).
	SendResolved *bool `yaml:"send_resolved"`
	// MaxAlerts bounds the alerts of one notification (0: all); the rest
	// are counted in truncatedAlerts.
	MaxAlerts int `yaml:"max_alerts"`
	// Timeout bounds one attempt (0: the notifier's timeout).
	Timeout time.Duration `yaml:"timeout"`
	// AllowCIDRs are internal ranges this integration may reach despite
	// the SSRF guard (127.0.0.0/8, 10.1.0.0/16, …).
	AllowCIDRs []string `yaml:"allow_cidrs"`
}

// WebhookConfig posts Alertmanager's webhook JSON (or Body), signed per
// Standard Webhooks when a secret is given.
type WebhookConfig struct {
	Common `yaml:",inline"`
	URL    string `yaml:"url"`
	// SecretFile or SecretEnv hold the signing secret, whsec_<base64>.
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// Body is a template of the request body (default: the JSON payload).
	Body string `yaml:"body"`
}

// SlackConfig posts to a Slack incoming webhook, whose URL is a secret.
type SlackConfig struct {
	Common    `yaml:",inline"`
	URLFile   string `yaml:"url_file"`
	URLEnv    string `yaml:"url_env"`
	Channel   string `yaml:"channel"`
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	Title     string `yaml:"title"`
	Text      string `yaml:"text"`
	Color     string `yaml:"color"`
}

// AlertmanagerConfig posts alerts to an Alertmanager's /api/v2/alerts.
type AlertmanagerConfig struct {
	Common       `yaml:",inline"`
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// EmailConfig sends mail through an SMTP server with STARTTLS.
type EmailConfig struct {
	Common       `yaml:",inline"`
	To           []string  `yaml:"to"`
	From         string    `yaml:"from"`
	Smarthost    string    `yaml:"smarthost"`
	Hello        string    `yaml:"hello"`
	Username     string    `yaml:"auth_username"`
	PasswordFile string    `yaml:"auth_password_file"`
	PasswordEnv  string    `yaml:"auth_password_env"`
	RequireTLS   *bool     `yaml:"require_tls"`
	TLS          TLSConfig `yaml:"tls"`
	Subject      string    `yaml:"subject"`
	Text         string    `yaml:"text"`
}

// TLSConfig verifies the SMTP server after STARTTLS.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// NATSConfig publishes the webhook JSON on a subject, with the notification
// id as Nats-Msg-Id.
type NATSConfig struct {
	SendResolved *bool  `yaml:"send_resolved"`
	MaxAlerts    int    `yaml:"max_alerts"`
	Subject      string `yaml:"subject"`
	// JetStream publishes with an acknowledgement (a stream must capture
	// the subject; default true); false publishes on core NATS.
	JetStream *bool `yaml:"jetstream"`
}

// Validate checks a receiver without reading its secrets.
func (r *ReceiverConfig) Validate() error {
	var errs config.Errors
	if r.Name == "" {
		errs.Addf("name", "is empty")
	}
	for i, c := range r.WebhookConfigs {
		p := fmt.Sprintf("webhook_configs[%d]", i)
		checkURL(&errs, p+".url", c.URL)
		checkCommon(&errs, p, c.Common)
		checkSecret(&errs, p, "secret", c.SecretFile, c.SecretEnv, false)
	}
	for i, c := range r.SlackConfigs {
		p := fmt.Sprintf("slack_configs[%d]", i)
		checkCommon(&errs, p, c.Common)
		checkSecret(&errs, p, "url", c.URLFile, c.URLEnv, true)
	}
	for i, c := range r.AlertmanagerConfigs {
		p := fmt.Sprintf("alertmanager_configs[%d]", i)
		checkURL(&errs, p+".url", c.URL)
		checkCommon(&errs, p, c.Common)
		checkSecret(&errs, p, "password", c.PasswordFile, c.PasswordEnv, false)
		if (c.PasswordFile != "" || c.PasswordEnv != "") != (c.Username != "") {
			errs.Addf(p+".username", "basic authentication needs a username and a password (password_file or password_env)")
		}
	}
	for i, c := range r.EmailConfigs {
		p := fmt.Sprintf("email_configs[%d]", i)
		checkCommon(&errs, p, c.Common)
		if len(c.To) == 0 {
			errs.Addf(p+".to", "is empty")
		}
		for j, a := range c.To {
			if _, err := mail.ParseAddress(a); err != nil {
				errs.Addf(fmt.Sprintf("%s.to[%d]", p, j), "%q: %v", a, err)
			}
		}
		if _, err := mail.ParseAddress(c.From); err != nil {
			errs.Addf(p+".from", "%q: %v", c.From, err)
		}
		if _, port, err := net.SplitHostPort(c.Smarthost); err != nil || port == "" {
			errs.Addf(p+".smarthost", "%q is not host:port", c.Smarthost)
		}
		checkSecret(&errs, p, "auth_password", c.PasswordFile, c.PasswordEnv, false)
	}
	for i, c := range r.NATSConfigs {
		p := fmt.Sprintf("nats_configs[%d]", i)
		switch {
		case c.Subject == "" || strings.ContainsAny(c.Subject, " \t*>"):
			errs.Addf(p+".subject", "%q is not a subject to publish on", c.Subject)
		case strings.HasPrefix(c.Subject, "alerts.") || strings.HasPrefix(c.Subject, "notify."):
			errs.Addf(p+".subject", "%q is inside jetlog's own alerts.> or notify.> subjects: choose another", c.Subject)
		}
		if c.MaxAlerts < 0 {
			errs.Addf(p+".max_alerts", "is negative")
		}
	}
	return errs.Err()
}

func checkURL(errs *config.Errors, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.Addf(path, "%q is not an http(s) URL", redactURL(s))
	}
}

func checkCommon(errs *config.Errors, path string, c Common) {
	if c.MaxAlerts < 0 {
		errs.Addf(path+".max_alerts", "is negative")
	}
	if c.Timeout < 0 {
		errs.Addf(path+".timeout", "is negative")
	}
	if _, err := egress.ParseAllow(c.AllowCIDRs); err != nil {
		errs.Addf(path+".allow_cidrs", "%v", err)
	}
}

// checkSecret checks where a secret comes from (config.CheckSecret); a
// required one must be given.
func checkSecret(errs *config.Errors, path, what, file, env string, required bool) {
	config.CheckSecret(errs, path, what, file, env)
	if required && file == "" && env == "" {
		errs.Addf(path+"."+what+"_file", "is required (or %s_env): the secret never goes in the configuration itself", what)
	}
}

// readSecret reads a secret from its file or variable ("" when neither is
// given), without surrounding whitespace.
func readSecret(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	case env != "":
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	return "", nil
}

// redactURL hides credentials and query values of a URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.Redacted()
}

// base holds what every integration shares.
type base struct {
	sendResolved bool
	maxAlerts    int
	externalURL  string
}

func (b *base) SendResolved() bool { return b.sendResolved }
func (b *base) MaxAlerts() int     { return b.maxAlerts }

// BuildOptions is what building a receiver's integrations needs.
type BuildOptions struct {
	Templates   *Templates
	ExternalURL string
	// Timeout is the default per-attempt timeout.
	Timeout time.Duration
	NC      *nats.Conn
	JS      jetstream.JetStream
}

// Named is an integration with its name within the receiver
// (webhook[0], slack[1], …).
type Named struct {
	Name string
	Integration
}

// Build makes the receiver's integrations, reading their secrets; errors
// name the key, never the secret.
func (r *ReceiverConfig) Build(o BuildOptions) ([]Named, error) {
	var errs config.Errors
	var out []Named
	add := func(kind string, i int, in Integration) {
		out = append(out, Named{Name: fmt.Sprintf("%s[%d]", kind, i), Integration: in})
	}
	compile := func(path, text, def string) *Body {
		if text == "" {
			text = def
		}
		b, err := o.Templates.Compile(text)
		if err != nil {
			errs.Addf(path, "%v", err)
		}
		return b
	}
	client := func(path string, c Common) (*http.Client, egress.Guard) {
		allow, _ := egress.ParseAllow(c.AllowCIDRs)
		g := egress.Guard{Allow: allow}
		return g.Client(o.timeout(c.Timeout)), g
	}
	mkBase := func(c Common, def bool) base {
		sr := def
		if c.SendResolved != nil {
			sr = *c.SendResolved
		}
		return base{sendResolved: sr, maxAlerts: c.MaxAlerts, externalURL: o.ExternalURL}
	}
	for i, c := range r.WebhookConfigs {
		p := fmt.Sprintf("webhook_configs[%d]", i)
		w := &webhook{base: mkBase(c.Common, true), url: c.URL}
		w.client, _ = client(p, c.Common)
		secret, err := readSecret(c.SecretFile, c.SecretEnv)
		if err != nil {
			errs.Addf(p+".secret_file", "%v", err)
		} else if secret != "" {
			if w.signer, err = NewSigner(secret); err != nil {
				errs.Addf(p+".secret", "%v", err)
			}
		}
		if c.Body != "" {
			w.body = compile(p+".body", c.Body, "")
		}
		add("webhook", i, w)
	}
	for i, c := range r.SlackConfigs {
		p := fmt.Sprintf("slack_configs[%d]", i)
		s := &slack{base: mkBase(c.Common, true), channel: c.Channel, username: c.Username, icon: c.IconEmoji}
		s.client, _ = client(p, c.Common)
		u, err := readSecret(c.URLFile, c.URLEnv)
		if err != nil {
			errs.Addf(p+".url_file", "%v", err)
		} else if pu, perr := url.Parse(u); perr != nil || pu.Scheme != "https" && pu.Scheme != "http" || pu.Host == "" {
			errs.Addf(p+".url_file", "the secret is not an http(s) URL")
		}
		s.url = u
		s.title = compile(p+".title", c.Title, `{{ template "slack.default.title" . }}`)
		s.text = compile(p+".text", c.Text, `{{ template "slack.default.text" . }}`)
		s.color = compile(p+".color", c.Color, `{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}`)
		add("slack", i, s)
	}
	for i, c := range r.AlertmanagerConfigs {
		p := fmt.Sprintf("alertmanager_configs[%d]", i)
		a := &alertmanager{base: mkBase(c.Common, true), url: c.URL, user: c.Username}
		a.client, _ = client(p, c.Common)
		pw, err := readSecret(c.PasswordFile, c.PasswordEnv)
		if err != nil {
			errs.Addf(p+".password_file", "%v", err)
		}
		a.password = pw
		add("alertmanager", i, a)
	}
	for i, c := range r.EmailConfigs {
		p := fmt.Sprintf("email_configs[%d]", i)
		e := &email{base: mkBase(c.Common, false), smarthost: c.Smarthost, hello: c.Hello, from: c.From, to: c.To,
			user: c.Username, requireTLS: c.RequireTLS == nil || *c.RequireTLS, timeout: o.timeout(c.Timeout)}
		if e.hello == "" {
			e.hello = "localhost"
		}
		_, e.guard = client(p, c.Common)
		pw, err := readSecret(c.PasswordFile, c.PasswordEnv)
		if err != nil {
			errs.Addf(p+".auth_password_file", "%v", err)
		}
		e.password = pw
		e.tls = &tls.Config{ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // the operator's choice, for tests
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			pool := x509.NewCertPool()
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				errs.Addf(p+".tls.ca_file", "cannot read a PEM certificate from %s", c.TLS.CAFile)
			}
			e.tls.RootCAs = pool
		}
		e.subject = compile(p+".subject", c.Subject, `{{ template "email.default.subject" . }}`)
		e.text = compile(p+".text", c.Text, `{{ template "email.default.text" . }}`)
		add("email", i, e)
	}
	for i, c := range r.NATSConfigs {
		n := &natsOut{base: base{sendResolved: c.SendResolved == nil || *c.SendResolved, maxAlerts: c.MaxAlerts, externalURL: o.ExternalURL},
			subject: c.Subject, jetstream: c.JetStream == nil || *c.JetStream, nc: o.NC, js: o.JS}
		if o.NC == nil {
			errs.Merge(fmt.Sprintf("nats_configs[%d]", i), errors.New("no NATS connection"))
		}
		add("nats", i, n)
	}
	return out, errs.Err()
}

func (o BuildOptions) timeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 10 * time.Second
}
