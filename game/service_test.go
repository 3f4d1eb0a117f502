package game_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// SvcCounter is a service that is not persistent: it counts its hits
// in a server-only attribute (which a hot reload carries) and says
// where it runs.
type SvcCounter struct{ entity.Entity }

func (c *SvcCounter) DescribeEntityType(d *entity.TypeDesc) { d.DefineAttr("hits", 0) }

// Where answers the game the shard runs on and the shard, as game*100+shard.
func (c *SvcCounter) Where() (int, error) {
	_, shard, ok := c.ServiceShard()
	if !ok {
		return 0, errors.New("not a service shard")
	}
	return int(c.World().GameID())*100 + shard, nil
}

// Hit counts one hit and answers the count.
func (c *SvcCounter) Hit() (int, error) {
	n := c.Attrs.GetInt("hits") + 1
	c.Attrs.Set("hits", n)
	return int(n), nil
}

// SvcBank is a persistent singleton service.
type SvcBank struct{ entity.Entity }

func (b *SvcBank) DescribeEntityType(d *entity.TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("total", entity.AttrPersistent)
}

// Deposit adds n and answers the total.
func (b *SvcBank) Deposit(n int) (int, error) {
	t := b.Attrs.GetInt("total") + int64(n)
	b.Attrs.Set("total", t)
	return int(t), nil
}

// Where answers the game the bank runs on.
func (b *SvcBank) Where() (int, error) { return int(b.World().GameID()), nil }

// SvcAsker asks services and keeps the answers: "answers" counts them,
// "last" is the last answer or error text.
type SvcAsker struct{ entity.Entity }

func (a *SvcAsker) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("answers", 0)
	d.DefineAttr("last", 0)
}

// OnDone is the callback of requests answered with nothing.
func (a *SvcAsker) OnDone(err error) {
	a.Attrs.Set("answers", a.Attrs.GetInt("answers")+1)
	if err != nil {
		a.Attrs.Set("last", err.Error())
		return
	}
	a.Attrs.Set("last", "ok")
}

func (a *SvcAsker) OnAnswer(n int, err error) {
	a.Attrs.Set("answers", a.Attrs.GetInt("answers")+1)
	if err != nil {
		a.Attrs.Set("last", err.Error())
		return
	}
	a.Attrs.Set("last", int64(n))
}

// svcEnv is a dispatcher and games sharing one store, with the services
// registered.
type svcEnv struct {
	reg   *entity.Registry
	d     *dispatcherNode
	st    storage.Backend
	logs  *logHook
	dir   string
	games []rpc.GameID
	ready chan rpc.GameID // OnGameReady runs
}

