package gate_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/udprelay"
	"github.com/goworld-engine/goworld/rpc"
	kcp "github.com/xtaci/kcp-go/v5"
)

// kcpCmdPush is the command byte of a KCP data segment. The gate uses
// neither encryption nor FEC, so a datagram is plain KCP segments.
const kcpCmdPush = 81

// withoutKCPData returns a datagram without its KCP data segments, and
// whether it had any. A datagram is a run of segments (ACKs first, then
// data), each a 24-byte header (conv u32, cmd u8, frg u8, wnd u16, ts u32,
// sn u32, una u32, len u32, little-endian) and len bytes.
func withoutKCPData(p []byte) (rest []byte, had bool) {
	for len(p) >= 24 {
		n := min(24+int(binary.LittleEndian.Uint32(p[20:])), len(p))
		if p[4] == kcpCmdPush {
			had = true
		} else {
			rest = append(rest, p[:n]...)
		}
		p = p[n:]
	}
	return rest, had
}

// lossyRelay relays the UDP datagrams of a client to a gate and back
// (udprelay), dropping (if lossy) the data segments of the first datagram
// from the gate that carries any: a lost packet, on a real UDP path.
// SetDown(true) drops everything, both ways: a network gone dead. What a
// test writes on Upstream reaches the gate from the client's address, as
// a spoofer's datagrams would.
type lossyRelay struct {
	*udprelay.Relay
	lossy   bool
	dropped atomic.Int32
	relayed atomic.Int32 // data datagrams delivered to the client
}

func newLossyRelay(t *testing.T, gateAddr string) *lossyRelay {
	t.Helper()
	return newRelay(t, gateAddr, true)
}

func newRelay(t testing.TB, gateAddr string, lossy bool) *lossyRelay {
	t.Helper()
	r := &lossyRelay{lossy: lossy}
	r.Relay = udprelay.New(t, gateAddr, udprelay.Options{ToClient: r.toClient})
	return r
}

// toClient loses the data of the first datagram with any, and delivers
// its ACKs: the client's own frame is acknowledged, so it sends nothing
// more.
func (r *lossyRelay) toClient(out []byte) []byte {
	if rest, had := withoutKCPData(out); had && r.lossy {
		if r.dropped.Load() == 0 {
			r.dropped.Add(1)
			return rest
		}
		r.relayed.Add(1)
	}
	return out
}

func (r *lossyRelay) addr() string { return r.Addr() }

// TestKCPKickSurvivesALostPacket: the gate's "server full" kick to a KCP
// client is lost once on the way; the session the gate closed lingers and
// KCP retransmits the kick, so the client still learns why.
func TestKCPKickSurvivesALostPacket(t *testing.T) {
	// The default kcp_interval, and a long one: resends happen at the
	// interval's looks, so the kick still comes, later.
	for _, interval := range []time.Duration{0, 200 * time.Millisecond} {
		t.Run(fmt.Sprintf("kcp_interval=%v", interval), func(t *testing.T) {
			c, _ := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClients: 1, KCPInterval: interval}}})
			dialPlayer(t, c.GateAddr(0))
			relay := newLossyRelay(t, c.GateAddr(0))
			x, err := client.Dial(relay.addr(), client.Options{KCP: true, HeartbeatInterval: -1, KCPInterval: interval})
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			if r := expectKick(t, x); r != "server full" {
				t.Fatalf("kick reason %q", r)
			}
			if d, n := relay.dropped.Load(), relay.relayed.Load(); d != 1 || n < 1 {
				t.Fatalf("relay dropped %d and delivered %d data datagrams, want 1 and at least 1", d, n)
			}
		})
	}
}

