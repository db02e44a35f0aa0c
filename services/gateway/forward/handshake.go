package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// handshake runs the shared-key handshake of Forward protocol v1: the
// server sends HELO with a fresh nonce, the client answers PING with a
// digest of the shared key, the server answers PONG with its own digest
// (so the client knows it reached a server that has the key) or refuses
// and closes. User authentication (HELO's "auth" salt) is not offered:
// "auth" is sent empty, and clients then send an empty user name and
// password digest, which are ignored.
func (c *conn) handshake() bool {
	c.timeout = min(handshakeTimeout, c.s.cfg.IdleTimeout)
	defer func() { c.timeout = c.s.cfg.IdleTimeout }()

	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand panics instead)
	helo := appendArray(nil, 2)
	helo = appendStr(helo, "HELO")
	helo = appendMap(helo, 3)
	helo = appendBin(appendStr(helo, "nonce"), nonce)
	helo = appendStr(appendStr(helo, "auth"), "")
	helo = appendBool(appendStr(helo, "keepalive"), true)
	if !c.write(helo) {
		return false
	}
	msg, err := c.fr.next()
	if err != nil {
		c.readFailed(err)
		return false
	}
	hostname, salt, err := checkPing(msg, nonce, c.s.cfg.SharedKey)
	if err != nil {
		c.s.m.Requests.WithLabelValues(Protocol, "bad_request").Inc()
		if ok, n := c.s.badLog.allow(); ok {
			c.s.log.Warn("forward: handshake refused; closing the connection", "remote", c.remote, "client_hostname", hostname, "reason", err, "suppressed", n)
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
	pong = appendStr(pong, keyDigest(salt, c.s.host, nonce, c.s.cfg.SharedKey))
	return c.write(pong)
}

// checkPing verifies a client's
// ["PING", client_hostname, shared_key_salt, hex(sha512(salt + client_hostname + nonce + shared_key)), username, password_digest]
// and returns its host name and salt. Strings may come as msgpack str or
// bin (Fluent Bit sends the raw salt as str).
func checkPing(msg, nonce []byte, sharedKey string) (hostname, salt string, err error) {
	if _, err := scanValue(msg, 2); err != nil {
		return "", "", fmt.Errorf("expected PING, got undecodable msgpack (%v)", err)
	}
	v, _, err := decodeValue(msg)
	if err != nil {
		return "", "", fmt.Errorf("expected PING, got undecodable msgpack (%v)", err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		what := fmt.Sprintf("a %T", v)
		if ok {
			what = fmt.Sprintf("an array of %d", len(a))
		}
		return "", "", fmt.Errorf("expected PING [\"PING\", hostname, salt, digest, username, password], got %s (is shared_key set on the client?)", what)
	}
	var s [6]string
	for i, e := range a {
		if s[i], ok = e.(string); !ok {
			return "", "", fmt.Errorf("PING element %d is a %T, not a string", i, e)
		}
	}
	if s[0] != "PING" {
		return "", "", fmt.Errorf("expected PING, got %q", s[0])
	}
	hostname, salt = s[1], s[2]
	want := keyDigest(salt, hostname, nonce, sharedKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(s[3])) != 1 {
		return hostname, "", fmt.Errorf("shared_key mismatch")
	}
	return hostname, salt, nil
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
