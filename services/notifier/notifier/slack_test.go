package notifier_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/delivery"
)

// slackConfig is the receiver "hook" with one Slack incoming webhook,
// whose URL (its credential) is read from a file.
func slackConfig(t *testing.T, url string) string {
	t.Helper()
	return hookConfig("", fmt.Sprintf(`
    slack_configs:
      - url_file: %s
        channel: "#alerts"
        username: jetlog
        icon_emoji: ":rotating_light:"
        allow_cidrs: [127.0.0.0/8]
`, secretFile(t, url)))
}

// slackMessage decodes a request body as a Slack incoming webhook message
// with slack-go's types (an implementation of Slack's API other than
// jetlog's), refusing any field Slack does not define.
func slackMessage(t *testing.T, body []byte) slack.WebhookMessage {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m slack.WebhookMessage
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a Slack incoming webhook message: %v\n%s", err, body)
	}
	return m
}

// TestSlackMessage: a group's notification is one Slack incoming webhook
// message, an attachment titled and coloured by its status with a line
// per alert, posted as JSON to the secret URL; the URL never shows in the
// logs or the delivery log, and the footer carries the notification id
// (Slack keeps none, so a person can tell a repeat).
func TestSlackMessage(t *testing.T) {
	nats := testkit.StartNATS(t)
	rcv := newReceiver(t)
	const path = "/services/T0001/B0001/Xq7TokenNotToBeLogged"
	e := start(t, nats, slackConfig(t, rcv.URL+path))
	web := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "web"})
	api := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "api"})
	e.publish(web)
	e.publish(api)
	e.held(1, 2)
	e.advance(30*time.Second, 1)
	req := rcv.wait(t, 1)[0]
	if req.Method != "POST" || req.Path != path || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s, Content-Type %q", req.Method, req.Path, req.Header.Get("Content-Type"))
	}
	msg := slackMessage(t, req.Body)
	if msg.Channel != "#alerts" || msg.Username != "jetlog" || msg.IconEmoji != ":rotating_light:" || len(msg.Attachments) != 1 {
		t.Fatalf("message %s", req.Body)
	}
	recs := testkit.Record(t, nats.JS, topology.NotificationsStream, "notify.>").Wait(t, 1, 10*time.Second)
	rec, err := delivery.Parse(recs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	a := msg.Attachments[0]
	const title = "[FIRING:2] HighErrors (critical)"
	lines := strings.Split(strings.TrimSuffix(a.Text, "\n"), "\n")
	slices.Sort(lines)
	if a.Title != title || a.Fallback != title || a.Color != "danger" || !slices.Equal(a.MarkdownIn, []string{"text"}) ||
		!slices.Equal(lines, []string{"*HighErrors on api* (firing)", "*HighErrors on web* (firing)"}) || a.Footer != "jetlog "+rec.ID {
		t.Errorf("attachment %+v\nfrom %s", a, req.Body)
	}
	if rec.Outcome != "delivered" || rec.Integration != "slack[0]" || rec.Target != "slack #alerts" || rec.Firing != 2 {
		t.Errorf("delivery record %+v", rec)
	}
	if strings.Contains(e.logs.String(), "Xq7Token") || strings.Contains(string(recs[0].Data()), "Xq7Token") {
		t.Error("the webhook URL appears in the logs or the delivery log")
	}

	// Resolved: one more message, green.
	for _, al := range []*alert.Alert{web, api} {
		al.State, al.EndsAt, al.At = alert.StateResolved, t0.Add(2*time.Hour), t0.Add(2*time.Hour)
		e.publish(al)
	}
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		n := 0
		for _, al := range e.n.Dispatcher().Alerts() {
			if al.State == alert.StateResolved {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%d resolutions taken", n)
	})
	e.advance(5*time.Minute, 1)
	msg = slackMessage(t, rcv.wait(t, 2)[1].Body)
	if a := msg.Attachments[0]; a.Title != "[RESOLVED] HighErrors (critical)" || a.Color != "good" || strings.Count(a.Text, "(resolved)") != 2 {
		t.Errorf("resolution %+v", a)
	}
}
