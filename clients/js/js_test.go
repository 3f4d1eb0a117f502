package jsclient_test

// The JavaScript client (goworld.js) under Node: its unit tests and fuzz
// (testdata/unit.mjs), a session against a real in-process cluster over
// WebSocket (testdata/cluster.mjs), and a fake gate over a real socket
// for what a real gate never does (testdata/fakegate.mjs).

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/argkinds"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/nodetest"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go runs process-wide scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// nodeTimeout bounds a script; the scripts bound themselves more tightly
// (30 s for the cluster, 60 s for the unit tests).
const nodeTimeout = 2 * time.Minute

func TestUnitAndFuzz(t *testing.T) {
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/unit.mjs", "20000")
	if !strings.Contains(out, "unit: ok") {
		t.Fatalf("unit.mjs did not report ok:\n%s", out)
	}
}

// seen carries what Tester.Kinds received, as the server saw it, to the
// test. It is set before the cluster starts.
var seen chan string

// Tester is the boot entity: methods that echo their arguments with their
// Go types, change attributes, enter and leave the arena, and kick.
type Tester struct{ entity.Entity }

func (p *Tester) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", entity.AttrAllClients)
	d.DefineAttr("hp", entity.AttrAllClients)
	d.DefineAttr("bag", entity.AttrOwnClient)
	d.DefineAttr("secret", 0)
	d.ExposeToClient("Hello", "Kinds", "Typed", "Numbers", "AttrScript", "SetName", "Hurt",
		"Enter", "Leave", "Teleport", "Shout", "Become", "KickMe")
	d.ExposeToAllClients("Poke")
}

func (p *Tester) OnClientDisconnected() { p.Destroy() }

func (p *Tester) Hello() { p.CallClient("OnHello", string(p.ID())) }

// Kinds describes each argument with the Go type it arrived as, and sends
// the arguments back as they are.
func (p *Tester) Kinds(args []any) {
	d := argkinds.Describe(args)
	select {
	case seen <- d:
	default:
	}
	p.CallClient("OnKinds", d, args)
}

// Point is a struct parameter: a map keyed by field name or tag.
type Point struct {
	X, Z float64
	Name string `msgpack:"name"`
}

// Typed takes typed parameters and sends them back as they are.
func (p *Tester) Typed(s string, i int, f float64, b bool, l []int, m map[string]float64, raw []byte,
	u uint8, f32 float32, opt *string, pt Point, arr [2]int16) {
	p.CallClient("OnTyped", s, i, f, b, l, m, raw, u, f32, opt, pt, arr)
}

// Numbers takes integers at the edges of their ranges.
func (p *Tester) Numbers(a int8, b uint16, c int64, d uint64, e float64) {
	p.CallClient("OnNumbers", a, b, c, d, e, math.Float64bits(e) == math.Float64bits(math.Copysign(0, -1)))
}

// AttrScript makes every kind of attribute change (protocol.md 11.2) and
// then sends the server's own copy, for the client to compare its view.
func (p *Tester) AttrScript() {
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
	bag.Set("__proto__", "not a prototype")
	bag.Set("nested", []any{[]any{1, 2}, []any{}})
	bag.GetList("nested").Get(1).(*entity.ListAttr).Append(true)
	bag.Set("blob", []byte{1, 2, 3})
	bag.Set("big", int64(1)<<60)
	bag.Set("neg", -200)
	a.Set("hp", 100)
	a.Set("secret", "server only")
	a.Set("hp", 99)
	p.CallClient("OnAttrs", bag.ToMap(), a.GetInt("hp"))
}

func (p *Tester) SetName(name string) {
	p.Attrs.Set("name", name)
	p.CallClient("OnNamed", name)
}

func (p *Tester) Hurt(n int) { p.Attrs.Set("hp", p.Attrs.GetInt("hp")-int64(n)) }

func (p *Tester) Enter(space string, x, z float64) {
	if err := p.EnterSpace(rpc.EntityID(space), entity.Vector3{X: float32(x), Z: float32(z)}); err != nil {
		p.CallClient("Error", err.Error())
	}
}

func (p *Tester) Leave() { p.LeaveSpace() }

func (p *Tester) Teleport(x, y, z float64, yaw float32) {
	if err := p.SetPosition(entity.Vector3{X: float32(x), Y: float32(y), Z: float32(z)}); err != nil {
		p.CallClient("Error", err.Error())
	}
	if err := p.SetYaw(yaw); err != nil {
		p.CallClient("Error", err.Error())
	}
}

// Poke is exposed to every client: anyone may call it on any Tester.
func (p *Tester) Poke(from string) { p.CallClient("OnPoked", from) }

func (p *Tester) Shout(text string) { p.World().CallAllClients("OnShout", text) }

// Become hands the client to a new entity of another type.
func (p *Tester) Become(name string) {
	e, err := p.World().CreateEntityLocally("Other", map[string]any{"label": name})
	if err != nil {
		p.CallClient("Error", err.Error())
		return
	}
	p.GiveClientTo(e.ID())
}

func (p *Tester) KickMe(reason string) { p.Kick(reason) }

// Other is what Become hands the client to.
type Other struct{ entity.Entity }

func (o *Other) DescribeEntityType(d *entity.TypeDesc) { d.DefineAttr("label", entity.AttrOwnClient) }
func (o *Other) OnClientConnected()                    { o.CallClient("OnBecame", o.Attrs.GetString("label")) }
func (o *Other) OnClientDisconnected()                 { o.Destroy() }

