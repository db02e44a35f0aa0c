// Command enricher parses and enriches raw log events (LOGS_RAW → LOGS) and
// archives them for replay (LOGS_RAW → LOGS_ARCHIVE): the host with the
// enricher and the archiver (-only enricher runs the enricher alone).
package main

import (
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/services/enricher/archive"
	"github.com/jetlog/jetlog/services/enricher/enrich"
)

func main() {
	host.Main(host.Options{Name: "enricher", AdminPort: 9466, Factories: []component.Factory{enrich.Spec.Factory(), archive.Factory()}})
}
