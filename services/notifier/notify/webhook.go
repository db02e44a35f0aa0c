package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com/).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Signer signs webhook bodies per the Standard Webhooks scheme:
// base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)), sent as
// "v1,<signature>".
type Signer struct{ key []byte }

// NewSigner reads a secret written as "whsec_" followed by the key in
// base64 (the scheme's form; the prefix may be omitted).
func NewSigner(secret string) (*Signer, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), "whsec_"))
	if err != nil {
		return nil, errors.New("the secret is not whsec_ followed by base64 (make one with: echo whsec_$(head -c 32 /dev/urandom | base64))")
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the secret's key is %d bytes, below 16 (use 24 to 64 random bytes)", len(key))
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature header value.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// webhookPayload is Alertmanager's webhook body (version 4), so receivers
// written for Alertmanager's webhooks read it unchanged, with jetlog's
// notificationId beside.
type webhookPayload struct {
	Version string `json:"version"`
	*Data
}

type webhook struct {
	base
	url    string
	signer *Signer
	body   *Body
	client *http.Client
}

var _ Integration = (*webhook)(nil)

func (w *webhook) Kind() string   { return "webhook" }
func (w *webhook) Target() string { return redactURL(w.url) }

func (w *webhook) Send(ctx context.Context, n *Notification) error {
	data := newData(n, w.externalURL)
	var body []byte
	ctype := "application/json"
	if w.body != nil {
		s, err := w.body.Execute(data)
		if err != nil {
			return Permanent(fmt.Errorf("body template: %w", err))
		}
		body = []byte(s)
		if !json.Valid(body) {
			ctype = "text/plain; charset=utf-8"
		}
	} else {
		var err error
		if body, err = json.Marshal(webhookPayload{Version: "4", Data: data}); err != nil {
			return Permanent(err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", userAgent)
	// The id is the notification's, the same on every attempt; the
	// timestamp is the attempt's (receivers refuse stale timestamps to stop
	// replays), signed anew each time, as the scheme intends.
	ts := time.Now()
	req.Header.Set(HeaderID, n.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	if w.signer != nil {
		req.Header.Set(HeaderSignature, w.signer.Sign(n.ID, ts, body))
	}
	return doHTTP(w.client, req)
}

const userAgent = "jetlog-notifier"

// doHTTP sends req and turns an answer other than 2xx into an *HTTPError.
func doHTTP(c *http.Client, req *http.Request) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &HTTPError{Status: resp.StatusCode, Body: string(b), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}
