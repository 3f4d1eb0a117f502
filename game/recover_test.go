package game_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// gatedProxy relays TCP connections to a target; while closed, it cuts
// the connections it relays and refuses new ones, like a network path
// that is down.
type gatedProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *gatedProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedProxy{ln: ln, target: target, open: true, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.setOpen(false); p.wg.Wait() })
	return p
}

func (p *gatedProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.open {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		relay := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go relay(up, c)
		go relay(c, up)
	}
}

// setOpen opens or closes the path; closing cuts every relayed connection.
func (p *gatedProxy) setOpen(open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = open
	if !open {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// TestRestartedDispatcherLoadsNoSecondCopy: a persistent entity lives on
// game 1 when the dispatcher restarts; game 1 cannot reach the new
// dispatcher for a while, game 2 can, and asks it to load the entity (a
// player logging in again, say). The dispatcher must not load it on game 2
// while game 1, which holds it, has not re-registered: two copies would
// both save. Once game 1 is back, the load goes to it (where the entity
// is), and calls reach that one copy.
func TestRestartedDispatcherLoadsNoSecondCopy(t *testing.T) {
	l, logs := newLogger()
	st, err := storage.Open(storage.TypeBolt, t.TempDir()+"/shared.db") // one store for both games, like a networked one
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	startD := func(addr string) *dispatcherNode {
		d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: addr, Logger: l, Games: []rpc.GameID{1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		return runDispatcher(t, d)
	}
	d := startD("127.0.0.1:0")
	addr := d.addr
	path := startProxy(t, addr) // game 1's way to the dispatcher
	reg := registry(t)
	cfg := func(id int, to string) game.Config {
		return game.Config{ID: id, Dispatchers: []string{to}, BootEntity: "Probe", Registry: reg, Storage: st, Logger: l}
	}
	g1 := startGame(t, cfg(1, path.ln.Addr().String())).g
	g2 := startGame(t, cfg(2, addr)).g
	sk := newSink(t)
	hero := createLocally(t, g1, "Hero", map[string]any{"tag": sk.tag, "level": 7})
	if ev := sk.expect(t, "created"); ev.id != hero {
		t.Fatalf("created %s, want %s", ev.id, hero)
	}
	probe := createLocally(t, g2, "Probe", map[string]any{"tag": sk.tag})
	sk.expect(t, "created")
	onLoop(t, g1, func() { game.EngineOf(g1).SaveDirty(nil) }) // saved: a load would find it

	path.setOpen(false)
	d.stop(t)
	logs.wait(t, "disconnected from dispatcher", "game=1")
	logs.wait(t, "disconnected from dispatcher", "game=2")
	d2 := startD(addr)
	if d2.addr != addr {
		t.Fatalf("new dispatcher on %s, want %s", d2.addr, addr)
	}
	logs.waitConnects(t, 2, 2)
	onLoop(t, g2, func() {}) // game 2 re-registered and said so

	onLoopErr(t, g2, func() error { return g2.World().LoadEntitySomewhere("Hero", hero) })
	// Prove the dispatcher has routed the load (a call from game 2 to its
	// own probe comes back after it), and that game 2's storage worker
	// has done whatever it was given before a KV read (one worker, in
	// order): had the load come to game 2, the second copy exists now.
	reachAll(t, g2, sk, probe)
	done := make(chan struct{})
	g2.Post(func() { g2.World().KVGet("barrier", func([]byte, error) { close(done) }) })
	<-done
	onLoop(t, g2, func() {
		if g2.World().Entity(hero) != nil {
			t.Error("the restarted dispatcher loaded a second copy on game 2 while game 1 held the entity")
		}
	})
	select {
	case ev := <-sk.ch:
		t.Fatalf("unexpected report %s%v from %s", ev.what, ev.args, ev.id)
	default:
	}

	path.setOpen(true) // game 1 gets through, re-registers hero: the load goes there
	logs.waitConnects(t, 1, 2)
	reachAll(t, g2, sk, hero)
	onLoop(t, g2, func() {
		if g2.World().Entity(hero) != nil {
			t.Error("game 2 holds a copy of the entity")
		}
	})
	onLoop(t, g1, func() {
		if g1.World().Entity(hero) == nil {
			t.Error("game 1 lost the entity")
		}
	})
}
