package entity

import (
	"errors"
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// Counter is a service that is not persistent.
type Counter struct{ Entity }

func (c *Counter) DescribeEntityType(d *TypeDesc) { d.DefineAttr("n", 0) }
func (c *Counter) OnCreated()                     { record(&c.Entity, "created") }
func (c *Counter) Add(n int)                      { c.Attrs.Set("n", c.Attrs.GetInt("n")+int64(n)) }
func (c *Counter) OnGameGone(g rpc.GameID)        { record(&c.Entity, "gone %d", g) }

// Ledger is a persistent service.
type Ledger struct{ Entity }

func (l *Ledger) DescribeEntityType(d *TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("total", AttrPersistent)
}
func (l *Ledger) OnCreated() { record(&l.Entity, "created %d", l.Attrs.GetInt("total")) }

func withGames(ids ...rpc.GameID) envOpt {
	return func(_ *env, c *WorldConfig) { c.Games = ids }
}

// newServiceEnv is newEnv (game 7) with Counter (3 shards) and Ledger (1)
// registered as services, before the world is built.
func newServiceEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	reg := func(e *env, _ *WorldConfig) {
		if err := e.reg.RegisterService("Counter", &Counter{}, 3); err != nil {
			t.Fatal(err)
		}
		if err := e.reg.RegisterService("Ledger", &Ledger{}, 1); err != nil {
			t.Fatal(err)
		}
	}
	return newEnv(t, append([]envOpt{reg}, opts...)...)
}

type ensureMsg struct {
	id     rpc.EntityID
	prefer rpc.GameID
	typ    string
}

// ensures decodes the MsgEnsureService frames of frames, in order.
func ensures(t *testing.T, frames []frame) []ensureMsg {
	t.Helper()
	var out []ensureMsg
	for _, f := range frames {
		if f.typ != rpc.MsgEnsureService {
			continue
		}
		r := rpc.NewReader(f.body)
		m := ensureMsg{id: r.EntityID(), prefer: rpc.GameID(r.Uint16()), typ: r.String()}
		if r.Err() != nil || r.Remaining() != 0 {
			t.Fatalf("malformed ensure %x", f.body)
		}
		out = append(out, m)
	}
	return out
}

func ensureBody(id rpc.EntityID, prefer rpc.GameID, typeName string) []byte {
	return rpc.AppendString(rpc.AppendUint16(rpc.AppendEntityID(nil, id), uint16(prefer)), typeName)
}

