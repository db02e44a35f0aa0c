// Package eventexpr is how jetlog's configuration names and tests the values
// of an event: field paths (body, severity.text, attributes.http.status, …)
// and expr-lang conditions over the event's data. The enricher's pipelines
// and the alerter's rules use it, so a condition or a path means the same in
// both, and a change to the event's representation reaches every reader in
// one place.
//
// # Field paths
//
//	body, source, dataset, traceId, spanId, severity.text, severity.number,
//	tags, error.stage, error.message, resource.<key>, attributes.<key>
//
// After resource. or attributes. the rest is first looked up as one flat key
// ("attributes.http.status" finds the key "http.status"), then as a path
// through nested maps (attributes → http → status). A write goes into an
// existing nested map when the path leads through one, else to the flat key.
//
// # Expressions
//
// Conditions are expr-lang (https://expr-lang.org) over the event's data and
// nothing else: no method of jetlog's own is reachable from an expression
// (expr lets expressions call the environment's methods).
//
//	body, source, dataset, id, traceId, spanId, timestamp, tags,
//	severity.text, severity.number, attributes["k"], resource["service.name"]
//
// An expression is bounded in size (MaxNodes) when it is compiled and in
// memory (expr's VM budget, 1e6) when it runs.
package eventexpr
