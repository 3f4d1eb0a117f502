package gate_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/sirupsen/logrus"
)

// While the dispatcher is down, a client's calls wait in the gate's
// bounded link queue; the call that finds it full is refused with a clear
// reason, and only that client is disconnected.
func TestCallsBeyondTheLinkQueueAreRefused(t *testing.T) {
	// No byte rate limit: the queue, not the limit, must stop the flood.
	c, logs := start(t, cluster.Options{GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientByteRate: config.Unlimited, ClientByteBurst: config.Unlimited}}})
	flooder, quiet := dialPlayer(t, c.GateAddr(0)), dialPlayer(t, c.GateAddr(0))
	addr := c.Dispatchers[0].Addr().String()
	c.Dispatchers[0].Close()
	logs.wait(t, "disconnected from dispatcher")
	blob := strings.Repeat("x", 60<<10)
	kicked := false
	for i := 0; i < 300 && !kicked; i++ { // 8 MiB is about 140 such calls
		if err := flooder.CallPlayer("Echo", blob); err != nil {
			kicked = true
		}
	}
	if r := expectKick(t, flooder); !strings.Contains(r, "too much is waiting") {
		t.Fatalf("kicked with %q", r)
	}
	logs.wait(t, "client call refused", "queue full")
	// The other client's call waits too, and reaches its entity once a
	// dispatcher is back on the address.
	if err := quiet.CallPlayer("Echo", "still here"); err != nil {
		t.Fatal(err)
	}
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: addr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	defer func() { d.Close(); <-done }()
	if got := expect(t, quiet, "OnEcho"); got[0] != "still here" {
		t.Fatalf("OnEcho%v", got)
	}
}

func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