// Arena is the space.
type Arena struct{ entity.Entity }

func (a *Arena) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// heartbeatTimeout is the gates' heartbeat_timeout in the cluster test:
// short, so that the script sees a silent client kicked and a
// heartbeating one kept well past it.
const heartbeatTimeout = 2 * time.Second

func TestAgainstCluster(t *testing.T) {
	nodetest.Find(t) // fail (or skip) before starting anything
	seen = make(chan string, 1)
	reg := entity.NewRegistry()
	for name, proto := range map[string]any{"Tester": &Tester{}, "Other": &Other{}, "Arena": &Arena{}} {
		if err := reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "Tester", WebSocket: true,
		HeartbeatTimeout: heartbeatTimeout, PositionSyncInterval: 20 * time.Millisecond})
	space := c.CreateSpace(t, 0, "Arena")
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/cluster.mjs", c.GateWSURL(0), string(space),
		strconv.Itoa(int(heartbeatTimeout/time.Millisecond)))
	if !strings.Contains(out, "cluster: ok") {
		t.Fatalf("cluster.mjs did not report ok:\n%s", out)
	}
	// The other side of Kinds: what the server received, with its Go types.
	select {
	case got := <-seen:
		if got != wantKinds {
			t.Errorf("the server received\n%s\nwant\n%s", got, wantKinds)
		}
	default:
		t.Error("Kinds never ran on the server")
	}
}

// wantKinds is what Tester.Kinds receives from cluster.mjs (which checks
// the same string on its side).
const wantKinds = `[string("héllo 世界 🎮"),int64(42),int64(-7),float64(2.5),float64(3),bool(true),bool(false),nil,` +
	`[int64(1),string("x"),float64(1.5),[float64(0)]],{a:int64(1),b:[bool(true)],c:{d:nil},e:string("")},bytes(00ff),` +
	`int64(1152921504606846976),uint64(18446744073709551615),int64(-9223372036854775808),int64(255),int64(65536),` +
	`int64(0),float64(-0),float64(1e+300),float64(NaN),float64(-Inf),int64(9007199254740993)]`

// fakeGate is a WebSocket server that plays a gate for what a real one
// never does: it splits frames over messages, goes silent, sends text.
type fakeGate struct {
	t   *testing.T
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu   sync.Mutex
	logs []string
}

func (g *fakeGate) logf(format string, args ...any) {
	g.mu.Lock()
	g.logs = append(g.logs, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

func frame(t rpc.MsgType, body []byte) []byte { return rpc.AppendFrame(nil, t, body) }

func (g *fakeGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.wg.Add(1)
	defer g.wg.Done()
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		g.logf("upgrade: %v", err)
		return
	}
	defer ws.Close()
	scenario := strings.Trim(r.URL.Path, "/")
	create := frame(rpc.MsgCreateEntity, append(rpc.AppendString(append(rpc.AppendEntityID(nil, "AAECAwQFBgcICQoL"), 1), "Account"), 0x80))
	call := frame(rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, "AAECAwQFBgcICQoL"), "OnHi"), 0x91, 0xa2, 'h', 'i'))
	send := func(b []byte) {
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			g.logf("%s: write: %v", scenario, err)
		}
	}
	switch scenario {
	case "silent":
		// The boot entity split over two messages, then a message holding
		// a heartbeat answer and a call, then silence.
		send(create[:5])
		send(create[5:])
		send(append(frame(rpc.MsgHeartbeatAck, nil), call...))
	case "text":
		send(create)
		if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
			g.logf("text: %v", err)
		}
	default:
		g.logf("unknown scenario %q", scenario)
		return
	}
	// Read what the client sends until it closes (at most 10 s): in
	// "silent", heartbeats, each one frame in one binary message.
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	heartbeats := 0
	// The first message is the client's hello, with the protocol version.
	if mt, data, err := ws.ReadMessage(); err != nil || mt != websocket.BinaryMessage ||
		!bytes.Equal(data, frame(rpc.MsgClientHello, rpc.AppendClientHello(nil, rpc.ProtocolVersion))) {
		g.logf("%s: the client's first message: %d %x %v, want its ClientHello", scenario, mt, data, err)
		return
	}
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case scenario == "silent" && heartbeats < 2:
				g.logf("silent: the client sent %d heartbeats before closing, want at least 2", heartbeats)
			case !asClose(err, &ce):
				g.logf("%s: the client did not close with a close message: %v", scenario, err)
			case ce.Code != websocket.CloseNormalClosure:
				g.logf("%s: the client closed with code %d, want 1000", scenario, ce.Code)
			}
			return
		}
		if mt != websocket.BinaryMessage || !bytes.Equal(data, frame(rpc.MsgHeartbeat, nil)) {
			g.logf("%s: the client sent message type %d: %x, want heartbeats only", scenario, mt, data)
		}
		heartbeats++
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	*ce = c
	return ok
}

func TestAgainstFakeGate(t *testing.T) {
	nodetest.Find(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGate{t: t, ln: ln}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.srv.Serve(ln)
	}()
	defer func() {
		g.srv.Close()
		<-done
		g.wg.Wait()
	}()
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/fakegate.mjs", "ws://"+ln.Addr().String())
	if !strings.Contains(out, "fakegate: ok") {
		t.Fatalf("fakegate.mjs did not report ok:\n%s", out)
	}
	g.srv.Close()
	<-done
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.logs {
		t.Error(l)
	}
}
