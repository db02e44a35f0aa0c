package pipeline

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jetlog/jetlog/libs/event"
)

// doc is the event as the indexer writes it.
func doc(t *testing.T, ev *event.Event) map[string]any {
	t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAFailedParseIsIndexedUnparsedByDefault: a line no grok pattern
// matches stays searchable, as it came, with a tag to filter on and the
// stage and reason of the failure; it is not dead-lettered unless the
// pipeline says on_error: dlq.
func TestAFailedParseIsIndexedUnparsedByDefault(t *testing.T) {
	p, err := Compile("web.yaml", []byte(`name: web
stages:
  - name: access line
    grok: {patterns: ['%{COMBINEDAPACHELOG}']}
  - set: {field: dataset, value: web}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{ID: "e1", Body: "nginx: [emerg] bind() to 0.0.0.0:80 failed", Source: "nginx", Attributes: map[string]any{"error": "a field of the shipper's"}}
	if err := p.Process(ev); err != nil {
		t.Fatalf("the event was refused (%v); want it kept, unparsed", err)
	}
	d := doc(t, ev)
	if d["body"] != "nginx: [emerg] bind() to 0.0.0.0:80 failed" || d["dataset"] != "web" {
		t.Errorf("body %v, dataset %v: want the line as it came, and the stages after the failure run", d["body"], d["dataset"])
	}
	tags, _ := d["tags"].([]any)
	if len(tags) != 2 || tags[0] != "_parsefailure" || tags[1] != "_grokparsefailure" {
		t.Errorf("tags %v, want [_parsefailure _grokparsefailure]", d["tags"])
	}
	e, _ := d["error"].(map[string]any)
	if e["stage"] != "web/access line" || !strings.Contains(e["message"].(string), "no grok pattern matched") {
		t.Errorf("error %v, want the stage web/access line and the reason", d["error"])
	}
	if a, _ := d["attributes"].(map[string]any); a["error"] != "a field of the shipper's" {
		t.Errorf("attributes %v: the shipper's own error field must stay as it was", d["attributes"])
	}

	dlq, err := Compile("web.yaml", []byte("name: web\non_error: dlq\nstages: [{grok: {patterns: ['%{COMBINEDAPACHELOG}']}}]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var se *StageError
	if err := dlq.Process(&event.Event{ID: "e2", Body: "not an access line"}); !errors.As(err, &se) {
		t.Errorf("on_error: dlq gave %v, want a *StageError", err)
	}
}

// TestTheKeptErrorIsBounded: a reason that quotes a huge field is cut, on
// a character boundary, so the document does not grow with it.
func TestTheKeptErrorIsBounded(t *testing.T) {
	p, err := Compile("c.yaml", []byte("stages: [{coerce: {fields: {attributes.n: int}}}]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{ID: "e", Attributes: map[string]any{"n": strings.Repeat("é", 10000)}}
	if err := p.Process(ev); err != nil {
		t.Fatal(err)
	}
	msg := ev.Error.Message
	if len(msg) > MaxErrorMessage || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "…") || !strings.HasPrefix(msg, "coerce attributes.n:") {
		t.Errorf("error.message of %d bytes (valid UTF-8: %v): %.60q…", len(msg), utf8.ValidString(msg), msg)
	}
	if ev.Attributes["n"] != strings.Repeat("é", 10000) {
		t.Error("the field itself was changed")
	}
}
