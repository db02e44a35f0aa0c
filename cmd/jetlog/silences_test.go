package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/notifier/delivery"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSilencesAddListExpire(t *testing.T) {
	n := testkit.StartNATS(t)
	code, out, errOut := run(t, "silences", "add", "-nats", n.URL, "-author", "ann", "-comment", "db maintenance", "-duration", "2h",
		`service="db"`, `severity=~"warning|info"`)
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	code, out, _ = run(t, "silences", "ls", "-nats", n.URL, "-json")
	var got struct {
		ID, State, CreatedBy, Comment string
		Matchers                      []string
		StartsAt, EndsAt              time.Time
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("ls: %d %q", code, out)
	}
	if got.ID != id || got.State != "active" || got.CreatedBy != "ann" || len(got.Matchers) != 2 || got.EndsAt.Sub(got.StartsAt) != 2*time.Hour {
		t.Errorf("listed %+v", got)
	}
	if code, _, _ := run(t, "silences", "rm", "-nats", n.URL, id); code != 0 {
		t.Fatal("rm failed")
	}
	if _, out, _ := run(t, "silences", "ls", "-nats", n.URL); strings.Contains(out, id) {
		t.Errorf("an expired silence is listed without -expired:\n%s", out)
	}
	if _, out, _ := run(t, "silences", "ls", "-nats", n.URL, "-expired"); !strings.Contains(out, id) || !strings.Contains(out, "expired") {
		t.Errorf("ls -expired:\n%s", out)
	}
	for _, bad := range [][]string{
		{"-comment", "x", `service="db"`},                    // no author
		{"-author", "ann", `service="db"`},                   // no comment
		{"-author", "ann", "-comment", "x", `service=~".*"`}, // mutes everything
		{"-author", "ann", "-comment", "x", `service`},       // not a matcher
	} {
		if code, _, errOut := run(t, append([]string{"silences", "add", "-nats", n.URL}, bad...)...); code == 0 {
			t.Errorf("add %v accepted", bad)
		} else if errOut == "" {
			t.Errorf("add %v: no reason given", bad)
		}
	}
}

func TestNotificationsList(t *testing.T) {
	n := testkit.StartNATS(t)
	at := time.Now().Add(-time.Minute)
	for i, outcome := range []string{"retrying", "delivered"} {
		r := &delivery.Record{ID: "ntf_1", Receiver: "ops", Integration: "webhook[0]", Status: "firing", Firing: 2, Attempt: i + 1,
			Outcome: outcome, At: at.Add(time.Duration(i) * time.Second), Error: map[bool]string{true: "the receiver answered 503"}[i == 0]}
		n.Publish(r.Subject(), r.MsgID(), r.Marshal())
	}
	other := &delivery.Record{ID: "ntf_2", Receiver: "team.db", Integration: "slack[0]", Attempt: 1, Outcome: "failed", At: at}
	n.Publish(other.Subject(), other.MsgID(), other.Marshal())

	code, out, _ := run(t, "notifications", "ls", "-nats", n.URL, "-receiver", "ops")
	if code != 0 || strings.Count(out, "ntf_1") != 2 || strings.Contains(out, "ntf_2") || !strings.Contains(out, "503") {
		t.Errorf("ls -receiver ops: %d\n%s", code, out)
	}
	code, out, _ = run(t, "notifications", "ls", "-nats", n.URL, "-outcome", "failed", "-json")
	var r delivery.Record
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ID != "ntf_2" || r.Receiver != "team.db" {
		t.Errorf("ls -outcome failed: %d %s", code, out)
	}
	if code, out, _ := run(t, "notifications", "ls", "-nats", n.URL, "-receiver", "team.db"); code != 0 || !strings.Contains(out, "ntf_2") {
		t.Errorf("a receiver name with a dot: %d %s", code, out)
	}
}
