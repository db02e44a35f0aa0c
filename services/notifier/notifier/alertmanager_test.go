package notifier_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
)

// startAlertmanager runs the real Alertmanager (Debian package
// prometheus-alertmanager; `make deps` installs it) on loopback with a
// temporary configuration and storage.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatal("Alertmanager is not installed; run `make deps` (Debian package prometheus-alertmanager)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	testkit.Poll(t, 60*time.Second, func() (bool, string) {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, "alertmanager not ready"
	})
	return url
}

type amAlert struct {
	Labels map[string]string `json:"labels"`
	EndsAt time.Time         `json:"endsAt"`
	Status struct {
		State      string   `json:"state"`
		SilencedBy []string `json:"silencedBy"`
	} `json:"status"`
}

func amAlerts(t *testing.T, url string) []amAlert {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out
}

// TestDeliveryToARealAlertmanager: the alert is visible through
// Alertmanager's API, stays firing past its resolve timeout's default, and a
// silence made in Alertmanager is honoured by it as usual.
func TestDeliveryToARealAlertmanager(t *testing.T) {
	am := startAlertmanager(t)
	nats := testkit.StartNATS(t)
	e := start(t, nats, fmt.Sprintf(`
route:
  receiver: am
  group_by: ['...']
  group_wait: 0s
receivers:
  - name: am
    alertmanager_configs:
      - url: %s
        allow_cidrs: [127.0.0.0/8]
`, am))
	a := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"})
	a.StartsAt = time.Now().UTC().Add(-time.Minute)
	e.publish(a)
	e.held(1, 1)
	e.advance(0, 1)
	var got []amAlert
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		got = amAlerts(t, am)
		return len(got) == 1, fmt.Sprintf("%d alerts in Alertmanager", len(got))
	})
	if got[0].Labels["alertname"] != "HighErrors" || got[0].Labels["service"] != "checkout" || got[0].Status.State != "active" {
		t.Fatalf("in Alertmanager: %+v", got[0])
	}
	if time.Until(got[0].EndsAt) < 4*time.Hour {
		t.Errorf("endsAt %v: Alertmanager would resolve the alert before jetlog repeats it", got[0].EndsAt)
	}
	// A silence made in Alertmanager, as an operator would.
	sil := fmt.Sprintf(`{"matchers":[{"name":"service","value":"checkout","isRegex":false,"isEqual":true}],
		"startsAt":%q,"endsAt":%q,"createdBy":"ann","comment":"deploy"}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Add(time.Hour).Format(time.RFC3339))
	resp, err := http.Post(am+"/api/v2/silences", "application/json", bytes.NewReader([]byte(sil)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create silence: %d", resp.StatusCode)
	}
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		got = amAlerts(t, am)
		return len(got) == 1 && got[0].Status.State == "suppressed" && len(got[0].Status.SilencedBy) == 1,
			fmt.Sprintf("alert status %+v", got)
	})
}

// TestReceiverOnLoopbackIsRefused: without allow_cidrs, a receiver on the
// notifier's own machine is refused before any request is made, the attempt
// is not retried, and the delivery log says why and how to allow it.
func TestReceiverOnLoopbackIsRefused(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	e := start(t, nats, fmt.Sprintf(`
route: {receiver: hook}
receivers:
  - name: hook
    webhook_configs:
      - url: %s
`, rcv.URL))
	e.publish(mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "web"}))
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	recs := testkit.Record(t, nats.JS, "NOTIFICATIONS", "notify.>").Wait(t, 1, 10*time.Second)
	var r struct{ Outcome, Error string }
	_ = json.Unmarshal(recs[0].Data(), &r)
	if r.Outcome != "failed" || !bytes.Contains([]byte(r.Error), []byte("(loopback)")) || !bytes.Contains([]byte(r.Error), []byte("allow_cidrs")) {
		t.Errorf("record %+v", r)
	}
	flushesDone(t, e)
	if n := len(rcv.all()); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}