func newSvcEnv(t *testing.T, games ...rpc.GameID) *svcEnv {
	t.Helper()
	l, logs := newLogger()
	st, err := storage.Open(storage.TypeBolt, t.TempDir()+"/shared.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", Logger: l, Games: games})
	if err != nil {
		t.Fatal(err)
	}
	e := &svcEnv{reg: registry(t), d: runDispatcher(t, d), st: st, logs: logs, dir: t.TempDir(), games: games, ready: make(chan rpc.GameID, 16)}
	if err := e.reg.RegisterService("SvcCounter", &SvcCounter{}, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.RegisterService("SvcBank", &SvcBank{}, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register("SvcAsker", &SvcAsker{}); err != nil {
		t.Fatal(err)
	}
	e.reg.OnGameReady(func(w *entity.World) { e.ready <- w.GameID() })
	return e
}

func (e *svcEnv) config(id int, dispatcherAddr string, restore *entity.Frozen) game.Config {
	l, _ := newLogger()
	l.AddHook(e.logs)
	return game.Config{ID: id, Games: e.games, Dispatchers: []string{dispatcherAddr}, BootEntity: "Probe", Registry: e.reg,
		Storage: e.st, Restore: restore, Logger: l,
		GameTuning: config.GameTuning{FreezeDir: e.dir, ServiceGrace: 300 * time.Millisecond,
			RequestTimeout: time.Second}, // a request lost with a cut link times out soon: askUntil retries
	}
}

// shards returns, per game, how many shards of service name it hosts.
func shards(t *testing.T, name string, gs ...*game.Game) []int {
	t.Helper()
	n := make([]int, len(gs))
	for i, g := range gs {
		onLoop(t, g, func() {
			g.World().Entities(func(e *entity.Entity) {
				if s, _, ok := e.ServiceShard(); ok && s == name {
					n[i]++
				}
			})
		})
	}
	return n
}

// waitShards waits until the games host exactly want shards of service
// name, game by game.
func waitShards(t *testing.T, name string, want []int, gs ...*game.Game) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := shards(t, name, gs...)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shards of %s per game: %v, want %v", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ask has asker (on g) request method of service name's shard for key,
// waits for the answer and returns it (an int, or the error's text).
func ask(t *testing.T, g *game.Game, asker rpc.EntityID, name, key, method string, args ...any) any {
	t.Helper()
	var before int64
	onLoopErr(t, g, func() error {
		a := g.World().Entity(asker)
		before = a.Attrs.GetInt("answers")
		return a.RequestService(name, key, method, "OnAnswer", args...)
	})
	waitAttr(t, g, asker, "answers", before+1)
	var last any
	onLoop(t, g, func() { last = g.World().Entity(asker).Attrs.Get("last") })
	return last
}

// TestServicesStartOnceAndSpread: two games start; every shard of each
// service is created exactly once, shard k on the k-th game; requests
// by shard key reach them from either game; OnGameReady ran once per game.
func TestServicesStartOnceAndSpread(t *testing.T) {
	e := newSvcEnv(t, 1, 2)
	g1 := startGame(t, e.config(1, e.d.addr, nil)).g
	g2 := startGame(t, e.config(2, e.d.addr, nil)).g
	shard1 := rpc.ServiceEntityID("SvcCounter", 1)
	ensured := make(chan struct{})
	game.SetFrameHook(g2, func(mt rpc.MsgType, body []byte) {
		// On the loop: an ensure of the shard once it lives here is
		// another game's, forwarded.
		if id, _ := rpc.PeekEntityID(body); mt == rpc.MsgEnsureService && id == shard1 && g2.World().Entity(shard1) != nil {
			select {
			case <-ensured:
			default:
				close(ensured)
			}
		}
	})
	got := []rpc.GameID{<-e.ready, <-e.ready}
	slices.Sort(got)
	if !slices.Equal(got, []rpc.GameID{1, 2}) {
		t.Fatalf("OnGameReady ran on %v, want once on each game", got)
	}

	// Shards 0 and 2 prefer game 1, shard 1 game 2; the bank game 1.
	waitShards(t, "SvcCounter", []int{2, 1}, g1, g2)
	waitShards(t, "SvcBank", []int{1, 0}, g1, g2)

	asker := createLocally(t, g2, "SvcAsker", nil)
	seen := map[int]bool{}
	for i := range 30 {
		key := fmt.Sprintf("player%d", i)
		where := ask(t, g2, asker, "SvcCounter", key, "Where")
		n, ok := where.(int64)
		if !ok {
			t.Fatalf("Where for %s: %v", key, where)
		}
		shard := entity.ServiceShard(key, 3)
		if want := int64([]int{1, 2, 1}[shard]*100 + shard); n != want {
			t.Fatalf("key %s: answered %d, want %d (shard %d)", key, n, want, shard)
		}
		seen[shard] = true
	}
	if len(seen) != 3 {
		t.Fatalf("30 keys reached shards %v only", seen)
	}
	// After the grace period game 1 asks for shard 1 too: the dispatcher
	// forwards that to game 2, which has it, and there is still one.
	select {
	case <-ensured:
	case <-time.After(waitLimit):
		t.Fatal("game 1 never asked for shard 1 after its grace period")
	}
	waitShards(t, "SvcCounter", []int{2, 1}, g1, g2)
	if n := ask(t, g1, createLocally(t, g1, "SvcAsker", nil), "SvcBank", "", "Deposit", 5); n != int64(5) {
		t.Fatalf("bank answered %v, want 5", n)
	}
	var w1 strings.Builder
	if err := g1.WriteMetrics(&w1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w1.String(), `goworld_game_service_shards{process="game1",service="SvcCounter"} 2`) {
		t.Fatalf("game1 metrics lack its 2 SvcCounter shards:\n%s", grepLines(w1.String(), "service_shards"))
	}
}

// askUntil repeats ask until the answer is want (a shard that is being
// re-created answers CodeNoEntity meanwhile), and returns how many
// answers it took.
func askUntil(t *testing.T, g *game.Game, asker rpc.EntityID, name, key, method string, want any, args ...any) int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for n := 1; ; n++ {
		got := ask(t, g, asker, name, key, method, args...)
		if got == want {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.%s answered %v, want %v", name, method, got, want)
		}
		time.Sleep(10 * time.Millisecond) // a retry's pace, not a wait for an event
	}
}

// keyFor returns a shard key that maps to shard k of a 3-shard service.
func keyFor(t *testing.T, k int) string {
	for i := range 1000 {
		if key := fmt.Sprint("k", i); entity.ServiceShard(key, 3) == k {
			return key
		}
	}
	t.Fatalf("no key for shard %d", k)
	return ""
}

