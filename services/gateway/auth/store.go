package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of an authentication failure, the values of the reason label of
// jetlog_gateway_auth_failures_total (with ingest.ReasonForbiddenSource).
const (
	// ReasonMissing: no credential, while one is required.
	ReasonMissing = "missing"
	// ReasonInvalid: a credential that matches none configured.
	ReasonInvalid = "invalid"
)

// Error is an authentication failure. Its message may be shown to the
// client and logged: it never holds a secret, nor a user name that matches
// no credential (it could be a password typed in the wrong field).
type Error struct {
	// Reason is ReasonMissing or ReasonInvalid.
	Reason string
	// Credential names the credential whose user name matched when the
	// password did not; "" otherwise.
	Credential string
	// bearer marks a bearer token that matched none, for the challenge.
	bearer bool
	msg    string
}

func (e *Error) Error() string { return e.msg }

// NewError returns an authentication failure for reason, with msg for
// the client and the log (which must hold no secret).
func NewError(reason, msg string) *Error { return &Error{Reason: reason, msg: msg} }

// ReasonOf returns the reason of an authentication failure, ReasonInvalid
// for an error that is not an *Error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonInvalid
}

// Options are a Store's collaborators.
type Options struct {
	// Log receives rotations and files that cannot be read; nil means
	// slog.Default().
	Log *slog.Logger
	// Reloads counts re-reads of changed files by result (ok, error); nil
	// counts nothing.
	Reloads *prometheus.CounterVec
}

// Store holds the credentials and checks what clients present.
//
// Secrets are read at New and whenever a credential file changes (at most
// every reload_interval, when a client arrives), and kept only as keyed
// hashes: HMAC-SHA-256 under a key drawn at random when the Store is made,
// compared in constant time. A password is also kept as the digest the
// forward handshake checks (see Handshake), never as itself.
type Store struct {
	cfg     Config
	key     []byte
	log     *slog.Logger
	reloads *prometheus.CounterVec
	now     func() time.Time
	files   bool // some secret comes from a file, so reloading can change it

	snap atomic.Pointer[snapshot]
	next atomic.Int64 // when to look at the files again, in Unix nanoseconds

	mu      sync.Mutex // one reload at a time
	lastErr string     // the last reload failure logged
}

// snapshot is one reading of every secret.
type snapshot struct {
	creds  []*credential
	byUser map[string]*credential
	byCert map[string]*Principal
	// salt is what the forward handshake's HELO sends as "auth"; "" when
	// no credential has a password.
	salt   string
	digest [sha256.Size]byte // of every keyed hash, to tell a change
}

// credential is one configured credential, its secrets hashed.
type credential struct {
	p        *Principal
	tokens   [][]byte // HMACs of the bearer tokens; none when the credential has none
	user     string
	password []byte // HMAC of the password; nil when none
	forward  string // hex(sha512(salt + user + password)), what a forward client proves
}

// New reads every secret of cfg. A secret that cannot be read, or is
// empty, is an error naming the credential and the file or variable.
func New(cfg Config, opts Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Store{cfg: cfg, key: make([]byte, 32), log: opts.Log, reloads: opts.Reloads, now: time.Now}
	_, _ = rand.Read(s.key) // never fails (crypto/rand panics instead)
	for i := range cfg.Credentials {
		s.files = s.files || cfg.Credentials[i].TokenFile != "" || cfg.Credentials[i].PasswordFile != ""
	}
	snap, err := s.load()
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.snap.Store(snap)
	s.next.Store(s.now().Add(cfg.ReloadInterval).UnixNano())
	return s, nil
}

// Enabled reports whether credentials are configured: only then is what a
// client presents looked at. A nil Store is disabled.
func (s *Store) Enabled() bool { return s != nil && s.cfg.Enabled() }

// Required reports whether every client must present a credential.
func (s *Store) Required() bool { return s != nil && s.cfg.Required }

