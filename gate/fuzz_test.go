package gate_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/udprelay"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	kcp "github.com/xtaci/kcp-go/v5"
)

// Mover is the fuzz cluster's boot entity: it stands in a space, so that
// positions a fuzzed client sends reach a real space. It is destroyed when
// its client goes, as a game's boot entity should be: kept, the Movers of
// a fuzz run's many thousand sessions all stood at the space's origin,
// each seeing every other, so that each new one cost the game more (AOI
// pairs, gigabytes of heap) until a client's boot entity took over 10 s.
type Mover struct{ entity.Entity }

func (m *Mover) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.ExposeToClient("Echo")
}
func (m *Mover) Echo(s string)         { m.CallClient("OnEcho", s) }
func (m *Mover) OnClientDisconnected() { m.Destroy() }
func (m *Mover) OnClientConnected() {
	m.World().Entities(func(e *entity.Entity) {
		if e.IsSpace() && m.Space() == nil {
			m.EnterSpace(e.ID(), entity.Vector3{})
		}
	})
}

type Ground struct{ entity.Entity }

func (g *Ground) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// startFuzzCluster starts an in-process cluster whose boot entity is a
// Mover, with a Ground space, quiet logs and a 5 s heartbeat timeout.
// Of transports, only the KCP, WebSocket and GateLimits fields count: the
// client transports its gate serves besides TCP, and its limits.
func startFuzzCluster(f testing.TB, transports cluster.Options) *cluster.Cluster {
	r := entity.NewRegistry()
	for name, proto := range map[string]any{"Mover": &Mover{}, "Ground": &Ground{}} {
		if err := r.Register(name, proto); err != nil {
			f.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	lim := gate.Config{}
	if transports.GateLimits != nil {
		lim = *transports.GateLimits
	}
	if lim.ResumeWindow == 0 {
		// Inputs that ask for a resumable session and end without a bye
		// hold it: for a second, so that a long run does not keep them.
		lim.ResumeWindow = time.Second
	}
	c := cluster.Start(f, cluster.Options{
		Registry: r, BootEntity: "Mover", Logger: log, HeartbeatTimeout: 5 * time.Second,
		KCP: transports.KCP, WebSocket: transports.WebSocket, GateLimits: &lim,
	})
	done := make(chan struct{})
	c.Games[0].Post(func() { c.Games[0].World().CreateSpaceLocally("Ground", nil); close(done) })
	<-done
	return c
}

// clientStreamSeeds are the client streams both stream targets start
// from: a heartbeat, a call, positions (one NaN, one cut short, one
// with no entity), two frames in a row, a 4 GiB length, a length below
// the minimum, and method names over the bound.
func clientStreamSeeds() [][]byte {
	id := rpc.EntityID("AAAAAAAAAAAAAAAA")
	pos := func(x float32) []byte {
		b := rpc.AppendEntityID(rpc.AppendEntityID(nil, id), id)
		return rpc.AppendPosition(b, rpc.Vector3{X: x}, 0)
	}
	call := rpc.AppendString(rpc.AppendEntityID(nil, id), "Echo")
	call, _ = rpc.AppendArgs(call, []any{"hi"})
	seeds := [][]byte{
		nil,
		rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil),
		rpc.AppendFrame(nil, rpc.MsgCallEntity, call),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(1)),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(float32(math.NaN()))),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(1)[:40]),
		rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil), rpc.MsgPositions, []byte{1, 0}),
		{0xff, 0xff, 0xff, 0xff, 3, 0},
		{1, 0, 0, 0},
		// Method names past rpc.MaxMethodNameLen (issue 13), an
		// identifier and not, and a zero entity ID in a position.
		rpc.AppendFrame(nil, rpc.MsgCallEntity, append(rpc.AppendString(rpc.AppendEntityID(nil, id), "M"+strings.Repeat("a", 65499)), 0x90)),
		rpc.AppendFrame(nil, rpc.MsgCallEntity, append(rpc.AppendString(rpc.AppendEntityID(nil, id), strings.Repeat("\n", 300)), 0x90)),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, make([]byte, 2*rpc.EntityIDLength+rpc.PositionSize)),
		// Requests: one, two with the same ID (a protocol error), an
		// unknown entity, a bad method name, a truncated ID.
		rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, id, 1, "Echo", []byte{0x91, 0xa1, 'x'})),
		rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, id, 7, "Echo", []byte{0x90})),
			rpc.MsgRequest, rpc.AppendClientRequest(nil, id, 7, "Echo", []byte{0x90})),
		rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, "BBBBBBBBBBBBBBBB", 2, "Echo", []byte{0x90})),
		rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, id, 3, "not an identifier", []byte{0x90})),
		rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, id, 4, "Echo", nil)[:18]),
		// Goodbyes: one, one with a body (ignored), one with frames
		// after it (ignored: the session has ended).
		rpc.AppendFrame(nil, rpc.MsgBye, nil),
		rpc.AppendFrame(nil, rpc.MsgBye, []byte("why")),
		rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgBye, nil), rpc.MsgCallEntity, call),
	}
	// A client's first frame must be its hello: the same again after one,
	// so that the fuzzer starts from streams the gate reads past the
	// first frame; and hellos of other versions, short and long.
	n := len(seeds)
	for _, s := range seeds[:n] {
		seeds = append(seeds, append(helloFrame(), s...))
	}
	// Resumable sessions (docs/protocol.md, 8.1): a hello asking for
	// one, then the seeds above; acks good, backwards, beyond what was
	// sent and malformed; resumes of unknown tokens, short, counting
	// too much, of another version; a resume after the hello (a protocol
	// error) and an ack without a session.
	resumeHello := rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendClientHelloFlags(nil, rpc.ProtocolVersion, rpc.HelloResume))
	for _, s := range seeds[:n] {
		seeds = append(seeds, append(append([]byte{}, resumeHello...), s...))
	}
	ack := func(n uint64) []byte { return rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, n)) }
	var tok rpc.ResumeToken
	tok[0] = 1 // gate 1
	resume := func(r rpc.Resume) []byte { return rpc.AppendFrame(nil, rpc.MsgResume, rpc.AppendResume(nil, r)) }
	seeds = append(seeds,
		append(append(append([]byte{}, resumeHello...), rpc.AppendFrame(nil, rpc.MsgCallEntity, call)...), ack(0)...),
		append(append(append([]byte{}, resumeHello...), ack(0)...), ack(1)...),
		append(append([]byte{}, resumeHello...), ack(1<<40)...),
		append(append([]byte{}, resumeHello...), rpc.AppendFrame(nil, rpc.MsgAck, []byte{1, 2, 3})...),
		resume(rpc.Resume{Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: tok}),
		resume(rpc.Resume{Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: tok, Received: 1 << 62}),
		resume(rpc.Resume{Version: rpc.ProtocolVersion + 1, Token: tok}),
		rpc.AppendFrame(nil, rpc.MsgResume, []byte{1, 0, 1}),
		append(append([]byte{}, resumeHello...), resume(rpc.Resume{Version: rpc.ProtocolVersion, Token: tok})...),
		append(helloFrame(), ack(0)...),
	)
	return append(seeds,
		helloOf(rpc.ProtocolVersion+1),
		rpc.AppendFrame(nil, rpc.MsgClientHello, nil),
		rpc.AppendFrame(helloFrame(), rpc.MsgClientHello, rpc.AppendClientHello([]byte{}, rpc.ProtocolVersion)),
		rpc.AppendFrame(nil, rpc.MsgClientHello, append(rpc.AppendClientHello(nil, rpc.ProtocolVersion), 1, 2, 3)),
	)
}

