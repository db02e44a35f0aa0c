// Package osclient builds an OpenSearch client from configuration, so the
// same binary talks to the local node (plain HTTP on loopback), a secured
// self-managed cluster (basic auth, TLS with a private CA or client
// certificates) and Amazon OpenSearch Service (AWS SigV4).
//
// It uses opensearch-go v4, the maintained major of the official Go client,
// which supports OpenSearch 1.x, 2.x and 3.x.
package osclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/signer/awsv2"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/natsclient"
)

// Config says how to reach OpenSearch.
type Config struct {
	// URLs of the cluster's nodes, e.g. http://127.0.0.1:9200.
	URLs []string `yaml:"urls"`
	// Username and Password enable HTTP basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile reads the password from a file (a mounted secret). The
	// file is read again when it changes and whenever OpenSearch answers
	// 401, so a rotated secret is picked up without a restart.
	PasswordFile string `yaml:"password_file"`
	// TLS configures https:// URLs.
	TLS natsclient.TLS `yaml:"tls"`
	// AWS signs requests with SigV4 for Amazon OpenSearch Service; the
	// credentials come from the usual AWS chain (env, profile, IAM role).
	AWS AWS `yaml:"aws"`
	// Timeout bounds each request attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Compress gzips request bodies, which pays off over slow links.
	Compress bool `yaml:"compress"`
}

// AWS configures SigV4 signing.
type AWS struct {
	// Region enables signing, e.g. eu-west-1.
	Region string `yaml:"region"`
	// Service is "es" for OpenSearch Service domains, "aoss" for Serverless.
	Service string `yaml:"service"`
}

// Defaults returns the configuration of the local node.
func Defaults() Config {
	return Config{URLs: []string{"http://127.0.0.1:9200"}, Timeout: 30 * time.Second, AWS: AWS{Service: "es"}}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs config.Errors
	if len(c.URLs) == 0 {
		errs.Addf("urls", "is empty (e.g. [http://127.0.0.1:9200])")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs.Addf(fmt.Sprintf("urls[%d]", i), "%q is not an http(s):// URL", u)
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs.Addf("password_file", "give password or password_file, not both")
	}
	if c.AWS.Region != "" && c.Username != "" {
		errs.Addf("aws.region", "SigV4 and basic auth exclude each other")
	}
	if c.AWS.Region != "" && c.AWS.Service != "es" && c.AWS.Service != "aoss" {
		errs.Addf("aws.service", "%q: use es or aoss", c.AWS.Service)
	}
	if c.Timeout <= 0 {
		errs.Addf("timeout", "must be > 0")
	}
	errs.Check("tls", &c.TLS)
	return errs.Err()
}

// New returns a client. Transport-level retries are off: callers own their
// retry policy (the indexer classifies each bulk item itself).
func New(ctx context.Context, c Config) (*opensearchapi.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tlsCfg, err := c.TLS.Build()
	if err != nil {
		return nil, fmt.Errorf("opensearch tls: %w", err)
	}
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	} else {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	oc := opensearch.Config{
		Addresses:           c.URLs,
		Username:            c.Username,
		Password:            c.Password,
		Transport:           tr,
		DisableRetry:        true,
		RequestTimeout:      c.Timeout,
		CompressRequestBody: c.Compress,
	}
	if c.PasswordFile != "" {
		pf, err := openPasswordFile(c.PasswordFile)
		if err != nil {
			return nil, err
		}
		// The transport sets the header itself, from the file as it is now.
		oc.Username = ""
		oc.Transport = &basicAuth{next: tr, user: c.Username, password: pf}
	}
	if c.AWS.Region != "" {
		ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.AWS.Region))
		if err != nil {
			return nil, fmt.Errorf("opensearch aws: %w", err)
		}
		if oc.Signer, err = awsv2.NewSignerWithService(ac, c.AWS.Service); err != nil {
			return nil, fmt.Errorf("opensearch aws: %w", err)
		}
	}
	cl, err := opensearchapi.NewClient(opensearchapi.Config{Client: oc})
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", err)
	}
	return cl, nil
}

// ErrUnauthorized is what a 401 from OpenSearch, or from a proxy in front of
// it, means: the configured credentials are refused.
var ErrUnauthorized = errors.New("opensearch refuses our credentials (401): check opensearch.username and opensearch.password or password_file (the file is read again when it changes)")

// Ping checks that the cluster answers and is not red.
func Ping(ctx context.Context, cl *opensearchapi.Client) error {
	resp, err := cl.Cluster.Health(ctx, nil)
	if err != nil {
		switch status := Status(resp.Inspect().Response); status {
		case 0:
			return fmt.Errorf("opensearch unreachable: %w", err)
		case http.StatusUnauthorized:
			return ErrUnauthorized
		default:
			return fmt.Errorf("opensearch refused cluster health (%s)", Refusal(status, err))
		}
	}
	if resp.Status == "red" {
		return errors.New("opensearch cluster health is red")
	}
	return nil
}

// Status returns the HTTP status of an answer from OpenSearch (or from a
// proxy in front of it), or 0 when nothing answered (connection refused,
// timeout).
func Status(r *opensearch.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// Refusal describes a refused request for an operator: its status and, when
// the answer carried one, OpenSearch's error type and reason, as in
// "403 Forbidden: security_exception: no permissions for [...]". A proxy's
// own page (nginx's HTML) is left out. It never contains request headers,
// so no credentials.
func Refusal(status int, err error) string {
	s := fmt.Sprintf("%d %s", status, http.StatusText(status))
	var se *opensearch.StructError
	var str *opensearch.StringError
	switch {
	case errors.As(err, &se):
		s += ": " + se.Err.Type + ": " + se.Err.Reason
	case errors.As(err, &str):
		s += ": " + str.Err
	}
	const max = 400
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