func TestRegisterServiceChecksShards(t *testing.T) {
	r := NewRegistry()
	for _, n := range []int{0, -1, MaxServiceShards + 1} {
		if err := r.RegisterService("Counter", &Counter{}, n); !errors.Is(err, ErrRegister) {
			t.Errorf("%d shards: err = %v, want ErrRegister", n, err)
		}
	}
	if err := r.RegisterService("Counter", &Counter{}, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterService("Counter", &Counter{}, 2); !errors.Is(err, ErrRegister) {
		t.Errorf("second registration: err = %v", err)
	}
	mustRegister(t, r, "Plain", &Plain{})
	if got := r.Services(); !slices.Equal(got, []string{"Counter"}) {
		t.Errorf("Services() = %v", got)
	}
}

func TestServiceIDs(t *testing.T) {
	e := newServiceEnv(t)
	seen := map[rpc.EntityID]bool{}
	for k := range 3 {
		id, err := e.w.ServiceID("Counter", k)
		if err != nil {
			t.Fatal(err)
		}
		if !id.Valid() || id != rpc.ServiceEntityID("Counter", k) || seen[id] {
			t.Fatalf("shard %d: ID %q (valid %v, seen %v)", k, id, id.Valid(), seen[id])
		}
		seen[id] = true
	}
	if id, _ := e.w.ServiceID("Ledger", 0); seen[id] {
		t.Fatal("two services share an ID")
	}
	for _, bad := range []struct {
		name  string
		shard int
	}{{"Counter", 3}, {"Counter", -1}, {"Plain", 0}, {"Nobody", 0}} {
		if _, err := e.w.ServiceID(bad.name, bad.shard); err == nil {
			t.Errorf("ServiceID(%s, %d) did not fail", bad.name, bad.shard)
		}
	}
	if err := e.w.CallService("Plain", "k", "Add", 1); err == nil {
		t.Error("CallService to an entity type that is not a service did not fail")
	}
	// Keys spread over the shards.
	hit := map[int]int{}
	for i := range 300 {
		hit[ServiceShard(string(rune('a'+i%26))+string(rune('A'+i/26)), 3)]++
	}
	for k := range 3 {
		if hit[k] < 50 {
			t.Errorf("shard %d got %d of 300 keys", k, hit[k])
		}
	}
	if ServiceShard("anything", 1) != 0 {
		t.Error("a singleton's key maps to another shard than 0")
	}
}

// TestReadyAsksForOwnShardsAndRunsHooks: game 7 of games 7 and 8 asks at
// once for the shards it is preferred for (Counter 0 and 2, Ledger 0),
// reports that the others wait, and runs OnGameReady once; a restored
// game asks for every shard and runs no hook.
func TestReadyAsksForOwnShardsAndRunsHooks(t *testing.T) {
	e := newServiceEnv(t, withGames(8, 7))
	var ran []rpc.GameID
	e.reg.OnGameReady(func(w *World) { ran = append(ran, w.GameID()) })
	var later bool
	e.eng.Run(func() { later = e.eng.Ready(false) })
	if !later {
		t.Error("Ready left no shard for later")
	}
	c0, c1, c2, l0 := rpc.ServiceEntityID("Counter", 0), rpc.ServiceEntityID("Counter", 1), rpc.ServiceEntityID("Counter", 2), rpc.ServiceEntityID("Ledger", 0)
	got := ensures(t, e.out.take())
	want := []ensureMsg{{c0, 7, "Counter"}, {c2, 7, "Counter"}, {l0, 7, "Ledger"}}
	if !slices.Equal(got, want) {
		t.Fatalf("ensures %v, want %v", got, want)
	}
	if !slices.Equal(ran, []rpc.GameID{7}) {
		t.Fatalf("OnGameReady ran %v", ran)
	}
	e.eng.Run(e.eng.EnsureServices)
	got = ensures(t, e.out.take())
	if len(got) != 4 || got[1] != (ensureMsg{c1, 8, "Counter"}) {
		t.Fatalf("EnsureServices sent %v", got)
	}

	r := newServiceEnv(t, withGames(7, 8))
	r.reg.OnGameReady(func(*World) { t.Error("OnGameReady ran on a restored world") })
	r.eng.Run(func() { later = r.eng.Ready(true) })
	if got := ensures(t, r.out.take()); len(got) != 4 || later {
		t.Fatalf("a restored world asked for %v (later %v), want all 4 shards at once", got, later)
	}
}

func TestEnsureCreatesOnceAndRegistersWithEpoch(t *testing.T) {
	e := newServiceEnv(t)
	c1 := rpc.ServiceEntityID("Counter", 1)
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(c1, 7, "Counter"))
	s := e.w.Entity(c1)
	if s == nil {
		t.Fatal("shard not created")
	}
	if name, k, ok := s.ServiceShard(); name != "Counter" || k != 1 || !ok {
		t.Fatalf("ServiceShard() = %s %d %v", name, k, ok)
	}
	var regs []uint64
	for _, f := range e.out.ofType(rpc.MsgRegisterEntity) {
		id, epoch := decodeRegisterBody(t, f.body)
		if id == c1 {
			regs = append(regs, epoch)
		}
	}
	if len(regs) != 1 || regs[0] == 0 {
		t.Fatalf("registrations of the shard: epochs %v, want one with an epoch", regs)
	}
	if ev := e.eventsOf(c1); !slices.Equal(ev, []string{"created"}) {
		t.Fatalf("events %v", ev)
	}
	e.out.take()
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(c1, 7, "Counter"))
	if n := len(e.out.ofType(rpc.MsgRegisterEntity)); n != 0 || len(e.eventsOf(c1)) != 0 {
		t.Fatalf("a second ensure of a live shard registered %d times or ran hooks", n)
	}
	var live []string
	e.eng.LocalServiceShards(func(name string, n int) { live = append(live, name, string(rune('0'+n))) })
	if !slices.Equal(live, []string{"Counter", "1", "Ledger", "0"}) {
		t.Fatalf("LocalServiceShards: %v", live)
	}

	// A newer copy elsewhere retires this one (a non-persistent service
	// has an epoch too).
	e.eng.Handle(rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, c1), regs[0]+1))
	if e.w.Entity(c1) != nil {
		t.Fatal("the older copy was not retired")
	}
	live = nil
	e.eng.LocalServiceShards(func(name string, n int) { live = append(live, name, string(rune('0'+n))) })
	if !slices.Equal(live, []string{"Counter", "0", "Ledger", "0"}) {
		t.Fatalf("LocalServiceShards after the retirement: %v", live)
	}
}

func TestEnsureOfUnknownServiceUnregisters(t *testing.T) {
	e := newServiceEnv(t)
	for _, b := range [][]byte{
		ensureBody(rpc.ServiceEntityID("Nobody", 0), 7, "Nobody"),
		ensureBody(rpc.NewEntityID(), 7, "Counter"),             // not one of its shards
		ensureBody(rpc.ServiceEntityID("Plain", 0), 7, "Plain"), // not a service
	} {
		e.eng.Handle(rpc.MsgEnsureService, b)
		un := e.out.ofType(rpc.MsgUnregisterEntity)
		e.out.take()
		if id, _ := rpc.PeekEntityID(b); len(un) != 1 || decodeEntityIDBody(t, un[0].body) != id || e.w.Entity(id) != nil {
			t.Fatalf("ensure %x: %d unregistrations", b, len(un))
		}
	}
	if !e.logged(logrus.ErrorLevel, "does not have") || !e.logged(logrus.ErrorLevel, "no such shard") {
		t.Error("no error logged")
	}
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(rpc.ServiceEntityID("Counter", 0), 7, "Counter")[:17])
	if !e.logged(logrus.ErrorLevel, "dropped") {
		t.Error("a short ensure was not logged as dropped")
	}
}