// loopbackDialer returns a dialer whose connections come from a random
// address of 127/8 (all loopback on Linux; elsewhere, the default).
// Each fuzz input is a connection, which ends in TIME_WAIT: spread over
// source addresses, a long run does not use up one address's ephemeral
// ports.
func loopbackDialer() *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if runtime.GOOS == "linux" {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(1+rand.IntN(250)), byte(rand.IntN(256)), byte(1+rand.IntN(250)))}
	}
	return d
}

// FuzzGateClientStream sends arbitrary bytes to a real gate as a client's
// stream over TCP. Whatever they hold, the gate (in this process) must
// not crash, and must not hang: once the client stops sending, the gate
// closes the connection (after a kick, or at the end of the stream)
// within seconds.
func FuzzGateClientStream(f *testing.F) {
	addr := startFuzzCluster(f, cluster.Options{}).GateAddr(0)
	for _, s := range clientStreamSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := loopbackDialer().Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(data); err != nil {
			return // the gate hung up first: fine
		}
		nc.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the gate did not close the connection within 10s of the end of %d bytes", len(data))
			}
		}
	})
}

// wsInput is a fuzz input read as a WebSocket client's session: the
// binary messages that carry the stream, whether the last one goes as a
// text message instead, and the close message's payload.
type wsInput struct {
	msgs     [][]byte
	textLast bool
	close    []byte
}

