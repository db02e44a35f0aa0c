package host_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
)

// A client of a deployment connects to the server the configuration names,
// and to the embedded server's address when NATS runs in-process; it checks
// only the nats section.
func TestClientNATS(t *testing.T) {
	tests := []struct {
		name    string
		set     []string
		wantURL string
		wantErr string
	}{
		{"embedded on loopback", nil, "nats://127.0.0.1:4222", ""},
		{"embedded on every address", []string{"nats.server.listen=0.0.0.0:4333"}, "nats://127.0.0.1:4333", ""},
		{"embedded on every IPv6 address", []string{"nats.server.listen=[::]:4333"}, "nats://[::1]:4333", ""},
		{"embedded on a random port", []string{"nats.server.listen=127.0.0.1:0"}, "", "nats.server.listen"},
		{"a server", []string{"nats.embedded=false", "nats.url=nats://a:4222,nats://b:4222", "nats.user=ops"}, "nats://a:4222,nats://b:4222", ""},
		{"a server, badly", []string{"nats.embedded=false", "nats.user=ops", "nats.token=t"}, "", "give only one of"},
		{"another section's value is not checked", []string{"probe.limit=0", "streams.replicas=0"}, "nats://127.0.0.1:4222", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := host.NewConfig(host.Options{Name: "t", Factories: []component.Factory{probeSpec(&journal{}, "probe", nil, nil, nil, nil)}, EmbeddedNATS: true})
			err := cfg.LoadClient(config.Source{Set: tt.set})
			if tt.wantErr != "" {
				if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadClient = %v, want an ErrInvalid with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cc, err := cfg.ClientNATS()
			if err != nil || cc.URL != tt.wantURL {
				t.Errorf("ClientNATS = %q, %v; want %q", cc.URL, err, tt.wantURL)
			}
			if !cfg.NATS.Embedded && cc.User != "ops" {
				t.Errorf("the credentials were lost: %+v", cc)
			}
		})
	}
}
