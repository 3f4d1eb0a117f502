package gate_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/cluster"
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

// lossyRelay relays the UDP datagrams of one client to a gate and back,
// dropping the data segments of the first datagram from the gate that
// carries any: a lost packet, on a real UDP path.
type lossyRelay struct {
	front    *net.UDPConn // the client talks to this
	back     *net.UDPConn // connected to the gate
	dropped  atomic.Int32
	relayed  atomic.Int32 // data datagrams delivered to the client
	wg       sync.WaitGroup
	peerOnce sync.Once
	peer     chan *net.UDPAddr
}

func newLossyRelay(t *testing.T, gateAddr string) *lossyRelay {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ga, err := net.ResolveUDPAddr("udp", gateAddr)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, ga)
	if err != nil {
		t.Fatal(err)
	}
	r := &lossyRelay{front: front, back: back, peer: make(chan *net.UDPAddr, 1)}
	r.wg.Add(2)
	go func() { // client -> gate
		defer r.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.peerOnce.Do(func() { r.peer <- from })
			back.Write(buf[:n])
		}
	}()
	go func() { // gate -> client
		defer r.wg.Done()
		var to *net.UDPAddr
		buf := make([]byte, 64<<10)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if to == nil {
				to = <-r.peer // the gate answers only after the client spoke
			}
			out := buf[:n]
			if rest, had := withoutKCPData(out); had {
				if r.dropped.Load() == 0 {
					// Lose the data, deliver the ACKs: the client's own
					// frame is acknowledged, so it sends nothing more.
					r.dropped.Add(1)
					if out = rest; len(out) == 0 {
						continue
					}
				} else {
					r.relayed.Add(1)
				}
			}
			front.WriteToUDP(out, to)
		}
	}()
	t.Cleanup(func() {
		front.Close()
		back.Close()
		r.wg.Wait()
	})
	return r
}

func (r *lossyRelay) addr() string { return r.front.LocalAddr().String() }

// TestKCPKickSurvivesALostPacket: the gate's "server full" kick to a KCP
// client is lost once on the way; the session the gate closed lingers and
// KCP retransmits the kick, so the client still learns why.
func TestKCPKickSurvivesALostPacket(t *testing.T) {
	// The default kcp_interval, and a long one: resends happen at the
	// interval's looks, so the kick still comes, later.
	for _, interval := range []time.Duration{0, 200 * time.Millisecond} {
		t.Run(fmt.Sprintf("kcp_interval=%v", interval), func(t *testing.T) {
			c, _ := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{MaxClients: 1, KCPInterval: interval}})
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
	c, l := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{ClientMsgRate: 50, ClientMsgBurst: 100}})
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
	c, l := start(t, cluster.Options{KCP: true, GateLimits: &gate.Config{KCPSessionRate: rate, KCPSessionBurst: burst}})
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
		s, err := kcp.DialWithOptions(g.Addr().String(), nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
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
	// A KCP data segment (conversation 1, sequence 0) holding a heartbeat:
	// from a new address, it opens a session.
	frame := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	seg := binary.LittleEndian.AppendUint32(nil, 1)
	seg = append(seg, kcpCmdPush, 0)
	seg = binary.LittleEndian.AppendUint16(seg, 128)
	seg = binary.LittleEndian.AppendUint32(seg, 0) // ts
	seg = binary.LittleEndian.AppendUint32(seg, 0) // sn
	seg = binary.LittleEndian.AppendUint32(seg, 0) // una
	seg = binary.LittleEndian.AppendUint32(seg, uint32(len(frame)))
	seg = append(seg, frame...)
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
				uc, err := net.DialUDP("udp", nil, ga)
				if err != nil {
					continue
				}
				uc.Write(seg)
				uc.Close()
				sent.Add(1)
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