// wsMaxMessages bounds the messages of one input.
const wsMaxMessages = 64

// wsCloses are the close messages an input can end with: 1000, 1001, no
// status, and a code (4000) that reads as an error.
var wsCloses = [4][]byte{
	websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
	websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"),
	websocket.FormatCloseMessage(websocket.CloseNoStatusReceived, ""),
	websocket.FormatCloseMessage(4000, "app"),
}

// parseWSInput splits a fuzz input into messages. Its first byte is the
// layout: bits 0-2 count the size bytes that follow (0 to 7), bit 3 sends
// the last message as text, bits 4-5 pick the close message (wsCloses).
// The rest is the stream. Without size bytes it is one message; with
// them, messages take the sizes in turn (0: an empty message), at most
// wsMaxMessages, the last one taking what is left. An empty input is no
// message and a normal close.
func parseWSInput(data []byte) wsInput {
	in := wsInput{close: wsCloses[0]}
	if len(data) == 0 {
		return in
	}
	h := data[0]
	in.textLast, in.close = h&0x08 != 0, wsCloses[h>>4&3]
	k := min(int(h&7), len(data)-1)
	sizes, stream := data[1:1+k], data[1+k:]
	if k == 0 {
		in.msgs = [][]byte{stream}
		return in
	}
	for i := 0; len(stream) > 0; i++ {
		n := int(sizes[i%k])
		if len(in.msgs) == wsMaxMessages-1 {
			n = len(stream)
		}
		n = min(n, len(stream))
		in.msgs = append(in.msgs, stream[:n])
		stream = stream[n:]
	}
	return in
}

// wsSeed is the input that sends stream in messages of the given sizes
// (see parseWSInput; at most 7 sizes), with the layout's other bits in
// flags.
func wsSeed(flags byte, sizes []byte, stream []byte) []byte {
	return append(append([]byte{flags | byte(len(sizes))}, sizes...), stream...)
}