// mac is the keyed hash a secret is kept as.
func (s *Store) mac(secret string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// load reads every secret into a new snapshot.
func (s *Store) load() (*snapshot, error) {
	snap := &snapshot{byUser: map[string]*credential{}, byCert: map[string]*Principal{}}
	if s.cfg.HasPasswords() {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		snap.salt = hex.EncodeToString(salt)
	}
	all := sha256.New()
	add := func(i int, kind byte, mac []byte) {
		var n [9]byte
		binary.BigEndian.PutUint64(n[:8], uint64(i))
		n[8] = kind
		all.Write(n[:])
		all.Write(mac)
	}
	var errs []error
	for i := range s.cfg.Credentials {
		cr := &s.cfg.Credentials[i]
		path := fmt.Sprintf("credentials[%d]", i)
		c := &credential{p: newPrincipal(cr.Name, cr.Sources), user: cr.Username}
		if cr.TokenFile != "" || cr.TokenEnv != "" {
			toks, err := readSecret(path, "token", cr.TokenFile, cr.TokenEnv)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			// One token per line: a new one can be added before the old
			// one is removed, so shippers move over without a gap.
			for _, tok := range strings.Split(toks, "\n") {
				if tok = strings.TrimSpace(tok); tok != "" {
					c.tokens = append(c.tokens, s.mac(tok))
					add(i, 't', c.tokens[len(c.tokens)-1])
				}
			}
		}
		if cr.Username != "" {
			pw, err := readSecret(path, "password", cr.PasswordFile, cr.PasswordEnv)
			if err == nil && strings.ContainsAny(pw, "\r\n") {
				err = fmt.Errorf("credentials[%d]: the password holds a line break: one password per credential", i)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.password = s.mac(pw)
			c.forward = forwardDigest(snap.salt, cr.Username, pw)
			add(i, 'p', c.password)
			snap.byUser[cr.Username] = c
		}
		for _, n := range cr.ClientCertNames {
			snap.byCert[n] = c.p
		}
		snap.creds = append(snap.creds, c)
	}
	owner := map[string]*Principal{}
	for _, c := range snap.creds {
		for _, t := range c.tokens {
			if o := owner[string(t)]; o != nil {
				errs = append(errs, fmt.Errorf("credentials %q and %q share a token: give each its own", o.name, c.p.name))
			}
			owner[string(t)] = c.p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	all.Sum(snap.digest[:0])
	return snap, nil
}

// readSecret reads one secret from its file or variable, without the
// whitespace around it (a trailing newline, say).
func readSecret(path, what, file, env string) (string, error) {
	var v string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s.%s_file: %w", path, what, err)
		}
		if v = strings.TrimSpace(string(b)); v == "" {
			return "", fmt.Errorf("%s.%s_file: %s is empty", path, what, file)
		}
		return v, nil
	}
	if v = strings.TrimSpace(os.Getenv(env)); v == "" {
		return "", fmt.Errorf("%s.%s_env: the environment variable %s is not set or empty", path, what, env)
	}
	return v, nil
}

// forwardDigest is what the forward protocol's PING proves a password with:
// hex(sha512(auth_salt + username + password)).
func forwardDigest(salt, user, password string) string {
	h := sha512.New()
	h.Write([]byte(salt))
	h.Write([]byte(user))
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

// current returns the secrets in use, reading the files again first when
// reload_interval has passed since they were last looked at.
func (s *Store) current() *snapshot {
	if s.files {
		now := s.now().UnixNano()
		if next := s.next.Load(); now >= next && s.next.CompareAndSwap(next, now+int64(s.cfg.ReloadInterval)) {
			s.reload()
		}
	}
	return s.snap.Load()
}

// reload reads every secret again and puts them in use if any changed. A
// file that cannot be read, or is empty (caught in the middle of being
// rewritten, say), leaves the previous secrets in use and is logged once
// until it reads again.
func (s *Store) reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.load()
	if err != nil {
		s.count("error")
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Warn("auth: cannot read a credential file again; the previous secrets stay in use", "err", err)
		}
		return
	}
	if s.lastErr != "" {
		s.lastErr = ""
		s.log.Info("auth: credential files read again")
	}
	old := s.snap.Load()
	if snap.digest == old.digest {
		return
	}
	var changed []string
	for i, c := range snap.creds {
		if o := old.creds[i]; !sameMACs(c.tokens, o.tokens) || !hmac.Equal(c.password, o.password) {
			changed = append(changed, c.p.name)
		}
	}
	s.snap.Store(snap)
	s.count("ok")
	s.log.Info("auth: rotated secrets are in use", "credentials", changed)
}

// sameMACs reports whether two lists of keyed hashes are the same.
func sameMACs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !hmac.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (s *Store) count(result string) {
	if s.reloads != nil {
		s.reloads.WithLabelValues(result).Inc()
	}
}

// Request authenticates an HTTP request by its Authorization header
// (Bearer or Basic), else by its verified client certificate. It returns
// the principal, nil with no error for an anonymous request the gateway
// lets through (nothing required), or an *Error.
func (s *Store) Request(r *http.Request) (*Principal, error) {
	snap := s.current()
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		if p := snap.certificate(r.TLS); p != nil {
			return p, nil
		}
		if s.cfg.Required {
			return nil, &Error{Reason: ReasonMissing, msg: "authentication required: send Authorization: Bearer <token> or Basic credentials (gateway.auth.required is on)"}
		}
		return nil, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		if p := snap.bearer(s.mac(strings.TrimSpace(rest))); p != nil {
			return p, nil
		}
		return nil, &Error{Reason: ReasonInvalid, bearer: true, msg: "invalid bearer token"}
	case "basic":
		user, password, ok := r.BasicAuth()
		if !ok {
			return nil, &Error{Reason: ReasonInvalid, msg: "malformed Basic credentials: want base64(username:password)"}
		}
		mac := s.mac(password) // hashed whether the user exists or not
		c := snap.byUser[user]
		if c == nil {
			return nil, &Error{Reason: ReasonInvalid, msg: "invalid username or password"}
		}
		if !hmac.Equal(c.password, mac) {
			return nil, &Error{Reason: ReasonInvalid, Credential: c.p.name, msg: "invalid username or password"}
		}
		return c.p, nil
	}
	if len(scheme) > 32 {
		scheme = scheme[:32]
	}
	return nil, &Error{Reason: ReasonInvalid, msg: fmt.Sprintf("unsupported Authorization scheme %q: send Bearer or Basic", scheme)}
}

