package httpin

import "testing"

func TestDatasetOfIndex(t *testing.T) {
	for index, want := range map[string]string{
		"users":                      "users",
		"logstash-2026.11.25":        "logstash",
		"vector-2026-11-25":          "vector",
		"App_Logs-20261125":          "app_logs",
		"metrics-2026.11":            "metrics",
		"hourly-2026.11.25.13":       "hourly",
		".internal":                  "internal",
		"filebeat-8.12.0-2026.11.25": "filebeat-8-12-0",
		"app.shop.web":               "app-shop-web",
		"2026.11.25":                 "2026-11-25",
		"__":                         "",
	} {
		if got := datasetOf(index); got != want {
			t.Errorf("datasetOf(%q) = %q, want %q", index, got, want)
		}
	}
}
