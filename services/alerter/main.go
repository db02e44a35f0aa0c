// Command alerter evaluates alert rules on every event of LOGS as it
// arrives, and on a schedule against OpenSearch: LOGS → ALERTS.
package main

import (
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/services/alerter/alerting"
)

func main() {
	host.Main(host.Options{Name: "alerter", Factories: []component.Factory{alerting.Component}})
}
