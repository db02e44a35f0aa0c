package pipeline_test

import (
	"testing"

	"github.com/jetlog/jetlog/services/enricher/pipeline"
)

// TestShippedPipelines compiles the repository's pipelines and runs their
// own YAML tests, as `jetlog pipeline test` does.
func TestShippedPipelines(t *testing.T) {
	set, err := pipeline.LoadDir("../../../pipelines", pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	results := set.RunTests()
	if len(results) < 3 {
		t.Fatalf("only %d pipeline tests found", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s / %s:\n  %v", r.Pipeline, r.Test, r.Failures)
		}
	}
}
