package game_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// tcpProxy forwards connections to target; cut drops the current ones.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// LlPlayer reports on llGone when it loses its client.
type LlPlayer struct{ entity.Entity }

var llGone = make(chan struct{}, 16)

func (p *LlPlayer) DescribeEntityType(d *entity.TypeDesc) {}
func (p *LlPlayer) OnClientDisconnected()                 { llGone <- struct{}{} }

func waitPlayer(t *testing.T, c *client.Client) {
	t.Helper()
	for {
		select {
		case ev := <-c.Events():
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				return
			}
		case <-time.After(waitLimit):
			t.Fatal("no player entity")
		}
	}
}

// When a game's link to a dispatcher drops, that dispatcher tells the
// gates the game is gone and they kick its clients; the game must unbind
// them too (the owners' disconnect notices are lost with the link).
func TestGameLinkLossUnbindsClients(t *testing.T) {
	log, _ := newLogger()
	reg := registry(t)
	if err := reg.Register("LlPlayer", &LlPlayer{}); err != nil {
		t.Fatal(err)
	}
	d := startDispatcher(t, "127.0.0.1:0", log)
	px := newTCPProxy(t, d.addr)
	startGame(t, game.Config{ID: 1, Dispatchers: []string{px.addr()}, BootEntity: "LlPlayer", Registry: reg, Logger: log})
	gw := startGate(t, []string{d.addr}, log)
	c, err := client.Dial(gw.g.Addr().String(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitPlayer(t, c)
	px.cut()
	select {
	case <-llGone:
	case <-time.After(waitLimit):
		t.Fatal("the entity kept its client after the game's dispatcher link dropped")
	}
}

// When a gate's link to a dispatcher drops, the games unbind that gate's
// clients: the gate must disconnect them, with a reason, rather than keep
// clients that talk to no one.
func TestGateLinkLossKicksClients(t *testing.T) {
	log, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", log)
	startGame(t, game.Config{ID: 1, Dispatchers: []string{d.addr}, BootEntity: "FzPlayer", Registry: freezeRegistry(t), Logger: log})
	px := newTCPProxy(t, d.addr)
	gw := startGate(t, []string{px.addr()}, log)
	c, err := client.Dial(gw.g.Addr().String(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitPlayer(t, c)
	px.cut()
	for {
		select {
		case ev := <-c.Events():
			if dc, ok := ev.(client.Disconnected); ok {
				if !strings.Contains(dc.Reason, "connection to the server lost") {
					t.Fatalf("disconnect reason %q", dc.Reason)
				}
				return
			}
		case <-time.After(waitLimit):
			t.Fatal("the client was not disconnected")
		}
	}
}

// LlKV uses storage in OnRestore.
type LlKV struct{ entity.Entity }

func (p *LlKV) DescribeEntityType(d *entity.TypeDesc) {}
func (p *LlKV) OnRestore()                            { p.World().KVGet("k", func([]byte, error) {}) }

// OnRestore hooks may use storage, even more operations than the storage
// queue holds: the workers run before the restore.
func TestRestoreHooksMayUseStorage(t *testing.T) {
	log, _ := newLogger()
	reg := registry(t)
	if err := reg.Register("LlKV", &LlKV{}); err != nil {
		t.Fatal(err)
	}
	b, err := storage.Open(storage.TypeBolt, t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	f := &entity.Frozen{Version: entity.FreezeVersion, GameID: 1}
	for i := 0; i < 5000; i++ {
		f.Entities = append(f.Entities, entity.FrozenEntity{Type: "LlKV", ID: string(rpc.NewEntityID())})
	}
	d := startDispatcher(t, "127.0.0.1:0", log)
	startGame(t, game.Config{ID: 1, Dispatchers: []string{d.addr}, BootEntity: "LlKV", Registry: reg, Storage: b, Restore: f, Logger: log})
}
