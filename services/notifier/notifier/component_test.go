package notifier_test

import (
	"testing"

	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/services/notifier/notifier"
)

func TestConformance(t *testing.T) {
	componenttest.Run(t, componenttest.Case{
		Factory: notifier.Component,
		Configure: func(_ *testing.T, cfg any) {
			cfg.(*notifier.Config).HTTP.Listen = "127.0.0.1:0"
		},
	})
}
