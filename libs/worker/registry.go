package worker

import "github.com/prometheus/client_golang/prometheus"

func newPrivateRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
