package goworld

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

var (
	clusterSecret = []byte("this cluster's secret: 32 bytes.")
	wrongSecret   = []byte("another cluster's secret, 32 b..")
)

// hookedLog is a logger that keeps every line (message and fields).
type hookedLog struct {
	*logrus.Logger
	mu    sync.Mutex
	lines []string
}

func newHookedLog() *hookedLog {
	h := &hookedLog{Logger: logrus.New()}
	h.SetOutput(io.Discard)
	h.SetLevel(logrus.InfoLevel)
	h.AddHook(h)
	return h
}

func (h *hookedLog) Levels() []logrus.Level { return logrus.AllLevels }
func (h *hookedLog) Fire(e *logrus.Entry) error {
	line, _ := e.String()
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return nil
}

// has reports whether one line holds every one of parts.
func (h *hookedLog) has(parts ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for _, l := range h.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return true
	}
	return false
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

// metricText returns the Prometheus text of write.
func metricText(t *testing.T, write func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// runServer runs a server's Run until the test ends.
func runServer(t *testing.T, run func(context.Context) error, stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); run(ctx) }()
	t.Cleanup(func() { stop(); cancel(); <-done })
}

// TestLinkAuthCluster runs a real dispatcher, game and gate sharing a
// cluster secret, and clients playing through them; then processes that
// do not hold the secret try to join, and a real game meets dispatchers
// that do not hold it. Every one is refused, on both sides, with a line
// in each log that says why and a count in each /metrics, and none of
// them gets anything routed to it, while the cluster keeps serving.
func TestLinkAuthCluster(t *testing.T) {
	reg := entity.NewRegistry()
	if err := reg.Register("Pinger", &pinger{}); err != nil {
		t.Fatal(err)
	}
	dlog := newHookedLog()
	cl := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "Pinger", Secret: clusterSecret, Logger: dlog})
	d := cl.Dispatchers[0]
	daddr := d.Addr().String()
	play := func(t *testing.T) {
		t.Helper()
		c, err := client.Dial(cl.GateAddr(0), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for ev := range c.Events() {
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				break
			}
		}
		if err := c.CallPlayer("Ping", 7); err != nil {
			t.Fatal(err)
		}
		if got := awaitCall(t, c, "Pong"); got.Args[0] != int64(7) {
			t.Fatalf("pong %v", got.Args)
		}
	}
	play(t) // the right secret joins: the game and gate serve

	refusals := func(reason string) string {
		return `goworld_dispatcher_link_refusals_total{process="dispatcher1",reason="` + reason + `"} `
	}
	countAtLeast := func(text, prefix string, n int) bool { return metricValue(text, prefix) >= n }

	t.Run("game with a wrong secret", func(t *testing.T) {
		log := newHookedLog()
		g, err := game.New(game.Config{ID: 2, Dispatchers: []string{daddr}, BootEntity: "Pinger", Registry: reg, Secret: wrongSecret, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, g.Run, func() error { g.Close(); return nil })
		eventually(t, "both sides log the refusal", func() bool {
			return dlog.has("refused a game/gate link", "wrong cluster secret", "peer=game2") &&
				log.has("link handshake refused", "dispatcher refused this process: wrong cluster secret")
		})
		eventually(t, "both sides count it", func() bool {
			return countAtLeast(metricText(t, d.WriteMetrics), refusals("bad_proof"), 1) &&
				countAtLeast(metricText(t, g.WriteMetrics), `goworld_link_refusals_total{process="game2",refused_by="dispatcher"} `, 1)
		})
		select {
		case <-g.Ready():
			t.Fatal("a game with the wrong secret joined")
		default:
		}
		// New clients all land on game 1, which is all the dispatcher knows.
		for range 3 {
			play(t)
		}
		if m := metricText(t, d.WriteMetrics); !strings.Contains(m, `goworld_dispatcher_peers{process="dispatcher1",role="game"} 1`+"\n") {
			t.Fatalf("the dispatcher counts other games:\n%s", m)
		}
		if m := metricText(t, g.WriteMetrics); !strings.Contains(m, `goworld_game_entities{process="game2"} 0`+"\n") {
			t.Fatalf("the refused game hosts entities:\n%s", m)
		}
	})

	t.Run("gate with a wrong secret", func(t *testing.T) {
		log := newHookedLog()
		g, err := gate.New(gate.Config{ID: 2, ListenAddr: "127.0.0.1:0", Dispatchers: []string{daddr}, Secret: wrongSecret, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		// game 2 is gone: what the dispatcher counts from now on is gate 2.
		// (Its log lines may be past the rate limit of that kind of line.)
		before := metricValue(metricText(t, d.WriteMetrics), refusals("bad_proof"))
		runServer(t, g.Run, g.Close)
		eventually(t, "both sides log and count the refusal", func() bool {
			return log.has("dispatcher refused this process: wrong cluster secret") &&
				countAtLeast(metricText(t, d.WriteMetrics), refusals("bad_proof"), before+1) &&
				countAtLeast(metricText(t, g.WriteMetrics), `goworld_link_refusals_total{process="gate2",refused_by="dispatcher"} `, 1)
		})
		select {
		case <-g.Ready():
			t.Fatal("a gate with the wrong secret joined")
		default:
		}
	})

	t.Run("game without a secret", func(t *testing.T) {
		log := newHookedLog()
		g, err := game.New(game.Config{ID: 3, Dispatchers: []string{daddr}, BootEntity: "Pinger", Registry: reg, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, g.Run, func() error { g.Close(); return nil })
		eventually(t, "both sides log and count the refusal", func() bool {
			return dlog.has("requires link authentication", "peer=game3") &&
				log.has("dispatcher refused this process: this dispatcher requires link authentication") &&
				countAtLeast(metricText(t, d.WriteMetrics), refusals("no_auth"), 1)
		})
	})

	t.Run("a captured handshake replayed", func(t *testing.T) {
		// Game 4 holds the secret and joins through a proxy that records
		// what it sends; an eavesdropper then replays that to the
		// dispatcher.
		rec := recordingProxy(t, daddr)
		g, err := game.New(game.Config{ID: 4, Dispatchers: []string{rec.addr}, BootEntity: "Pinger", Registry: reg, Secret: clusterSecret, Logger: newHookedLog()})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, g.Run, func() error { g.Close(); return nil })
		select {
		case <-g.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("game 4 with the right secret did not join")
		}
		g.Close()
		captured := rec.sent()
		const handshake = rpc.HeaderSize + 44 + rpc.HeaderSize + rpc.MACSize // hello, proof
		if len(captured) < handshake {
			t.Fatalf("captured %d bytes", len(captured))
		}
		nc, err := net.Dial("tcp", daddr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(captured[:handshake]); err != nil {
			t.Fatal(err)
		}
		var hdr [rpc.HeaderSize]byte
		typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<10)
		if err != nil || typ != rpc.MsgAuthChallenge {
			t.Fatalf("%v %v, want a fresh challenge", typ, err)
		}
		typ, body, err := rpc.ReadFrame(nc, hdr[:], 1<<10)
		if code, _ := rpc.DecodeRefusal(body); err != nil || typ != rpc.MsgHelloRefused || code != rpc.RefusedBadProof {
			t.Fatalf("%v %v %x: the replay was not refused", typ, err, body)
		}
	})

	t.Run("a dispatcher without the secret", func(t *testing.T) {
		// A real dispatcher of another cluster, on this port: the game
		// refuses it (it cannot prove the secret), and it refuses the game.
		olog, glog := newHookedLog(), newHookedLog()
		other, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", Secret: wrongSecret, Logger: olog})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, other.Run, other.Close)
		g, err := game.New(game.Config{ID: 1, Dispatchers: []string{other.Addr().String()}, BootEntity: "Pinger", Registry: reg, Secret: clusterSecret, Logger: glog})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, g.Run, func() error { g.Close(); return nil })
		eventually(t, "both refuse", func() bool {
			return olog.has("wrong cluster secret") && glog.has("link handshake refused")
		})

		// An impostor that accepts anyone (no secret, or an old
		// dispatcher), then one that challenges and cannot prove: the
		// real game refuses both and counts it.
		for _, answer := range []func(c *rpc.Conn, h rpc.Hello){
			func(c *rpc.Conn, h rpc.Hello) {
				c.Send(rpc.MsgHelloAck, rpc.AppendUint64(rpc.AppendUint16(nil, 1), 42))
			},
			func(c *rpc.Conn, h rpc.Hello) {
				ch := rpc.Challenge{DispatcherID: 1, Instance: 42, Nonce: rpc.NewNonce()}
				c.Send(rpc.MsgAuthChallenge, rpc.AppendChallenge(nil, ch))
				c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
				if typ, _, err := c.ReadFrame(); err != nil || typ != rpc.MsgAuthProof {
					return
				}
				c.Send(rpc.MsgHelloAck, append(rpc.AppendUint64(rpc.AppendUint16(nil, 1), 42), make([]byte, rpc.MACSize)...))
			},
		} {
			addr := fakeDispatcher(t, answer)
			glog := newHookedLog()
			g, err := game.New(game.Config{ID: 1, Dispatchers: []string{addr}, BootEntity: "Pinger", Registry: reg, Secret: clusterSecret, Logger: glog})
			if err != nil {
				t.Fatal(err)
			}
			runServer(t, g.Run, func() error { g.Close(); return nil })
			eventually(t, "the game refuses the impostor", func() bool {
				return glog.has("link handshake refused", "refused the dispatcher") &&
					countAtLeast(metricText(t, g.WriteMetrics), `goworld_link_refusals_total{process="game1",refused_by="this_process"} `, 1)
			})
			select {
			case <-g.Ready():
				t.Fatal("the game joined an impostor")
			default:
			}
		}
	})

	play(t) // the cluster still serves
}

// proxy forwards one address to another and records what its clients
// send.
type proxy struct {
	addr string
	mu   sync.Mutex
	buf  []byte
}

func (p *proxy) sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.buf...)
}

