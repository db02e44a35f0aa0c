// Package index is the indexer stage: it bulk-writes events from LOGS into
// OpenSearch and acknowledges each message only once OpenSearch confirmed its
// bulk item.
//
// Idempotency: every document is written with op_type=create and the event
// id as _id, into an index named from the event's own timestamp
// (<prefix>-YYYY.MM.DD, UTC, or <prefix>-<dataset>-YYYY.MM.DD for an event
// a pipeline routed to a dataset). A redelivery or a replay weeks later targets
// the same index and id, so OpenSearch answers 409 and no second document
// is made. (A data stream would route by write time through its current
// backing index, so a late replay could create the same _id again in a newer
// backing index; dated indices keep _id unique.)
//
// # What OpenSearch's answers mean
//
// Bulk requests and their items are classified by one table (classify):
// 201 and 409 are success; no answer, 408, 429 and 5xx are transient and
// retried with backoff; 401, 403 and 404 are an outage (OpenSearch refuses
// the indexer, not the document: credentials, a permission or write block,
// a missing index it may not create), retried with backoff and handed back
// to JetStream, never dead-lettered, with /readyz saying why; 413 splits a
// request in halves until it passes, and a single document refused alone
// goes to the DLQ; any other 4xx is poison for that document alone.
package index
