package notify

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// webhookPayload is the webhook body as encoding/json writes it: the
// reference the hand-written encoder is compared with.
type webhookPayload struct {
	Version string `json:"version"`
	*Data
}

// sameJSON fails unless the hand-written body and encoding/json's read
// back as the same JSON value.
func sameJSON(t testing.TB, d *Data) {
	t.Helper()
	hand, herr := d.appendWebhookJSON(nil)
	std, serr := json.Marshal(webhookPayload{Version: "4", Data: d})
	if (herr != nil) != (serr != nil) {
		t.Fatalf("hand-written error %v, encoding/json error %v", herr, serr)
	}
	if herr != nil {
		return
	}
	var h, s any
	if err := json.Unmarshal(hand, &h); err != nil {
		t.Fatalf("hand-written body %s does not parse: %v", hand, err)
	}
	if err := json.Unmarshal(std, &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h, s) {
		t.Fatalf("hand-written %s\nencoding/json %s", hand, std)
	}
}

func TestWebhookBodyIsAlertmanagersAsEncodingJSONWritesIt(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 120000000, time.FixedZone("CET", 3600))
	full := &Data{NotificationID: "ntf_1", Receiver: "team-a", Status: "firing", GroupKey: `{}:{alertname="x"}`,
		GroupLabels: KV{"alertname": "x"}, CommonLabels: KV{"alertname": "x", "severity": "critical"},
		CommonAnnotations: KV{"summary": "<b>5 errors</b> & more \u2028"}, ExternalURL: "http://jetlog.example/", TruncatedAlerts: 2,
		Alerts: Alerts{
			{Status: "firing", Labels: KV{"alertname": "x", "z": "1", "a": "\xff"}, Annotations: KV{}, StartsAt: at, GeneratorURL: "http://x/alerts/f1",
				Fingerprint: "f1", Rule: "x", Value: 5, Threshold: 3},
			{Status: "resolved", Labels: KV{"alertname": "x"}, StartsAt: at, EndsAt: at.Add(time.Minute), Fingerprint: "f2", Rule: "x",
				Value: 1.5e-7},
			{Status: "firing", Labels: nil, Annotations: nil, Value: -1e21, Threshold: 0.1},
		}}
	for name, d := range map[string]*Data{
		"full":      full,
		"no alerts": {NotificationID: "ntf_2", Status: "resolved"},
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) { sameJSON(t, d) })
	}
	t.Run("a value JSON cannot hold", func(t *testing.T) {
		d := &Data{Alerts: Alerts{{Value: math.Inf(1)}}}
		if _, err := d.appendWebhookJSON(nil); err == nil {
			t.Fatal("+Inf was written")
		}
		sameJSON(t, d)
	})
}

func FuzzWebhookJSON(f *testing.F) {
	f.Add("alertname", "x<&>", "summary", "ünïcode \u2028", 5.0, 0.25, int64(1764504000123456789))
	f.Add("", "\xff\xfe", "\x00", "\"\\", -0.0, 1e300, int64(0))
	f.Fuzz(func(t *testing.T, k, v, ak, av string, value, threshold float64, ns int64) {
		at := time.Unix(0, ns).UTC()
		d := &Data{NotificationID: v, Receiver: k, Status: "firing", GroupKey: k + v, GroupLabels: KV{k: v},
			CommonLabels: KV{k: v, ak: av}, CommonAnnotations: KV{ak: av}, ExternalURL: av,
			Alerts: Alerts{{Status: "firing", Labels: KV{k: v, ak: av}, Annotations: KV{ak: av}, StartsAt: at, EndsAt: at,
				GeneratorURL: av, Fingerprint: k, Rule: v, Value: value, Threshold: threshold}}}
		sameJSON(t, d)
	})
}

func BenchmarkWebhookBody(b *testing.B) {
	at := time.Now()
	d := &Data{NotificationID: "ntf_0123456789abcdef0123456789abcdef", Receiver: "team", Status: "firing", GroupKey: `{}:{alertname="HighErrorRate"}`,
		GroupLabels: KV{"alertname": "HighErrorRate"}, CommonLabels: KV{"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"},
		CommonAnnotations: KV{"summary": "12 errors in 1m"},
		Alerts: Alerts{{Status: "firing", Labels: KV{"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"},
			Annotations: KV{"summary": "12 errors in 1m"}, StartsAt: at, Fingerprint: "0123456789abcdef", Rule: "HighErrorRate", Value: 12, Threshold: 10}}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = d.appendWebhookJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(webhookPayload{Version: "4", Data: d})
		}
	})
}
