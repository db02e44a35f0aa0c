package engine_test

import (
	"testing"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// The rules shipped in rules/ load, and pass their own tests.
func TestShippedRules(t *testing.T) {
	files, err := rule.Files("../../../rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped rules: %v", err)
	}
	var errs config.Errors
	set := rule.Load(rule.ReadFiles(files, &errs), rule.DefaultOptions())
	if err := set.Refused.Err(); err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != len(files) {
		t.Fatalf("%d rules from %d files", len(set.Rules), len(files))
	}
	for _, r := range set.Rules {
		if len(r.Tests) == 0 {
			t.Errorf("%s has no tests", r.File)
		}
		for _, res := range engine.RunTests(r) {
			if !res.Passed() {
				t.Errorf("%s: %s:\n%v", r.File, res.Test, res.Failures)
			}
		}
	}
}
