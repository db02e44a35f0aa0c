package event

// A message whose body is this package's Event JSON says so in a header,
// so that a consumer never has to guess from the bytes: a shipper's JSON
// log line may well carry "id" and "@timestamp" of its own.
const (
	// FormatHeader names the NATS header that marks a message's body as
	// jetlog's own event JSON. The enricher takes a message on
	// logs.raw.<source> for an event only when it carries this header;
	// without it the body is a shipper's record or line.
	FormatHeader = "Jetlog-Format"
	// FormatEventV1 is the FormatHeader value of the Event JSON of this
	// package (Marshal's output).
	FormatEventV1 = "event/v1"
)
