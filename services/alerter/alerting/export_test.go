package alerting

// Assigned exposes the rendezvous assignment to tests.
var Assigned = assigned
