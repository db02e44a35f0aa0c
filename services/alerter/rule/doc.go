// Package rule is the alerter's rule model: YAML rule files (rules/*.yaml,
// or the alert_rules KV bucket) compiled and type-checked at load, with
// every problem reported with its file, line and reason; the exact-match
// index that keeps the cost of many rules low; the templates of an alert's
// summary and annotations; and the OpenSearch query that finds a rule's
// events.
//
// A rule selects events (match: sources, datasets, severities, field
// equalities, an expr condition over the same data and field paths as the
// enricher's pipelines, package eventexpr), groups them (group_by), and
// states a condition of one of eight types: any, frequency, spike, flatline,
// change, new_term, cardinality, metric. docs/alerting.md is the reference.
package rule
