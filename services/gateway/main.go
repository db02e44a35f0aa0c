// Command gateway is jetlog's ingest gateway as its own process: forward
// protocol, HTTP, _bulk-compatible and OTLP/HTTP in; JetStream out.
package main

import (
	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/services/gateway/gateway"
)

func main() {
	host.Main(host.Options{Name: "gateway", Factories: []component.Factory{gateway.Component}})
}