// FuzzGateWSStream is FuzzGateClientStream over WebSocket: the input
// (see parseWSInput) is a client's stream cut into binary messages at
// places it chooses, perhaps ending in a text message, then a close
// message. Whatever they hold, the gate must not crash, and must close
// the connection (after a kick or at the close) within 10 s: its close
// message, then the socket's end.
func FuzzGateWSStream(f *testing.F) {
	url := startFuzzCluster(f, cluster.Options{WebSocket: true}).GateWSURL(0)
	seeds := clientStreamSeeds()
	for _, s := range seeds {
		f.Add(wsSeed(0, nil, s))             // one message
		f.Add(wsSeed(0, []byte{1}, s))       // a message per byte
		f.Add(wsSeed(0, []byte{3, 0, 5}, s)) // odd cuts and empty messages
	}
	all := bytes.Join(seeds, nil)
	f.Add(wsSeed(0, []byte{7, 0, 200}, all))
	f.Add(wsSeed(0x08, []byte{6}, seeds[2])) // a call, then its last bytes as text
	f.Add(wsSeed(0x18, nil, []byte("{}")))   // text only, closed with 1001
	f.Add(wsSeed(0x20, []byte{4}, seeds[2])) // closed without status
	f.Add(wsSeed(0x30, []byte{2}, seeds[5])) // a cut position, closed with 4000
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		in := parseWSInput(data)
		dialer := websocket.Dialer{NetDialContext: loopbackDialer().DialContext, HandshakeTimeout: 10 * time.Second}
		ws, _, err := dialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		deadline := time.Now().Add(10 * time.Second)
		ws.SetWriteDeadline(deadline)
		ws.SetReadDeadline(deadline)
		for i, m := range in.msgs {
			mt := websocket.BinaryMessage
			if in.textLast && i == len(in.msgs)-1 {
				mt = websocket.TextMessage
			}
			if err := ws.WriteMessage(mt, m); err != nil {
				return // the gate hung up first: fine
			}
		}
		if err := ws.WriteControl(websocket.CloseMessage, in.close, deadline); err != nil {
			return
		}
		// What the gate sends (the boot entity, echoes, a kick) until its
		// close message or the socket's end (bounded by the deadline, and
		// in count for good measure).
		for range 1 << 20 {
			_, _, err = ws.ReadMessage()
			if err != nil {
				break
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the gate did not close the connection within 10s of the close after %d messages", len(in.msgs))
		}
		if err == nil {
			t.Fatal("the gate sent messages without end")
		}
		// A close message: then the socket must end too.
		if websocket.IsCloseError(err, websocket.CloseAbnormalClosure) || !errors.As(err, new(*websocket.CloseError)) {
			return // the socket ended already
		}
		if _, err := io.Copy(io.Discard, ws.NetConn()); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the gate sent its close message but kept the socket open for 10s")
		}
	})
}

// kcpRelay forwards datagrams between one KCP client and the gate
// (udprelay), keeping those the client sent: real KCP traffic to seed
// the fuzzer with.
type kcpRelay struct {
	*udprelay.Relay
	mu   sync.Mutex
	sent [][]byte
}

func startKCPRelay(tb testing.TB, gate string) *kcpRelay {
	r := &kcpRelay{}
	r.Relay = udprelay.New(tb, gate, udprelay.Options{ToGate: func(b []byte) []byte {
		r.mu.Lock()
		r.sent = append(r.sent, append([]byte(nil), b...))
		r.mu.Unlock()
		return b
	}})
	return r
}

// echoOverKCP connects a real client over KCP (through addr), calls Echo
// and waits for the answer, for at most budget in all.
//
// The client may be held back: the fuzzer's inputs open sessions faster
// than the gate's kcp_session_rate allows (above all while the fuzz
// engine minimizes an input, thousands of runs a second), and the first
// datagram of a session over the limit is dropped until the rate has a
// token; the client's KCP resends it, but its heartbeats every 250 ms
// make it take a second of silence as the end. Such an attempt, one that
// heard nothing, is given up and the client dials again: the fuzzer waits
// on this call, so the gate's limit refills meanwhile. A gate that
// answered a client and then failed it, or no echo within budget, fails
// the check. It returns the number of attempts.
func echoOverKCP(tb testing.TB, addr, s string, budget time.Duration) int {
	tb.Helper()
	deadline := time.Now().Add(budget)
	for attempt := 1; ; attempt++ {
		heard, err := echoAttempt(addr, s, deadline)
		if err == nil {
			return attempt
		}
		if heard || !time.Now().Before(deadline) {
			tb.Fatalf("echo over KCP within %v, attempt %d: %v", budget, attempt, err)
		}
	}
}

// echoAttempt is one client of echoOverKCP, given up at deadline. heard
// reports whether the gate sent it anything.
func echoAttempt(addr, s string, deadline time.Time) (heard bool, err error) {
	c, err := client.Dial(addr, client.Options{KCP: true, HeartbeatInterval: 250 * time.Millisecond})
	if err != nil {
		return false, err
	}
	defer c.Close()
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	asked := false
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return c.Stats().FramesIn > 0, errors.New("events closed before the echo")
			}
			switch ev := ev.(type) {
			case client.EntityCreated:
				if ev.IsPlayer && !asked {
					asked = true
					if err := c.CallPlayer("Echo", s); err != nil {
						return true, err
					}
				}
			case client.Call:
				if ev.Method == "OnEcho" && len(ev.Args) == 1 && ev.Args[0] == s {
					return true, nil
				}
			case client.Disconnected:
				return c.Stats().FramesIn > 0, fmt.Errorf("disconnected before the echo: %v", ev.Reason)
			}
		case <-timeout.C:
			return true, fmt.Errorf("no echo (%d frames received, player created: %v)", c.Stats().FramesIn, asked)
		}
	}
}