// TestEnsurePersistentServiceLoadsOrCreates: a persistent service's
// shard is loaded from storage, or created and saved at once if storage
// has none.
func TestEnsurePersistentServiceLoadsOrCreates(t *testing.T) {
	e := newServiceEnv(t)
	l0 := rpc.ServiceEntityID("Ledger", 0)
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(l0, 7, "Ledger"))
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(l0, 7, "Ledger")) // while it loads
	e.store.flush(e.eng)
	if ev := e.eventsOf(l0); !slices.Equal(ev, []string{"created 0"}) {
		t.Fatalf("events %v", ev)
	}
	if len(e.store.saves) != 1 || e.store.saves[0][0].ID != string(l0) {
		t.Fatalf("saves %v, want the new shard's first save", e.store.saves)
	}
	if len(e.store.loads) != 1 {
		t.Fatalf("loads %v, want one", e.store.loads)
	}

	f := newServiceEnv(t)
	data, err := msgpack.Marshal(map[string]any{"total": 42})
	if err != nil {
		t.Fatal(err)
	}
	f.store.entities[storeKey("Ledger", string(l0))] = data
	f.eng.Handle(rpc.MsgEnsureService, ensureBody(l0, 7, "Ledger"))
	f.store.flush(f.eng)
	if ev := f.eventsOf(l0); !slices.Equal(ev, []string{"created 42"}) {
		t.Fatalf("events %v, want the stored total", ev)
	}

	g := newServiceEnv(t)
	g.store.loadErr = errors.New("disk on fire")
	g.eng.Handle(rpc.MsgEnsureService, ensureBody(l0, 7, "Ledger"))
	g.store.flush(g.eng)
	if g.w.Entity(l0) != nil || len(g.store.saves) != 0 {
		t.Fatal("a shard was created though storage failed: its saved state would be overwritten")
	}
	if len(g.out.ofType(rpc.MsgUnregisterEntity)) != 1 {
		t.Fatal("the failed shard was not unregistered")
	}
}

// TestPeerGoneAsksAgainAndTellsWatchers: a game gone makes the world ask
// for every shard it does not host, and tells entities that watch games.
func TestPeerGoneAsksAgainAndTellsWatchers(t *testing.T) {
	e := newServiceEnv(t, withGames(7, 8))
	c0 := rpc.ServiceEntityID("Counter", 0)
	e.eng.Handle(rpc.MsgEnsureService, ensureBody(c0, 7, "Counter"))
	e.out.take()
	e.events()
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGame, 8))
	got := ensures(t, e.out.take())
	if len(got) != 3 || slices.ContainsFunc(got, func(m ensureMsg) bool { return m.id == c0 }) {
		t.Fatalf("after game 8 left: ensures %v, want the 3 shards not here", got)
	}
	if ev := e.eventsOf(c0); !slices.Equal(ev, []string{"gone 8"}) {
		t.Fatalf("watcher events %v", ev)
	}
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGate, 8))
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGame, 7)) // itself: a stale notice
	if got := ensures(t, e.out.take()); len(got) != 0 || len(e.eventsOf(c0)) != 0 {
		t.Fatalf("a gate gone or this game's own notice asked for %v", got)
	}
}

// TestCallServiceAsksFirst: the first call to a shard this world has not
// asked for sends the ensure before the call, on the same dispatcher, so
// the call finds it placed; later calls do not.
func TestCallServiceAsksFirst(t *testing.T) {
	e := newServiceEnv(t, withDispatchers(3))
	if err := e.w.CallService("Counter", "alice", "Add", 2); err != nil {
		t.Fatal(err)
	}
	id, _ := e.w.ServiceIDFor("Counter", "alice")
	fs := e.out.take()
	if len(fs) != 2 || fs[0].typ != rpc.MsgEnsureService || fs[1].typ != rpc.MsgCallEntityMethod || fs[0].disp != fs[1].disp || fs[0].disp != id.Shard(3) {
		t.Fatalf("frames %+v", fs)
	}
	if err := e.w.CallService("Counter", "alice", "Add", 2); err != nil {
		t.Fatal(err)
	}
	if fs := e.out.take(); len(fs) != 1 || fs[0].typ != rpc.MsgCallEntityMethod {
		t.Fatalf("second call: frames %+v", fs)
	}
	e.out.take()
	if err := e.w.CallServiceAll("Counter", "Add", 1); err != nil {
		t.Fatal(err)
	}
	if fs := e.out.ofType(rpc.MsgCallEntityMethod); len(fs) != 3 {
		t.Fatalf("CallServiceAll sent %d calls, want 3", len(fs))
	}
	if err := e.w.CallServiceShard("Counter", 3, "Add", 1); err == nil {
		t.Fatal("a call to shard 3 of 3 did not fail")
	}
}
