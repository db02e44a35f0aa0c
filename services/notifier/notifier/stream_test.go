package notifier_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
)

// sseEvent is one event read from the alert stream.
type sseEvent struct {
	id    string
	alert alert.Alert
}

// subscribe reads the stream at url until ctx ends, sending events and
// heartbeats (id "" and a zero alert) to out.
func subscribe(ctx context.Context, t *testing.T, url, lastID string, out chan<- sseEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("subscribe: %v", err)
		return
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("subscribe: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ": heartbeat"):
				select {
				case out <- sseEvent{}:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.alert)
			case line == "" && ev.id != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	for {
		select {
		case ev := <-ch:
			if ev.id != "" {
				return ev
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event from the stream")
		}
	}
}

// TestStreamFiltersInOrderAndResumes: a subscriber with a label filter
// receives exactly the matching events in order, and after reconnecting
// with Last-Event-ID receives the rest without a gap or a repeat;
// heartbeats keep an idle stream busy.
func TestStreamFiltersInOrderAndResumes(t *testing.T) {
	nats := testkit.StartNATS(t)
	e := start(t, nats, `
http:
  heartbeat: 100ms
`)
	url := fmt.Sprintf("http://%s/v1/alerts/stream?from=start&filter=%s", e.n.StreamAddr(), `team%3D%22db%22`)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan sseEvent, 100)
	subscribe(ctx, t, url, "", ch)

	var want []string
	for i := range 20 {
		team := []string{"db", "web"}[i%2]
		a := mkAlert(fmt.Sprintf("Rule%d", i), "warning", alert.StateFiring, map[string]string{"service": "s"}, "team", team)
		e.publish(a)
		if team == "db" {
			want = append(want, a.Rule)
		}
		if i == 9 {
			// First half read, then the client goes away.
			var got []string
			var last string
			for range 5 {
				ev := next(t, ch)
				got = append(got, ev.alert.Rule)
				last = ev.id
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("first connection got %v, want %v", got, want)
			}
			cancel()
			ctx, cancel = context.WithCancel(context.Background())
			ch = make(chan sseEvent, 100)
			defer cancel()
			subscribe(ctx, t, url, last, ch)
		}
	}
	var got []string
	for range 5 {
		ev := next(t, ch)
		if ev.alert.Labels["team"] != "db" {
			t.Fatalf("an event not matching the filter: %+v", ev.alert)
		}
		got = append(got, ev.alert.Rule)
	}
	if strings.Join(got, " ") != strings.Join(want[5:], " ") {
		t.Fatalf("after reconnecting got %v, want %v", got, want[5:])
	}
	// Nothing else matches: only heartbeats come now.
	select {
	case ev := <-ch:
		if ev.id != "" {
			t.Fatalf("an extra event: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat on an idle stream")
	}
}

func TestStreamRefusesBadFilters(t *testing.T) {
	nats := testkit.StartNATS(t)
	e := start(t, nats, "")
	for _, q := range []string{"filter=team", "state=burning", "from=yesterday"} {
		resp, err := http.Get("http://" + e.n.StreamAddr() + "/v1/alerts/stream?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
}
