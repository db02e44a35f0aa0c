package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesTestAndCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch([]string{"rules", "test", "../../rules"}, nil, &out, &errb); code != 0 {
		t.Fatalf("rules test exited %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), " passed, 0 failed") {
		t.Errorf("output: %s", out.String())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("type: frequency\nwindow: 5m\nthreshold: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := dispatch([]string{"rules", "check", dir}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "bad.yaml:3: threshold") {
		t.Errorf("rules check of a bad file exited %d: %s", code, errb.String())
	}
}

func TestRulesOverSampleEvents(t *testing.T) {
	sample := filepath.Join(t.TempDir(), "sample.ndjson")
	line := `{"source":"app.shop.checkout","severity":{"text":"ERROR","number":17},"resource":{"service.name":"checkout"},"body":"declined","count":12,"every":"2s"}`
	if err := os.WriteFile(sample, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch([]string{"rules", "test", "../../rules/checkout-errors.yaml", "--events", sample, "--until", "12m"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"12:00:18Z  checkout-errors firing", "checkout-errors resolved", "2 transition(s), 1 firing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