func (p *proxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	if len(p.buf) < 1<<16 {
		p.buf = append(p.buf, b...)
	}
	p.mu.Unlock()
	return len(b), nil
}

// recordingProxy forwards connections to target and records the bytes
// the first one sends.
func recordingProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		first := true
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, a, b)
			mu.Unlock()
			var w io.Writer = b
			if first {
				w, first = io.MultiWriter(p, b), false // recorded before it is forwarded
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(w, a); b.Close() }()
			go func() { defer wg.Done(); io.Copy(a, b); a.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// fakeDispatcher listens on 127.0.0.1 and answers each hello with answer.
func fakeDispatcher(t *testing.T, answer func(c *rpc.Conn, h rpc.Hello)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := rpc.NewConn(nc, rpc.ConnConfig{})
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if typ, body, err := c.ReadFrame(); err == nil && typ == rpc.MsgHello {
				if h, err := rpc.DecodeHello(body); err == nil {
					answer(c, h)
				}
			}
			c.CloseAfterFlush(nil)
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				c.Close(nil)
			}
			c.Wait()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// metricValue returns the integer after prefix in text (-1: none).
func metricValue(text, prefix string) int {
	i := strings.Index(text, prefix)
	if i < 0 {
		return -1
	}
	v := 0
	for _, c := range text[i+len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int(c-'0')
	}
	return v
}

// TestRunNeedsItsSecretFile: a process whose [cluster] secret_file is
// missing or too short refuses to start, naming the file and never
// quoting what it holds.
func TestRunNeedsItsSecretFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("tiny-secret\n"), 0o600)
	for _, c := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.secret"), "missing.secret: no such file"},
		{short, "short.secret: the secret is 11 bytes, at least 16"},
	} {
		cfg := filepath.Join(dir, "config.ini")
		os.WriteFile(cfg, []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:0\nhttp_addr =\n[game_common]\nboot_entity = Account\n[game1]\n[gate1]\nlisten_addr = 127.0.0.1:0\n[cluster]\nsecret_file = "+c.file+"\n"), 0o644)
		err := run([]string{"-role", "dispatcher", "-config", cfg, "-log", filepath.Join(dir, "d.log")})
		if err == nil || !strings.Contains(err.Error(), "[cluster] secret_file") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "tiny") {
			t.Errorf("%s: %v, want an error with %q", c.file, err, c.want)
		}
	}
}