// bearer returns the credential one of whose tokens hashes to mac,
// comparing with every token in constant time.
func (snap *snapshot) bearer(mac []byte) *Principal {
	var found *Principal
	for _, c := range snap.creds {
		for _, t := range c.tokens {
			if hmac.Equal(t, mac) {
				found = c.p
			}
		}
	}
	return found
}

// Challenges returns the WWW-Authenticate values of a 401 for err: a
// challenge for each kind of secret configured.
func (s *Store) Challenges(err error) []string {
	var e *Error
	errors.As(err, &e)
	var out []string
	tokens, passwords := false, s.cfg.HasPasswords()
	for i := range s.cfg.Credentials {
		tokens = tokens || s.cfg.Credentials[i].TokenFile != "" || s.cfg.Credentials[i].TokenEnv != ""
	}
	if tokens {
		c := `Bearer realm="jetlog"`
		if e != nil && e.bearer {
			c += `, error="invalid_token"`
		}
		out = append(out, c)
	}
	if passwords || !tokens {
		out = append(out, `Basic realm="jetlog", charset="UTF-8"`)
	}
	return out
}

// Certificate returns the principal a verified client certificate names
// (its subject common name, DNS names, URIs, then email addresses, the
// first that is some credential's client_cert_names), or nil.
func (s *Store) Certificate(cs *tls.ConnectionState) *Principal {
	if !s.Enabled() {
		return nil
	}
	return s.current().certificate(cs)
}

func (snap *snapshot) certificate(cs *tls.ConnectionState) *Principal {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 || len(snap.byCert) == 0 {
		return nil
	}
	leaf := cs.VerifiedChains[0][0]
	names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	for _, u := range leaf.URIs {
		names = append(names, u.String())
	}
	names = append(names, leaf.EmailAddresses...)
	for _, n := range names {
		if p := snap.byCert[n]; p != nil && n != "" {
			return p
		}
	}
	return nil
}

// Handshake is what one forward connection checks its client's handshake
// against: the secrets in use when the connection started.
//
// The forward protocol proves a password as hex(sha512(salt + username +
// password)) for a salt the server sends in HELO. Fluentd draws that salt
// per connection, which needs the password itself at hand; the gateway
// draws it when it reads the secrets (at start and at each rotation) and
// keeps only the digest. The price: a digest seen on a plain-text
// connection proves the password until the salt changes, to someone who
// also knows the shared key. Run forward with TLS where that matters.
type Handshake struct{ snap *snapshot }

// Handshake returns the secrets a new forward connection checks against.
func (s *Store) Handshake() Handshake {
	if !s.Enabled() {
		return Handshake{}
	}
	return Handshake{snap: s.current()}
}

// Salt is the "auth" value of HELO: "" when no credential has a password
// (the client then sends no user name).
func (h Handshake) Salt() string {
	if h.snap == nil {
		return ""
	}
	return h.snap.salt
}

// Verify checks a PING's user name and password digest.
func (h Handshake) Verify(username, digest string) (*Principal, error) {
	if h.snap == nil || h.snap.salt == "" {
		return nil, &Error{Reason: ReasonInvalid, msg: "username/password mismatch: the gateway has no password credentials"}
	}
	c := h.snap.byUser[username]
	want := strings.Repeat("0", sha512.Size*2)
	if c != nil {
		want = c.forward
	}
	ok := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) == 1
	switch {
	case c == nil:
		return nil, &Error{Reason: ReasonInvalid, msg: "username/password mismatch"}
	case !ok:
		return nil, &Error{Reason: ReasonInvalid, Credential: c.p.name, msg: "username/password mismatch"}
	}
	return c.p, nil
}