// TestFuzzMoverGoesWithItsClient: the fuzz cluster's boot entities go
// with their clients, so a fuzz run's session churn leaves the game no
// bigger. (Kept, they piled up until the liveness check of
// FuzzGateKCPDatagrams waited over 10 s: be63f62d46a33a94.)
func TestFuzzMoverGoesWithItsClient(t *testing.T) {
	c := startFuzzCluster(t, cluster.Options{})
	count := func() int {
		n := make(chan int)
		c.Games[0].Post(func() {
			k := 0
			c.Games[0].World().Entities(func(*entity.Entity) { k++ })
			n <- k
		})
		return <-n
	}
	before := count()
	for range 20 {
		cl, err := client.Dial(c.GateAddr(0), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for ev := range cl.Events() {
			if ev, ok := ev.(client.EntityCreated); ok && ev.IsPlayer {
				break
			}
			if _, ok := ev.(client.Disconnected); ok {
				t.Fatal("disconnected before its player came")
			}
		}
		cl.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := count(); n != before; n = count() {
		if time.Now().After(deadline) {
			t.Fatalf("%d entities 10s after 20 clients came and went, %d before", n, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKCPClientOverSessionRateGetsIn: a KCP client whose session finds
// kcp_session_rate spent is not refused for good, as when the gate closed
// such sessions (kcp-go's Close could acknowledge the client's first
// segment, which it then never resent, and heard nothing ever): the
// filter drops its first datagram before KCP sees it, the client's KCP
// resends it, and the session opens once the rate has a token.
func TestKCPClientOverSessionRateGetsIn(t *testing.T) {
	c := startFuzzCluster(t, cluster.Options{KCP: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{KCPSessionRate: 2, KCPSessionBurst: 1}}})
	addr := c.GateAddr(0)
	for trial := 1; ; trial++ {
		taker, err := client.Dial(addr, client.Options{KCP: true})
		if err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); taker.Stats().FramesIn == 0; time.Sleep(time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatal("the gate did not answer a client in 10s")
			}
		}
		before := kcpDropped(t, c.Gates[0], "session_rate")
		late, err := client.Dial(addr, client.Options{KCP: true})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev := next(t, late)
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				break
			}
			if d, ok := ev.(client.Disconnected); ok {
				t.Fatalf("the client over the rate was disconnected: %s", d.Reason)
			}
		}
		taker.Close()
		late.Close()
		if kcpDropped(t, c.Gates[0], "session_rate") > before {
			return // it was over the rate, and got in
		}
		if trial == 10 {
			t.Fatal("in 10 trials, no client dialed right after another was over the rate")
		}
	}
}

// kcpAliveBudget bounds the liveness check between fuzz inputs; it
// normally takes milliseconds.
const kcpAliveBudget = 5 * time.Second

// kcpDatagrams splits a fuzz input into datagrams: each is a uint16 LE
// length and that many bytes (the last takes what is left), at most 32
// of at most 1,500 bytes.
func kcpDatagrams(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 && len(out) < 32 {
		n := len(data)
		if n >= 2 {
			n = int(binary.LittleEndian.Uint16(data))
			data = data[2:]
		}
		n = min(n, len(data), 1500)
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// FuzzGateKCPDatagrams sends arbitrary UDP datagrams to a real gate's
// KCP port: kcp-go parses them in the gate's process (headers, FEC
// flags, segments, window and ack fields) and the gate reads frames from
// whatever stream they make. The gate must not crash, and must keep
// serving: every 256 inputs, at the start and at the end, a real client
// completes a call over KCP.
//
// Inputs are sent from a pool of 16 UDP sockets in turn, so the gate
// holds at most 16 sessions from the fuzzer; a fresh socket per input
// would leave thousands of sessions open until their handshake or idle
// timeout. Each socket runs the KCP handshake (again every 4 s, within
// a cookie's life), and every datagram of 4 bytes or more whose
// conversation is not 0 goes out with the socket's cookie as its
// conversation, so that it gets past the gate's filter to kcp-go; those
// with conversation 0 are handshake datagrams for the filter. (The
// filter's own decisions are fuzzed by FuzzKCPFilter.) A session can see
// the tail of an earlier input: a crasher may need the inputs before it
// to reproduce.
func FuzzGateKCPDatagrams(f *testing.F) {
	fc := startFuzzCluster(f, cluster.Options{KCP: true})
	addr := fc.GateAddr(0)
	// What got past the filter, for a run's log (go test -v).
	f.Cleanup(func() {
		ss := gateMetrics(f, fc.Gates[0])
		var drops []string
		for _, r := range []string{"malformed", "bad_cookie", "wrong_conv", "no_frame", "session_rate", "hello_rate"} {
			n, _ := ss.Sum("goworld_gate_kcp_dropped_total", "reason", r)
			drops = append(drops, fmt.Sprintf("%s=%v", r, n))
		}
		hellos, _ := ss.Sum("goworld_gate_kcp_hellos_answered_total")
		snmp := kcp.DefaultSnmp.Copy()
		f.Logf("KCP: %v hellos answered, dropped %v; kcp-go opened %d sessions and took in %d datagrams", hellos, drops, snmp.PassiveOpens, snmp.InPkts)
	})

	// Seeds: the datagrams of a real client's session (connect, call,
	// acks, and its goodbye at Close), one per seed and all together.
	relay := startKCPRelay(f, addr)
	echoOverKCP(f, relay.Addr(), "seed", 30*time.Second)
	relay.mu.Lock()
	sent := relay.sent
	relay.mu.Unlock()
	if len(sent) == 0 {
		f.Fatal("the relay saw no datagram")
	}
	join := func(ds ...[]byte) []byte {
		var b []byte
		for _, d := range ds {
			b = append(binary.LittleEndian.AppendUint16(b, uint16(len(d))), d...)
		}
		return b
	}
	f.Add(join(sent...))
	for _, d := range sent[:min(len(sent), 8)] {
		f.Add(join(d))
	}
	f.Add(join(sent[0][:24], sent[0][:10]))
	f.Add([]byte{})

	ga, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		f.Fatal(err)
	}
	type pooled struct {
		uc   *net.UDPConn
		conv uint32
		at   time.Time // of the handshake
	}
	pool := make([]pooled, 16)
	for i := range pool {
		if pool[i].uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			f.Fatal(err)
		}
		defer pool[i].uc.Close()
	}
	// A last echo once the inputs are done (cleanups run last first, so
	// before the cluster stops): the gate accepts sessions in the order
	// their first datagrams came, so once it answers, it has accepted
	// every session the inputs opened, and stopping closes them all.
	// (kcp-go's Listener.Close leaves sessions not yet accepted running.)
	f.Cleanup(func() { echoOverKCP(f, addr, "last", 30*time.Second) })
	inputs := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &pool[inputs%len(pool)]
		inputs++
		if time.Since(p.at) > 4*time.Second {
			conv, err := client.KCPHandshake(p.uc, ga, kcpAliveBudget)
			if err != nil {
				t.Fatal(err)
			}
			p.conv, p.at = conv, time.Now()
		}
		for _, d := range kcpDatagrams(data) {
			if len(d) >= 4 && binary.LittleEndian.Uint32(d) != 0 {
				stamped := binary.LittleEndian.AppendUint32(make([]byte, 0, len(d)), p.conv)
				d = append(stamped, d[4:]...)
			}
			p.uc.WriteTo(d, ga)
		}
		if inputs%256 == 1 {
			// Well under the fuzz engine's patience: a worker whose call
			// of this function lasts 10 s panics ("deadlocked!", in
			// internal/fuzz's RunFuzzWorker), and its output is not kept:
			// the run ends with "fuzzing process hung or terminated
			// unexpectedly: exit status 2" and nothing else.
			echoOverKCP(t, addr, "alive", kcpAliveBudget)
		}
	})
}