// TestKCPRateLimitKickReachesTheClient: a KCP client over its message
// rate gets the reason, like a TCP client.
func TestKCPRateLimitKickReachesTheClient(t *testing.T) {
	c, l := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientMsgRate: 50, ClientMsgBurst: 100}}})
	x, err := client.Dial(c.GateAddr(0), client.Options{KCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for i := 0; i < 1000; i++ {
		x.SendRaw(rpc.MsgHeartbeat, nil)
	}
	if r := expectKick(t, x); r != "rate limit: more than 50 messages per second" {
		t.Fatalf("kick reason %q", r)
	}
	l.wait(t, "over its rate limit")
}

// TestKCPSessionRateLimit: new KCP sessions beyond kcp_session_rate are
// refused and the refusals logged, while an existing KCP client is served.
func TestKCPSessionRateLimit(t *testing.T) {
	const rate, burst, flood = 5, 5, 60
	c, l := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{KCPSessionRate: rate, KCPSessionBurst: burst}}})
	old, err := client.Dial(c.GateAddr(0), client.Options{KCP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for {
		if ev, ok := next(t, old).(client.EntityCreated); ok && ev.IsPlayer {
			break
		}
	}
	began := time.Now()
	var xs []*client.Client
	defer func() {
		for _, x := range xs {
			x.Close()
		}
	}()
	for i := 0; i < flood; i++ {
		x, err := client.Dial(c.GateAddr(0), client.Options{KCP: true, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	l.wait(t, "dropped", "new KCP sessions: more than 5 per second (kcp_session_rate)")
	// At most the burst plus what the rate refilled got in (plus one for
	// rounding); the refused sessions retransmit their first frame and are
	// refused again, or let in as tokens come back.
	allowed := 1 + burst + int(rate*time.Since(began).Seconds()) + 1
	if n := c.Gates[0].NumClients(); n > allowed {
		t.Fatalf("%d clients connected after a flood of %d sessions, want at most %d", n, flood, allowed)
	}
	old.CallPlayer("Echo", "still here")
	if got := expect(t, old, "OnEcho"); got[0] != "still here" {
		t.Fatalf("OnEcho %v", got)
	}
}

// TestKCPSessionsQueuedAtCloseAreClosed: sessions that kcp-go's listener
// opened but the gate had not accepted yet when it closed (here: a gate
// that never ran) are closed with it; kcp-go would leave each one's
// goroutine running for good.
func TestKCPSessionsQueuedAtCloseAreClosed(t *testing.T) {
	g, err := gate.New(gate.Config{ID: 7, ListenAddr: "127.0.0.1:0", KCP: true,
		Dispatchers: []string{"127.0.0.1:1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	fresh := newKCPSessionCounter()
	const n = 5
	for i := 0; i < n; i++ {
		s := rawKCP(t, g.Addr().String())
		s.Write(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil))
		defer s.Close()
	}
	// n client sessions, and n server sessions once their datagrams are in.
	for deadline := time.Now().Add(10 * time.Second); fresh() < 2*n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d new session goroutines, want %d", fresh(), 2*n)
		}
	}
	g.Close()
	// The server sessions' goroutines end (Close ends them at once; their
	// exit is asynchronous); the clients' remain until the deferred closes.
	for deadline := time.Now().Add(10 * time.Second); fresh() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %d new session goroutines, want %d (the %d clients')", fresh(), n, n)
		}
	}
}

// newKCPSessionCounter returns a function that counts the KCP session
// goroutines that were not running when it was made: goroutines of other
// tests' sessions may still be ending, and must not count.
func newKCPSessionCounter() func() int {
	before := kcpSessionGoroutines()
	return func() int {
		n := 0
		for id := range kcpSessionGoroutines() {
			if !before[id] {
				n++
			}
		}
		return n
	}
}

// kcpSessionGoroutines returns the IDs of the goroutines of live kcp-go
// sessions.
func kcpSessionGoroutines() map[string]bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			ids := map[string]bool{}
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "kcp-go/v5.(*UDPSession).postProcess(") {
					id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
					ids[id] = true
				}
			}
			return ids
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestKCPSessionsOpenedWhileClosingAreClosed: datagrams from new clients
// keep coming while the gate closes. kcp-go's reader may open sessions
// for the last batch it read after the listener closed; the gate closes
// those too.
func TestKCPSessionsOpenedWhileClosingAreClosed(t *testing.T) {
	g, err := gate.New(gate.Config{ID: 7, ListenAddr: "127.0.0.1:0", KCP: true,
		Dispatchers: []string{"127.0.0.1:1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	fresh := newKCPSessionCounter()
	ga, err := net.ResolveUDPAddr("udp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// After the handshake, a KCP data segment (sequence 0) holding a
	// heartbeat: from a new address, it opens a session.
	frame := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					continue
				}
				// Once the gate is closed, no hello is answered.
				conv, err := client.KCPHandshake(uc, ga, 200*time.Millisecond)
				if err == nil {
					uc.WriteTo(kcpSegment(conv, kcpCmdPush, 0, frame), ga)
					sent.Add(1)
				}
				uc.Close()
			}
		}()
	}
	for sent.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	g.Close()
	close(stop)
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Second); fresh() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %d session goroutines left", fresh())
		}
	}
}

// kcpSegment returns a KCP segment of conversation conv with command cmd
// and sequence number sn, holding data.
func kcpSegment(conv uint32, cmd byte, sn uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, conv)
	b = append(b, cmd, 0)
	b = binary.LittleEndian.AppendUint16(b, 128) // window
	b = binary.LittleEndian.AppendUint32(b, 0)   // ts
	b = binary.LittleEndian.AppendUint32(b, sn)  // sn
	b = binary.LittleEndian.AppendUint32(b, 0)   // una
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// handshakeSocket opens a UDP socket on 127.0.0.1 and runs the KCP
// handshake with the gate at addr on it: conv opens a session from it.
func handshakeSocket(t testing.TB, addr string) (uc *net.UDPConn, ga *net.UDPAddr, conv uint32) {
	t.Helper()
	ga, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if conv, err = client.KCPHandshake(uc, ga, 10*time.Second); err != nil {
		uc.Close()
		t.Fatal(err)
	}
	return uc, ga, conv
}

