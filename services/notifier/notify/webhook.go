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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetlog/jetlog/libs/event"
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

// appendWebhookJSON appends Alertmanager's webhook body (version 4), so
// receivers written for Alertmanager's webhooks read it unchanged, with
// jetlog's notificationId beside: d's JSON with "version":"4" first, as
// encoding/json would write it (map keys sorted), by hand because every
// notification pays for it.
func (d *Data) appendWebhookJSON(b []byte) ([]byte, error) {
	b = append(b, `{"version":"4","notificationId":`...)
	b = event.AppendJSONString(b, d.NotificationID)
	b = appendField(b, "receiver", d.Receiver)
	b = appendField(b, "status", d.Status)
	b = append(b, `,"alerts":`...)
	if d.Alerts == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range d.Alerts {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = d.Alerts[i].appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = appendField(b, "groupKey", d.GroupKey)
	b = appendKV(append(b, `,"groupLabels":`...), d.GroupLabels)
	b = appendKV(append(b, `,"commonLabels":`...), d.CommonLabels)
	b = appendKV(append(b, `,"commonAnnotations":`...), d.CommonAnnotations)
	b = appendField(b, "externalURL", d.ExternalURL)
	b = strconv.AppendInt(append(b, `,"truncatedAlerts":`...), int64(d.TruncatedAlerts), 10)
	return append(b, '}'), nil
}

func (a *Alert) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"status":`...)
	b = event.AppendJSONString(b, a.Status)
	b = appendKV(append(b, `,"labels":`...), a.Labels)
	b = appendKV(append(b, `,"annotations":`...), a.Annotations)
	b = event.AppendJSONTime(append(b, `,"startsAt":`...), a.StartsAt)
	b = event.AppendJSONTime(append(b, `,"endsAt":`...), a.EndsAt)
	b = appendField(b, "generatorURL", a.GeneratorURL)
	b = appendField(b, "fingerprint", a.Fingerprint)
	b = appendField(b, "rule", a.Rule)
	var err error
	if b, err = event.AppendJSONFloat(append(b, `,"value":`...), a.Value); err != nil {
		return nil, fmt.Errorf("alert %s: value: %w", a.Fingerprint, err)
	}
	if a.Threshold != 0 {
		if b, err = event.AppendJSONFloat(append(b, `,"threshold":`...), a.Threshold); err != nil {
			return nil, fmt.Errorf("alert %s: threshold: %w", a.Fingerprint, err)
		}
	}
	return append(b, '}'), nil
}

// appendField appends ,"name":"v".
func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return event.AppendJSONString(b, v)
}

// appendKV appends m with its keys sorted, as encoding/json writes a map.
func appendKV(b []byte, m KV) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(event.AppendJSONString(b, k), ':')
		b = event.AppendJSONString(b, m[k])
	}
	return append(b, '}')
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
		if body, err = data.appendWebhookJSON(make([]byte, 0, 1024)); err != nil {
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
