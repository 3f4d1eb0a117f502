package csharpclient_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/argkinds"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
)

// received carries what CsTester.Echo received, as the server saw it, to
// the test. It is set before the cluster starts.
var received chan string

// CsTester is the boot entity of the session test: methods that echo
// their arguments, change attributes, enter and leave the arena, answer
// requests, broadcast and kick.
type CsTester struct{ entity.Entity }

func (p *CsTester) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", entity.AttrAllClients)
	d.DefineAttr("hp", entity.AttrAllClients)
	d.DefineAttr("bag", entity.AttrOwnClient)
	d.DefineAttr("secret", 0)
	d.ExposeToClient("Echo", "Typed", "AttrScript", "SetName", "Enter", "Leave", "Teleport", "Shout",
		"KickMe", "Double", "Refuse", "Hold")
}

func (p *CsTester) OnClientDisconnected() { p.Destroy() }

// Echo describes its arguments with the Go types they arrived as, and
// sends them back as they are.
func (p *CsTester) Echo(args []any) {
	d := argkinds.Describe(args)
	select {
	case received <- d:
	default:
	}
	p.CallClient("OnEcho", d, args)
}

// wantEcho is what CsTester.Echo receives from ClusterTests.cs.
const wantEcho = `[string("héllo 世界 🎮"),int64(42),int64(-7),float64(2.5),float64(3),bool(true),bool(false),nil,` +
	`[int64(1),string("x"),float64(1.5),[float64(0)]],{a:int64(1),b:[bool(true)],c:{d:nil},e:string("")},bytes(00ff),` +
	`int64(1152921504606846976),uint64(18446744073709551615),int64(-9223372036854775808),int64(255),int64(65536),` +
	`int64(0),float64(-0),float64(1e+300),float64(NaN),float64(-Inf),float64(0.25)]`

// Typed takes typed parameters and sends them back as they are: the
// float32 goes back as a MessagePack float32 (ca).
func (p *CsTester) Typed(s string, i int, f float64, b bool, l []int, m map[string]float64, raw []byte, u uint8, f32 float32, opt *string) {
	p.CallClient("OnTyped", s, i, f, b, l, m, raw, u, f32, opt)
}

// AttrScript makes every kind of attribute change (protocol.md 11.2),
// then sends the server's own copy for the client to compare.
func (p *CsTester) AttrScript() {
	a := p.Attrs
	a.Set("bag", map[string]any{"gold": 10, "items": []any{}})
	bag := a.GetMap("bag")
	bag.Set("gold", 250)
	items := bag.GetList("items")
	items.Append("sword")
	items.Append("shield")
	items.Set(0, "axe")
	items.Pop()
	bag.Delete("gold")
	items.Append(map[string]any{"n": 1, "tags": []any{"a"}})
	items.GetMap(1).Set("n", 2)
	items.GetMap(1).GetList("tags").Append("b")
	bag.Set("speed", 3.0)
	bag.Set("nested", []any{[]any{1, 2}, []any{}})
	bag.GetList("nested").Get(1).(*entity.ListAttr).Append(true)
	bag.Set("blob", []byte{1, 2, 3})
	bag.Set("big", int64(1)<<60)
	a.Set("hp", 100)
	a.Set("secret", "server only")
	a.Set("hp", 99)
	p.CallClient("OnAttrs", bag.ToMap(), a.GetInt("hp"))
}

func (p *CsTester) SetName(name string) { p.Attrs.Set("name", name) }

func (p *CsTester) Enter(space string, x, z float64) {
	if err := p.EnterSpace(rpc.EntityID(space), entity.Vector3{X: float32(x), Z: float32(z)}); err != nil {
		p.CallClient("Error", err.Error())
	}
}

func (p *CsTester) Leave() { p.LeaveSpace() }

func (p *CsTester) Teleport(x, y, z float64, yaw float32) {
	if err := p.SetPosition(entity.Vector3{X: float32(x), Y: float32(y), Z: float32(z)}); err != nil {
		p.CallClient("Error", err.Error())
	}
	if err := p.SetYaw(yaw); err != nil {
		p.CallClient("Error", err.Error())
	}
}

func (p *CsTester) Shout(text string) { p.World().CallAllClients("OnShout", text) }

