package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// Hero is the boot entity of the cluster tests: attributes for its own
// client (nested maps and lists), one for all clients, one the client must
// never see, and an exposed method that changes them step by step.
type Hero struct{ entity.Entity }

func (h *Hero) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("name", entity.AttrOwnClient)
	d.DefineAttr("stats", entity.AttrOwnClient)
	d.DefineAttr("bag", entity.AttrOwnClient)
	d.DefineAttr("grid", entity.AttrAllClients)
	d.DefineAttr("secret", 0)
	d.ExposeToClient("Mutate")
}

func (h *Hero) OnCreated() {
	h.Attrs.Set("name", "hero")
	h.Attrs.Set("stats", map[string]any{
		"hp": 100, "tags": []any{"a"}, "pos": map[string]any{"x": 1.5, "y": -2},
	})
	h.Attrs.Set("bag", []any{"potion", map[string]any{"k": []any{1}}})
	h.Attrs.Set("grid", []any{[]any{0, 1}, []any{}})
	h.Attrs.Set("secret", "hidden")
}

// Mutate applies step number step, then tells the client what the server
// now holds in the client-visible attributes.
func (h *Hero) Mutate(step int) {
	a := h.Attrs
	stats, bag, grid := a.GetMap("stats"), a.GetList("bag"), a.GetList("grid")
	switch step {
	case 0:
		a.Set("name", "arthur")
		stats.Set("hp", 90)
	case 1:
		stats.GetList("tags").Append("b")
		stats.GetList("tags").Append("c")
	case 2:
		stats.GetMap("pos").Set("z", 3)
		stats.GetMap("pos").Delete("x")
	case 3:
		bag.Set(0, "elixir")
		bag.GetMap(1).GetList("k").Append(2)
		bag.GetMap(1).GetList("k").Append([]any{3, "four"})
	case 4:
		bag.Append(map[string]any{"gem": true})
		bag.Pop()
		bag.Append([]byte{1, 2, 3})
	case 5:
		grid.Get(1).(*entity.ListAttr).Append("y")
		grid.Get(0).(*entity.ListAttr).Set(1, "x")
		grid.Get(0).(*entity.ListAttr).Pop()
		grid.Append([]any{map[string]any{"deep": []any{map[string]any{"deeper": 1}}}})
		grid.Get(2).(*entity.ListAttr).GetMap(0).GetList("deep").GetMap(0).Set("deeper", 2)
	case 6:
		stats.Delete("tags")
		stats.Set("inv", []any{map[string]any{"id": 1}})
		stats.GetList("inv").GetMap(0).Set("n", 2.25)
	case 7:
		// Replace the bag; the old one is detached and changes to it are
		// no longer synced.
		old := bag
		a.Set("bag", []any{"new"})
		old.Append("lost")
		a.GetList("bag").Append("newer")
	case 8:
		a.Set("secret", "still hidden")
		stats.Set("hp", nil)
	case 9:
		inv := stats.GetList("inv")
		for i := 0; i < 50; i++ {
			inv.Append(map[string]any{"id": i, "tags": []any{i}})
		}
		for i := 0; i < 20; i++ {
			inv.Pop()
		}
		inv.GetMap(5).GetList("tags").Append("five")
		inv.GetMap(5).Delete("id")
	}
	visible := a.ToMap()
	delete(visible, "secret")
	h.CallClient("OnMutated", step, visible)
}

func startHeroCluster(t *testing.T, kcp bool) *cluster.Cluster {
	r := entity.NewRegistry()
	if err := r.Register("Hero", &Hero{}); err != nil {
		t.Fatal(err)
	}
	return cluster.Start(t, cluster.Options{Registry: r, BootEntity: "Hero", KCP: kcp})
}

