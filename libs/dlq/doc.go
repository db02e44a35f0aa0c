// Package dlq defines jetlog's dead-letter records: a message a stage could
// not handle, stored on dlq.<stage> with the original bytes as the body and
// what happened in headers, so an operator can read why and redrive it to the
// stage once the cause is fixed.
//
// A Reader reads them back from the DLQ stream for `jetlog dlq`: from a
// start (a sequence or a time) and on one stage's subject, both chosen by
// the server's consumer, so what lies before the start is never read; with
// a bounded prefetch, so reading a DLQ of any length holds a bounded number
// of dead letters in memory.
package dlq
