package client_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// Greeter is a boot entity that tells its client where the game thinks
// it connected from, then hands the client to a Keeper (on whichever
// game the dispatcher picks), which tells it again.
type Greeter struct{ entity.Entity }

func (g *Greeter) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Handover") }
func (g *Greeter) OnClientConnected()                    { g.CallClient("Addr", "boot", g.ClientAddr()) }
func (g *Greeter) Handover() {
	id, err := g.World().CreateEntitySomewhere("Keeper", nil)
	if err != nil {
		panic(err)
	}
	g.GiveClientTo(id)
}

// Keeper is given a client by a Greeter.
type Keeper struct{ entity.Entity }

func (k *Keeper) OnClientConnected() { k.CallClient("Addr", "keeper", k.ClientAddr()) }

// TestClientAddrReachesTheGame: the address a client connects from
// (127.0.0.x, picked by the test) reaches its boot entity through the
// gate's MsgClientConnected, over TCP, WebSocket and KCP, and follows the
// client when it is given to an entity the dispatcher placed (on either
// of two games).
func TestClientAddrReachesTheGame(t *testing.T) {
	reg := entity.NewRegistry()
	for name, proto := range map[string]any{"Greeter": &Greeter{}, "Keeper": &Keeper{}} {
		if err := reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "Greeter", KCP: true, WebSocket: true, Games: 2})
	for i, tc := range []struct {
		name, addr, local string
		kcp               bool
	}{
		{"tcp", c.GateAddr(0), "127.0.0.2", false},
		{"websocket", c.GateWSURL(0), "127.0.0.3", false},
		{"kcp", c.GateAddr(0), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := client.Dial(tc.addr, client.Options{KCP: tc.kcp, LocalIP: tc.local})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			want := tc.local + ":"
			if tc.kcp {
				want = "127.0.0.1:"
			}
			for j, who := range []string{"boot", "keeper"} {
				args := awaitCall(t, cl, "Addr")
				if fmt.Sprint(args[0]) != who || !strings.HasPrefix(fmt.Sprint(args[1]), want) {
					t.Fatalf("client %d: Addr%v, want %s at %s*", i, args, who, want)
				}
				if j == 0 {
					if err := cl.CallPlayer("Handover"); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
	if _, err := client.Dial(c.GateAddr(0), client.Options{KCP: true, LocalIP: "127.0.0.2"}); err == nil {
		t.Error("LocalIP with KCP: no error")
	}
}

// awaitCall waits for a call to method and returns its arguments.
func awaitCall(t *testing.T, cl *client.Client, method string) []any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-cl.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s", method)
			}
			switch ev := ev.(type) {
			case client.Call:
				if ev.Method == method {
					return ev.Args
				}
			case client.Disconnected:
				t.Fatalf("disconnected waiting for %s: %s", method, ev.Reason)
			}
		case <-timeout:
			t.Fatalf("no %s within 10s", method)
		}
	}
}