// TestServiceComesBackWhenItsGameIsGone: the link of the game that hosts
// shards (the bank, persistent, and two counter shards) is cut, as a
// crash or a partition does. The dispatcher forgets that game's entities
// and tells game 2, which re-creates every lost shard at once: the bank
// from its saved state. When the cut game comes back with its old copies,
// they are retired: one copy of each shard, and the new ones answer.
func TestServiceComesBackWhenItsGameIsGone(t *testing.T) {
	e := newSvcEnv(t, 1, 2)
	path := startProxy(t, e.d.addr)
	g1 := startGame(t, e.config(1, path.ln.Addr().String(), nil)).g
	g2 := startGame(t, e.config(2, e.d.addr, nil)).g
	waitShards(t, "SvcCounter", []int{2, 1}, g1, g2)
	waitShards(t, "SvcBank", []int{1, 0}, g1, g2)
	asker := createLocally(t, g2, "SvcAsker", nil)
	if got := ask(t, g2, asker, "SvcBank", "", "Deposit", 5); got != int64(5) {
		t.Fatalf("deposit answered %v", got)
	}
	key0 := keyFor(t, 0)
	if got := ask(t, g2, asker, "SvcCounter", key0, "Hit"); got != int64(1) {
		t.Fatalf("hit answered %v", got)
	}
	done := make(chan error, 1)
	g1.Post(func() { game.EngineOf(g1).SaveDirty(func(err error) { done <- err }) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	path.setOpen(false)
	e.logs.wait(t, "disconnected from dispatcher", "game=1")
	// Game 2 hosts every shard now, the bank with its saved total.
	askUntil(t, g2, asker, "SvcBank", "", "Where", int64(2))
	waitShards(t, "SvcCounter", []int{2, 3}, g1, g2) // game 1 still holds its old copies, unreachable
	waitShards(t, "SvcBank", []int{1, 1}, g1, g2)
	if got := ask(t, g2, asker, "SvcBank", "", "Deposit", 1); got != int64(6) {
		t.Fatalf("deposit on the re-created bank answered %v, want 6", got)
	}
	if got := ask(t, g2, asker, "SvcCounter", key0, "Hit"); got != int64(1) {
		t.Fatalf("the re-created counter shard (not persistent) answered %v hits, want 1: a fresh start", got)
	}

	// Game 1 comes back and registers its old copies: they are retired.
	path.setOpen(true)
	waitShards(t, "SvcCounter", []int{0, 3}, g1, g2)
	waitShards(t, "SvcBank", []int{0, 1}, g1, g2)
	if got := ask(t, g2, asker, "SvcBank", "", "Deposit", 1); got != int64(7) {
		t.Fatalf("deposit after game 1 came back answered %v, want 7", got)
	}
	asker1 := createLocally(t, g1, "SvcAsker", nil)
	if got := ask(t, g1, asker1, "SvcCounter", key0, "Where"); got != int64(200) {
		t.Fatalf("shard 0 asked from game 1 answered %v, want 200 (game 2)", got)
	}
	if got := stored(t, e.st, "SvcBank", rpc.ServiceEntityID("SvcBank", 0))["total"]; got != int64(5) && got != int64(6) && got != int64(7) {
		t.Fatalf("stored bank total %v", got)
	}
}

// TestServiceAcrossHotReload: the game that hosts shards freezes for a
// hot reload while another game keeps asking them; nothing re-creates
// them meanwhile, the restored game answers what waited, with the state
// the shards had, and OnGameReady does not run again.
func TestServiceAcrossHotReload(t *testing.T) {
	e := newSvcEnv(t, 1, 2)
	n1 := startGame(t, e.config(1, e.d.addr, nil))
	g2 := startGame(t, e.config(2, e.d.addr, nil)).g
	<-e.ready
	<-e.ready
	waitShards(t, "SvcCounter", []int{2, 1}, n1.g, g2)
	asker := createLocally(t, g2, "SvcAsker", nil)
	key0 := keyFor(t, 0)
	for i := 1; i <= 3; i++ {
		if got := ask(t, g2, asker, "SvcCounter", key0, "Hit"); got != int64(i) {
			t.Fatalf("hit %d answered %v", i, got)
		}
	}

	n1.g.RequestFreeze()
	if err := n1.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v, want ErrFrozen", err)
	}
	res := readResult(t, e.dir, 1)
	f, err := game.LoadFreezeFile(res.File, 1)
	if err != nil {
		t.Fatal(err)
	}
	// While game 1 is frozen: a request waits in the dispatcher's queue,
	// and nothing is re-created on game 2.
	onLoopErr(t, g2, func() error {
		return g2.World().Entity(asker).RequestService("SvcCounter", key0, "Hit", "OnAnswer")
	})
	onLoop(t, g2, func() {}) // sent
	if got := shards(t, "SvcCounter", g2); got[0] != 1 {
		t.Fatalf("game 2 hosts %d counter shards while game 1 is frozen, want 1", got[0])
	}

	g1b := startGame(t, e.config(1, e.d.addr, f)).g
	waitAttr(t, g2, asker, "answers", 4)
	var last any
	onLoop(t, g2, func() { last = g2.World().Entity(asker).Attrs.Get("last") })
	if last != int64(4) {
		t.Fatalf("the request that waited for the reload answered %v, want 4 (the hits carried)", last)
	}
	waitShards(t, "SvcCounter", []int{2, 1}, g1b, g2)
	waitShards(t, "SvcBank", []int{1, 0}, g1b, g2)
	select {
	case id := <-e.ready:
		t.Fatalf("OnGameReady ran again on game %d after the restore", id)
	default:
	}
}