func TestClusterAttrSync(t *testing.T) {
	for _, kcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "TCP", true: "KCP"}[kcp], func(t *testing.T) {
			cl := startHeroCluster(t, kcp)
			c, err := client.Dial(cl.GateAddr(0), client.Options{KCP: kcp})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })

			created := expectEvent[client.EntityCreated](t, c)
			if !created.IsPlayer || created.Type != "Hero" {
				t.Fatalf("first event %#v, want the Hero player", created)
			}
			deepEqual(t, "created attributes", created.Attrs, norm(map[string]any{
				"name":  "hero",
				"stats": map[string]any{"hp": 100, "tags": []any{"a"}, "pos": map[string]any{"x": 1.5, "y": -2}},
				"bag":   []any{"potion", map[string]any{"k": []any{1}}},
				"grid":  []any{[]any{0, 1}, []any{}},
			}))

			const steps = 10
			for step := 0; step < steps; step++ {
				if err := c.CallPlayer("Mutate", step); err != nil {
					t.Fatal(err)
				}
				changes := 0
				var server map[string]any
				for server == nil {
					switch ev := nextEvent(t, c).(type) {
					case client.AttrChanged:
						if ev.EntityID != created.ID {
							t.Fatalf("change to another entity: %#v", ev)
						}
						if len(ev.Path) > 0 && ev.Path[0] == "secret" {
							t.Fatalf("a server-only attribute reached the client: %#v", ev)
						}
						changes++
					case client.Call:
						if ev.Method != "OnMutated" || len(ev.Args) != 2 || ev.Args[0] != int64(step) {
							t.Fatalf("step %d: unexpected call %#v", step, ev)
						}
						server = ev.Args[1].(map[string]any)
					default:
						t.Fatalf("step %d: unexpected event %#v", step, ev)
					}
				}
				if changes == 0 && step != 8 {
					t.Fatalf("step %d: no AttrChanged event", step)
				}
				got, ok := c.Player()
				if !ok {
					t.Fatal("no player")
				}
				deepEqual(t, fmt.Sprintf("step %d: client view vs server", step), got.Attrs, server)
			}

			// And the end state is the one the steps should produce.
			inv := []any{map[string]any{"id": 1, "n": 2.25}}
			for i := 0; i < 30; i++ {
				inv = append(inv, map[string]any{"id": i, "tags": []any{i}})
			}
			inv[5] = map[string]any{"tags": []any{4, "five"}}
			got, _ := c.Player()
			deepEqual(t, "final view", got.Attrs, norm(map[string]any{
				"name":  "arthur",
				"stats": map[string]any{"hp": nil, "pos": map[string]any{"y": -2, "z": 3}, "inv": inv},
				"bag":   []any{"new", "newer"},
				"grid": []any{
					[]any{0},
					[]any{"y"},
					[]any{map[string]any{"deep": []any{map[string]any{"deeper": 2}}}},
				},
			}))
			if p, ok := c.Player(); !ok || p.ID != created.ID || p.Type != "Hero" || !p.IsPlayer {
				t.Fatalf("Player() = %#v", p)
			}

			// Calls to the server's entity still work after all that.
			if err := c.Call(created.ID, "Mutate", 99); err != nil {
				t.Fatal(err)
			}
			if ev := expectEvent[client.Call](t, c); ev.Method != "OnMutated" || ev.Args[0] != int64(99) {
				t.Fatalf("got %#v", ev)
			}

			c.Close()
			for ev := range c.Events() {
				if _, ok := ev.(client.Disconnected); !ok {
					t.Fatalf("event after Close: %#v", ev)
				}
			}
		})
	}
}

// TestKCPAnswerKeepsTheClient: a KCP client that the gate answered stays
// connected past its DialTimeout (the no-answer timer is for silence
// only).
func TestKCPAnswerKeepsTheClient(t *testing.T) {
	cl := startHeroCluster(t, true)
	// Long enough for the gate to answer on a loaded CI machine.
	const timeout = time.Second
	c, err := client.Dial(cl.GateAddr(0), client.Options{KCP: true, DialTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if created := expectEvent[client.EntityCreated](t, c); !created.IsPlayer {
		t.Fatalf("first event %#v, want the player", created)
	}
	// What is under test is that nothing happens during this wait.
	time.Sleep(timeout + timeout/2)
	if err := c.CallPlayer("Mutate", 0); err != nil {
		t.Fatal(err)
	}
	for {
		switch ev := nextEvent(t, c).(type) {
		case client.Disconnected:
			t.Fatalf("disconnected after DialTimeout although the gate answered: %#v", ev)
		case client.AttrChanged:
			return
		}
	}
}
