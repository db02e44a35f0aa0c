package gateway_test

import (
	"testing"

	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/services/gateway/gateway"
)

func TestComponentConformance(t *testing.T) {
	componenttest.Run(t, componenttest.Case{
		Factory: gateway.Component,
		Configure: func(_ *testing.T, cfg any) {
			c := cfg.(*gateway.Config)
			c.HTTP.Listen, c.Forward.Listen = "127.0.0.1:0", "127.0.0.1:0"
		},
	})
}
