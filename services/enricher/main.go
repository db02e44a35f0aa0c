// Command enricher parses and enriches raw log events: LOGS_RAW → LOGS.
package main

import (
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/enricher/enrich"
)

func main() { worker.Main(enrich.Spec) }
