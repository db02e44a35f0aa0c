package event_test

import (
	"fmt"
	"time"

	"github.com/jetlog/jetlog/libs/event"
)

func ExampleNewID() {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := event.NewID("web", []byte(`{"msg":"hi"}`), ts)
	b := event.NewID("web", []byte(`{"msg":"hi"}`), ts)
	c := event.NewID("api", []byte(`{"msg":"hi"}`), ts)
	fmt.Println(len(a), a == b, a == c)
	// Output: 32 true false
}