// rawKCP is a kcp-go session with the gate at addr, opened as client.Dial
// opens one, for tests that speak KCP by hand. The caller closes it.
func rawKCP(t testing.TB, addr string) *kcp.UDPSession {
	t.Helper()
	uc, ga, conv := handshakeSocket(t, addr)
	s, err := kcp.NewConn4(conv, ga, nil, 0, 0, true, uc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gateMetrics scrapes a gate's metrics.
func gateMetrics(t testing.TB, g *gate.Gate) metrics.Samples {
	t.Helper()
	var b bytes.Buffer
	if err := g.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	ss, err := metrics.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// kcpDropped returns the gate's count of KCP datagrams dropped for reason.
func kcpDropped(t testing.TB, g *gate.Gate, reason string) int {
	t.Helper()
	n, _ := gateMetrics(t, g).Sum("goworld_gate_kcp_dropped_total", "reason", reason)
	return int(n)
}

// waitFor polls cond every few milliseconds for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
	}
}

// dialWith is dialPlayer with options.
func dialWith(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for {
		if ev, ok := next(t, c).(client.EntityCreated); ok && ev.IsPlayer {
			return c
		}
	}
}

// TestKCPJunkTakesNoSlot: UDP datagrams from 200 ports that did not do
// the handshake (random bytes, and what an old client or a spoofer
// sends: a first KCP segment with a heartbeat under a random
// conversation, and an ACK) open no session and take no client slot: with
// max_clients = 20, TCP, WebSocket and KCP clients all get in afterwards,
// and the drops are counted and logged.
func TestKCPJunkTakesNoSlot(t *testing.T) {
	c, l := start(t, cluster.Options{KCP: true, WebSocket: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClients: 20}}})
	g := c.Gates[0]
	ga, err := net.ResolveUDPAddr("udp", c.GateAddr(0))
	if err != nil {
		t.Fatal(err)
	}
	fresh := newKCPSessionCounter()
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	const ports = 200
	sent := 0
	for range ports {
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 24+rand.IntN(200))
		for i := range junk {
			junk[i] = byte(rand.Uint32())
		}
		conv := rand.Uint32() | 1
		for _, d := range [][]byte{junk, kcpSegment(conv, kcpCmdPush, 0, hb), kcpSegment(conv, 82, 0, nil)} {
			if _, err := uc.WriteTo(d, ga); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		uc.Close()
	}
	waitFor(t, "the gate has not seen every junk datagram", func() bool {
		return kcpDropped(t, g, "bad_cookie")+kcpDropped(t, g, "malformed") >= sent
	})
	if n, p, s := g.NumClients(), g.PendingKCP(), fresh(); n != 0 || p != 0 || s != 0 {
		t.Fatalf("after %d junk datagrams: %d clients, %d pending KCP sessions, %d kcp-go sessions; want none", sent, n, p, s)
	}
	for range 3 {
		dialWith(t, c.GateAddr(0), client.Options{})
		dialWith(t, c.GateWSURL(0), client.Options{})
		dialWith(t, c.GateAddr(0), client.Options{KCP: true})
	}
	if n := g.NumClients(); n != 9 {
		t.Fatalf("%d clients, want 9", n)
	}
	l.wait(t, "KCP: dropped", "datagrams from new addresses without a valid handshake cookie")
}

