package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jetlog/jetlog/services/gateway/auth"
)

// handshake runs the shared-key handshake of Forward protocol v1: the
// server sends HELO with a fresh nonce, the client answers PING with a
// digest of the shared key, the server answers PONG with its own digest
// (so the client knows it reached a server that has the key) or refuses
// and closes. When credentials have passwords, HELO's "auth" carries a
// salt and the PING's user name and password digest are checked too (user
// authentication); otherwise "auth" is empty, and clients send an empty
// user name and digest. The credential found becomes the connection's.
func (c *conn) handshake() bool {
	c.timeout = min(handshakeTimeout, c.s.cfg.IdleTimeout)
	defer func() { c.timeout = c.s.cfg.IdleTimeout }()

	creds := c.s.auth.Handshake()
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand panics instead)
	helo := appendArray(nil, 2)
	helo = appendStr(helo, "HELO")
	helo = appendMap(helo, 3)
	helo = appendBin(appendStr(helo, "nonce"), nonce)
	helo = appendStr(appendStr(helo, "auth"), creds.Salt())
	helo = appendBool(appendStr(helo, "keepalive"), true)
	if !c.write(helo) {
		return false
	}
	msg, err := c.fr.next()
	if err != nil {
		c.readFailed(err)
		return false
	}
	p, err := checkPing(msg, nonce, c.s.key)
	if err == nil {
		err = c.authenticate(creds, p)
	}
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			c.denied("forward: handshake refused; closing the connection", ae.Reason, ae.Credential, err, "client_hostname", p.hostname)
		} else {
			c.s.m.Requests.WithLabelValues(Protocol, "bad_request").Inc()
			if ok, n := c.s.badLog.allow(); ok {
				c.s.log.Warn("forward: handshake refused; closing the connection", "remote", c.remote, "client_hostname", p.hostname, "reason", err, "suppressed", n)
			}
		}
		pong := appendArray(nil, 5)
		pong = appendStr(pong, "PONG")
		pong = appendBool(pong, false)
		pong = appendStr(pong, err.Error())
		pong = appendStr(appendStr(pong, ""), "")
		c.write(pong)
		return false
	}
	pong := appendArray(nil, 5)
	pong = appendStr(pong, "PONG")
	pong = appendBool(pong, true)
	pong = appendStr(pong, "")
	pong = appendStr(pong, c.s.host)
	pong = appendStr(pong, keyDigest(p.salt, c.s.host, nonce, c.s.key))
	return c.write(pong)
}

// authenticate finds the connection's credential: the PING's user name
// and password when it sends a user name, else the client certificate's.
// It returns an *auth.Error when the password is wrong, or when a
// credential is required and there is none.
func (c *conn) authenticate(creds auth.Handshake, p ping) error {
	if p.username != "" {
		who, err := creds.Verify(p.username, p.password)
		if err != nil {
			return err
		}
		c.who = who
	}
	if c.who == nil && c.s.auth.Required() {
		return auth.NewError(auth.ReasonMissing, "authentication required: send a username and password (Fluent Bit: username and password, with shared_key), or a client certificate that names a credential")
	}
	return nil
}

// ping is what a client's PING says.
type ping struct {
	hostname, salt     string
	username, password string // the password as hex(sha512(auth salt + username + password))
}

// checkPing verifies a client's
// ["PING", client_hostname, shared_key_salt, hex(sha512(salt + client_hostname + nonce + shared_key)), username, password_digest]
// and returns what it says. Strings may come as msgpack str or bin (Fluent
// Bit sends the raw salt as str).
func checkPing(msg, nonce []byte, sharedKey string) (ping, error) {
	if _, err := scanValue(msg, 2); err != nil {
		return ping{}, fmt.Errorf("expected PING, got undecodable msgpack (%v)", err)
	}
	v, _, err := decodeValue(msg)
	if err != nil {
		return ping{}, fmt.Errorf("expected PING, got undecodable msgpack (%v)", err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		what := fmt.Sprintf("a %T", v)
		if ok {
			what = fmt.Sprintf("an array of %d", len(a))
		}
		return ping{}, fmt.Errorf("expected PING [\"PING\", hostname, salt, digest, username, password], got %s (is shared_key set on the client?)", what)
	}
	var s [6]string
	for i, e := range a {
		if s[i], ok = e.(string); !ok {
			return ping{}, fmt.Errorf("PING element %d is a %T, not a string", i, e)
		}
	}
	if s[0] != "PING" {
		return ping{}, fmt.Errorf("expected PING, got %q", s[0])
	}
	p := ping{hostname: s[1], salt: s[2], username: s[4], password: s[5]}
	want := keyDigest(p.salt, p.hostname, nonce, sharedKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(s[3])) != 1 {
		return ping{hostname: p.hostname}, auth.NewError(auth.ReasonInvalid, "shared_key mismatch")
	}
	return p, nil
}

// keyDigest is the handshake's proof of the shared key:
// hex(sha512(salt + hostname + nonce + shared_key)).
func keyDigest(salt, hostname string, nonce []byte, key string) string {
	h := sha512.New()
	h.Write([]byte(salt))
	h.Write([]byte(hostname))
	h.Write(nonce)
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}