func (p *CsTester) KickMe(reason string) { p.Kick(reason) }

func (p *CsTester) Double(n int) (int, error) { return 2 * n, nil }

func (p *CsTester) Refuse(n int) (string, error) {
	return "", rpc.NewError(rpc.CodeUser+2, fmt.Sprintf("refused %d", n))
}

// Hold holds the game loop for ms milliseconds, so that a request waits
// past the client's timeout.
func (p *CsTester) Hold(ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
}

// CsArena is the space.
type CsArena struct{ entity.Entity }

func (a *CsArena) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// Short heartbeats: the gate announces them, and a client that kept the
// 5 s default would be kicked after heartbeatTimeout.
const (
	heartbeatInterval = 300 * time.Millisecond
	heartbeatTimeout  = 1200 * time.Millisecond
)

// TestAgainstCluster: a session of the C# client against a real
// in-process cluster (tests/ClusterTests.cs), one client over TCP and one
// over WebSocket: the echo of every kind of argument, typed parameters,
// every attribute operation, requests (results, error codes, the
// client's own timeout), a space with both players (creates, positions
// both ways, destroys), a broadcast, the announced heartbeats kept past
// the gate's timeout, a kick reason (cut to its bound) and a clean close.
func TestAgainstCluster(t *testing.T) { runClusterScript(t, false) }

// TestAgainstClusterKCP: the same session (tests/ClusterTests.cs) with
// both clients over KCP (protocol.md 3.2) to the real gate: the
// handshake, the first segment, frames split over KCP messages (the
// 2,000-character kick reason is more than one segment), the lingering
// close that delivers the kick, and a clean close with MsgBye.
func TestAgainstClusterKCP(t *testing.T) { runClusterScript(t, true) }

func runClusterScript(t *testing.T, kcp bool) {
	exe := build(t, "tests/ClusterTests.cs")[0]
	received = make(chan string, 1)
	reg := entity.NewRegistry()
	for name, proto := range map[string]any{"CsTester": &CsTester{}, "CsArena": &CsArena{}} {
		if err := reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "CsTester", WebSocket: !kcp, KCP: kcp,
		HeartbeatInterval: heartbeatInterval, HeartbeatTimeout: heartbeatTimeout,
		PositionSyncInterval: 20 * time.Millisecond})
	space := c.CreateSpace(t, 0, "CsArena")
	host, port, _ := strings.Cut(c.GateAddr(0), ":")
	args := []string{host, port, "-", string(space), strconv.Itoa(int(heartbeatTimeout / time.Millisecond))}
	if kcp {
		args = append(args, "kcp")
	} else {
		args[2] = c.GateWSURL(0)
	}
	out := monotest.Run(t, monoTimeout, exe, args...)
	if !strings.Contains(out, "cluster: ok") {
		t.Fatalf("ClusterTests did not report ok:\n%s", out)
	}
	if kcp {
		// Both clients came over KCP, each with one handshake, and the
		// gate dropped none of their datagrams as malformed or as a first
		// segment without a whole frame.
		checkGateMetrics(t, c.Gates[0], map[string]string{
			`goworld_gate_kcp_hellos_answered_total{process="gate1"}`:            "2",
			`goworld_gate_kcp_dropped_total{process="gate1",reason="malformed"}`: "0",
			`goworld_gate_kcp_dropped_total{process="gate1",reason="no_frame"}`:  "0",
			`goworld_gate_kcp_old_client_kicks_total{process="gate1"}`:           "0",
		})
	}
	select {
	case got := <-received:
		if got != wantEcho {
			t.Errorf("the server received\n%s\nwant\n%s", got, wantEcho)
		}
	default:
		t.Error("Echo never ran on the server")
	}
}

// metricValue returns the value of the metric line that begins with
// name (its labels included) in Prometheus text, or "" if none.
// checkGateMetrics fails t for each metric of g (a name with its labels)
// whose value is not the one wanted.
func checkGateMetrics(t *testing.T, g *gate.Gate, want map[string]string) {
	t.Helper()
	var m bytes.Buffer
	if err := g.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	for metric, w := range want {
		if got := metricValue(m.String(), metric); got != w {
			t.Errorf("%s = %q, want %s", metric, got, w)
		}
	}
}

func metricValue(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