// TestKCPSessionCannotBeTakenOver: datagrams from a connected KCP
// player's own address (its relay's socket, which the gate sees as the
// player) that carry another conversation, a first segment with a new
// conversation and sequence number 0 among them (kcp-go alone replaces
// the player's session for it), are dropped: the player keeps calling
// and being answered, and its entity keeps its client.
func TestKCPSessionCannotBeTakenOver(t *testing.T) {
	c, _ := start(t, cluster.Options{KCP: true})
	g := c.Gates[0]
	relay := newRelay(t, c.GateAddr(0), false)
	p := dialWith(t, relay.addr(), client.Options{KCP: true})
	player, _ := p.Player()
	ref := clientOf(t, c, player.ID)
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	for i := range 10 {
		conv := rand.Uint32() | 1
		for _, d := range [][]byte{kcpSegment(conv, kcpCmdPush, 0, hb), kcpSegment(conv, 82, uint32(i), nil), kcpSegment(conv, kcpCmdPush, 1, hb)} {
			if _, err := relay.Upstream(t).Write(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the gate has not dropped the 30 datagrams of other conversations", func() bool {
		return kcpDropped(t, g, "wrong_conv") >= 30
	})
	for i := range 5 {
		s := fmt.Sprint("still mine ", i)
		p.CallPlayer("Echo", s)
		if got := expect(t, p, "OnEcho"); got[0] != s {
			t.Fatalf("OnEcho %v, want %q", got, s)
		}
	}
	if now := clientOf(t, c, player.ID); now != ref {
		t.Fatalf("the player's entity has client %+v, had %+v", now, ref)
	}
	if n, pend := g.NumClients(), g.PendingKCP(); n != 1 || pend != 0 {
		t.Fatalf("%d clients and %d pending KCP sessions, want 1 and 0", n, pend)
	}
}

// clientOf returns the client bound to entity id on the cluster's first
// game; it fails the test if the entity is gone or has none.
func clientOf(t *testing.T, c *cluster.Cluster, id rpc.EntityID) entity.ClientRef {
	t.Helper()
	type result struct {
		ref       entity.ClientRef
		found, ok bool
	}
	ch := make(chan result, 1)
	c.Games[0].Post(func() {
		e := c.Games[0].World().Entity(id)
		if e == nil {
			ch <- result{}
			return
		}
		ref, ok := e.Client()
		ch <- result{ref, true, ok}
	})
	select {
	case r := <-ch:
		if !r.found || !r.ok {
			t.Fatalf("entity %s: found %v, has a client %v", id, r.found, r.ok)
		}
		return r.ref
	case <-time.After(10 * time.Second):
		t.Fatal("the game loop did not answer in 10s")
	}
	return entity.ClientRef{}
}

// TestKCPNoSessionWithoutAFrame: a sender with a cookie whose datagrams
// hold no whole first frame in the session's first segment (half a
// header; a whole frame in a segment that is not a whole message; an ACK;
// a frame in the second segment) opens no session: no kcp-go state,
// nothing pending, no client slot (of max_clients = 2, a TCP client takes
// one). Its address is not held either: a KCP session from the same
// socket, with the same cookie, then gets in.
func TestKCPNoSessionWithoutAFrame(t *testing.T) {
	c, l := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClients: 2}}})
	g := c.Gates[0]
	fresh := newKCPSessionCounter()
	uc, ga, conv := handshakeSocket(t, c.GateAddr(0))
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	notWhole := kcpSegment(conv, kcpCmdPush, 0, hb)
	notWhole[5] = 1 // frg: one more fragment to come
	for _, d := range [][]byte{kcpSegment(conv, kcpCmdPush, 0, hb[:3]), notWhole, kcpSegment(conv, 82, 0, nil), kcpSegment(conv, kcpCmdPush, 1, hb)} {
		if _, err := uc.WriteTo(d, ga); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the gate has not dropped the 4 datagrams without a first frame", func() bool { return kcpDropped(t, g, "no_frame") >= 4 })
	if n, p, s := g.NumClients(), g.PendingKCP(), fresh(); n != 0 || p != 0 || s != 0 {
		t.Fatalf("%d clients, %d pending KCP sessions, %d kcp-go sessions; want none", n, p, s)
	}
	dialPlayer(t, c.GateAddr(0))
	s, err := kcp.NewConn4(conv, ga, nil, 0, 0, true, uc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(append(helloFrame(), hb...))
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, _, err := rpc.ReadFrame(s, make([]byte, rpc.HeaderSize), 1<<20)
		if err != nil {
			t.Fatalf("the KCP session after the drops: %v", err)
		}
		if typ == rpc.MsgHeartbeatAck {
			break
		}
	}
	if n := g.NumClients(); n != 2 {
		t.Fatalf("%d clients, want the TCP and the KCP one", n)
	}
	l.wait(t, "KCP: dropped", "datagrams with a valid cookie but no whole first frame")
}

// TestKCPOldClientIsToldWhy: a KCP client that skips the handshake (one
// written before it, with a conversation of its own) gets a MsgKick
// saying the handshake is required, rather than silence.
func TestKCPOldClientIsToldWhy(t *testing.T) {
	c, _ := start(t, cluster.Options{KCP: true})
	s, err := kcp.DialWithOptions(c.GateAddr(0), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetNoDelay(1, 10, 2, 1)
	s.Write(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil))
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := rpc.ReadFrame(s, make([]byte, rpc.HeaderSize), 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	r := rpc.NewReader(body)
	if reason := r.String(); typ != rpc.MsgKick || !strings.HasPrefix(reason, "KCP handshake required") {
		t.Fatalf("got %v %q, want a kick about the handshake", typ, reason)
	}
	if n, _ := gateMetrics(t, c.Gates[0]).Sum("goworld_gate_kcp_old_client_kicks_total"); n < 1 {
		t.Fatalf("old client kicks %v", n)
	}
}
