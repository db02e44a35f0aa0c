package auth

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/config"
)

// Config is the gateway.auth section.
type Config struct {
	// Required makes every HTTP request and every forward connection
	// present a credential: a request without one is answered 401, a
	// forward handshake without one is refused. Off (the default), a
	// request without a credential may write any source, and one with a
	// credential is checked and held to its sources: switch it on once
	// every shipper sends a credential.
	Required bool `yaml:"required"`
	// AllowAnonymousOnNetwork lets the gateway start with Required off
	// although a listener binds an address other hosts can reach. Without
	// it, such a configuration is refused at start, since anyone who
	// reaches the port could write any source. Set it only when something
	// in front of the gateway (a proxy, a network policy) does the
	// authenticating.
	AllowAnonymousOnNetwork bool `yaml:"allow_anonymous_on_network"`
	// ReloadInterval is how often, at most, credential files are read again
	// to pick up a rotated secret. They are read when a request or forward
	// connection arrives and the interval has passed, so an idle gateway
	// reads nothing.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// Credentials are who may write, and which sources each may write.
	Credentials []Credential `yaml:"credentials"`
}

// Credential is one shipper's (or team's) credential: a bearer token, or a
// user name and password, and/or names of verified client certificates,
// with the sources it may write. Secrets are read from a file or an
// environment variable, never from the configuration itself.
type Credential struct {
	// Name names the credential in logs and errors; it is never a secret.
	Name string `yaml:"name"`
	// TokenFile holds a bearer token (Authorization: Bearer <token>), or
	// several, one per line, any of which authenticates: add the new
	// token, move the shippers over, then remove the old one.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding a bearer token (or
	// several, one per line).
	TokenEnv string `yaml:"token_env"`
	// Username is the user name of HTTP basic authentication and of the
	// forward protocol's handshake.
	Username string `yaml:"username"`
	// PasswordFile holds Username's password.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding Username's password.
	PasswordEnv string `yaml:"password_env"`
	// ClientCertNames are names of client certificates that authenticate
	// as this credential: a certificate verified against a listener's
	// tls.client_ca_file whose subject common name, DNS name, URI or email
	// address equals one of them.
	ClientCertNames []string `yaml:"client_cert_names"`
	// Sources are the sources the credential may write: exact names
	// ("billing"), patterns in which '*' stands for any run of characters,
	// dots included ("team-a.*" is every source under team-a), or "*" for
	// every source.
	Sources []string `yaml:"sources"`
}

// Defaults returns the defaults: no credentials, nothing required, files
// checked for rotation every 10 seconds.
func Defaults() Config {
	return Config{ReloadInterval: 10 * time.Second, Credentials: []Credential{}}
}

// Enabled reports whether any credential is configured (or one is
// required): only then does the gateway look at what clients present.
func (c *Config) Enabled() bool { return c.Required || len(c.Credentials) > 0 }

// HasPasswords reports whether some credential has a user name and
// password (usable by HTTP basic authentication and the forward handshake).
func (c *Config) HasPasswords() bool {
	for i := range c.Credentials {
		if c.Credentials[i].Username != "" {
			return true
		}
	}
	return false
}

// HasSecrets reports whether some credential has a token or a password
// (usable over HTTP).
func (c *Config) HasSecrets() bool {
	for i := range c.Credentials {
		if c.Credentials[i].TokenFile != "" || c.Credentials[i].TokenEnv != "" || c.Credentials[i].Username != "" {
			return true
		}
	}
	return false
}

// HasCertNames reports whether some credential is named by client
// certificates.
func (c *Config) HasCertNames() bool {
	for i := range c.Credentials {
		if len(c.Credentials[i].ClientCertNames) > 0 {
			return true
		}
	}
	return false
}

// nameRE is what a credential's name may be: it is logged.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// envPrefix is the prefix of the variables the configuration loader reads
// as settings: a secret there would be taken for one.
const envPrefix = config.EnvPrefix

// Validate checks the section and reports every problem with its path.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.ReloadInterval <= 0 {
		errs.Addf("reload_interval", "%v: must be > 0", c.ReloadInterval)
	}
	if c.Required && len(c.Credentials) == 0 {
		errs.Addf("credentials", "required is on but no credential is configured: nobody could write; add credentials or set required: false")
	}
	names := map[string]int{}
	users := map[string]int{}
	certs := map[string]int{}
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		p := fmt.Sprintf("credentials[%d]", i)
		switch j, dup := names[cr.Name]; {
		case !nameRE.MatchString(cr.Name):
			errs.Addf(p+".name", "%q: give a name of letters, digits, '.', '_' and '-' (at most 64): it names the credential in logs", cr.Name)
		case dup:
			errs.Addf(p+".name", "%q is also the name of credentials[%d]", cr.Name, j)
		default:
			names[cr.Name] = i
		}
		token := cr.TokenFile != "" || cr.TokenEnv != ""
		password := cr.PasswordFile != "" || cr.PasswordEnv != ""
		switch {
		case token && (cr.Username != "" || password):
			errs.Addf(p, "a credential is a bearer token or a username and password, not both: make two credentials")
		case cr.Username != "" && !password:
			errs.Addf(p+".password_file", "username %q has no password: set password_file or password_env", cr.Username)
		case cr.Username == "" && password:
			errs.Addf(p+".username", "a password without a username: set username")
		case !token && !password && len(cr.ClientCertNames) == 0:
			errs.Addf(p, "no secret: set token_file or token_env, username with password_file or password_env, or client_cert_names")
		}
		checkSecret(&errs, p, "token", cr.TokenFile, cr.TokenEnv)
		checkSecret(&errs, p, "password", cr.PasswordFile, cr.PasswordEnv)
		if cr.Username != "" {
			if strings.ContainsAny(cr.Username, ":\x00\r\n") {
				errs.Addf(p+".username", "must not contain ':' or control characters (HTTP basic authentication could not carry it)")
			}
			if j, dup := users[cr.Username]; dup {
				errs.Addf(p+".username", "%q is also the username of credentials[%d]", cr.Username, j)
			}
			users[cr.Username] = i
		}
		for k, n := range cr.ClientCertNames {
			if n == "" {
				errs.Addf(fmt.Sprintf("%s.client_cert_names[%d]", p, k), "is empty")
				continue
			}
			if j, dup := certs[n]; dup && j != i {
				errs.Addf(fmt.Sprintf("%s.client_cert_names[%d]", p, k), "%q also names credentials[%d]", n, j)
			}
			certs[n] = i
		}
		if len(cr.Sources) == 0 {
			errs.Addf(p+".sources", "is empty: the credential could write nothing; list its sources, or \"*\" for all")
		}
		for k, s := range cr.Sources {
			if err := checkPattern(s); err != nil {
				errs.Addf(fmt.Sprintf("%s.sources[%d]", p, k), "%q: %v", s, err)
			}
		}
	}
	return errs.Err()
}

// checkSecret checks where one secret comes from (see config.CheckSecret).
func checkSecret(errs *config.Errors, path, what, file, env string) {
	config.CheckSecret(errs, path, what, file, env)
}

// checkPattern checks a source or source pattern: dot-separated tokens
// without spaces or '>' (what a NATS subject token cannot hold), '*'
// anywhere.
func checkPattern(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case s == "*":
		return nil
	case strings.ContainsAny(s, " \t\r\n>"):
		return fmt.Errorf("sources hold no spaces or '>' (they are NATS subject tokens); '*' stands for any run of characters")
	case strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, ".."):
		return fmt.Errorf("has an empty token: sources are dot-separated names such as team-a.web")
	}
	return nil
}
