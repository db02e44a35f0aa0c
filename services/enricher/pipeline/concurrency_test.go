package pipeline

import (
	"sync"
	"testing"
)

// TestPipelinesAreSafeForConcurrentUse runs the shipped pipelines' test
// inputs from several goroutines at once, as the enricher does with
// consumer.concurrency > 1; run under -race it catches a stage that keeps
// per-event state in its closure.
func TestPipelinesAreSafeForConcurrentUse(t *testing.T) {
	set, err := LoadDir("../../../pipelines", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				for _, p := range set.Pipelines {
					for _, tc := range p.tests {
						ev, err := testEvent(tc.Input)
						if err != nil {
							t.Error(err)
							return
						}
						_ = p.Process(ev)
					}
				}
			}
		}()
	}
	wg.Wait()
}
