package goworld

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

type limitsPlayer struct{ entity.Entity }

func (p *limitsPlayer) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Echo") }
func (p *limitsPlayer) Echo(s string)                         { p.CallClient("OnEcho", s) }

// TestGateLimitsFromConfigFile: the limits in a gate's config.ini section
// reach the running gate: max_clients = 1 refuses a second client with
// "server full", and client_msg_rate = unlimited lets a client send far
// more than the default burst of 2000 frames.
func TestGateLimitsFromConfigFile(t *testing.T) {
	cfg, err := config.Parse("config.ini", []byte(`
[dispatcher1]
listen_addr = 127.0.0.1:0
[game1]
boot_entity = Player
[gate2]
listen_addr = 127.0.0.1:0
kcp = false
max_clients = 1
client_msg_rate = unlimited
`))
	if err != nil {
		t.Fatal(err)
	}
	r := entity.NewRegistry()
	if err := r.Register("Player", &limitsPlayer{}); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	cl := cluster.Start(t, cluster.Options{Registry: r, BootEntity: "Player", Logger: log})

	gc, _ := cfg.Gate(2)
	g, err := gate.New(gateConfig(gc, []string{cl.Dispatchers[0].Addr().String()}, log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("gate: %v", err)
		}
	}()
	select {
	case <-g.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("gate not ready after 10s")
	}
	addr := g.Addr().String()

	a, err := client.Dial(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitEvent(t, a, func(ev client.Event) bool { e, ok := ev.(client.EntityCreated); return ok && e.IsPlayer })

	b, err := client.Dial(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var reason string
	waitEvent(t, b, func(ev client.Event) bool { d, ok := ev.(client.Disconnected); reason = d.Reason; return ok })
	if reason != "server full" {
		t.Fatalf("second client: %q, want server full", reason)
	}

	for i := 0; i < 5000; i++ {
		a.SendRaw(rpc.MsgHeartbeat, nil)
	}
	a.CallPlayer("Echo", "unlimited")
	waitEvent(t, a, func(ev client.Event) bool {
		switch ev := ev.(type) {
		case client.Disconnected:
			t.Fatalf("disconnected after 5000 frames with client_msg_rate = unlimited: %s", ev.Reason)
		case client.Call:
			return ev.Method == "OnEcho" && ev.Args[0] == "unlimited"
		}
		return false
	})
}

// waitEvent waits up to 10s for an event for which ok returns true.
func waitEvent(t *testing.T, c *client.Client, ok func(client.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-c.Events():
			if !open {
				t.Fatal("events closed")
			}
			if ok(ev) {
				return
			}
		case <-deadline:
			t.Fatal("no such event after 10s")
		}
	}
}
