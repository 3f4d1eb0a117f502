package entity

import (
	"fmt"
	"runtime/debug"
	"sort"
	"sync/atomic"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
)

// Services: entities the cluster keeps alive, one per shard.
//
// A service is an entity type registered with Registry.RegisterService
// and a number of shards. Shard k is the entity whose ID is
// rpc.ServiceEntityID(name, k): every process computes it, so a service
// is found by name without a lookup, and the dispatcher that owns that ID
// decides alone whether the shard is live. Nothing else creates it:
//
//   - When a game is ready (Engine.Ready) it asks for its own shards (shard
//     k is game Games()[k mod len(Games())]'s), and for the others a little
//     later (the game's service grace), so that a cluster whose games start
//     together spreads its shards; a call or request to a shard this game
//     has not asked for yet asks first.
//   - When a game is gone (the dispatchers' MsgPeerGone: it crashed, was
//     stopped, or froze for a hot reload and never came back), every game
//     asks again for every shard, and the dispatcher re-creates the ones
//     that died with it on a surviving game (preferring each shard's own
//     game), within a round trip.
//
// The request is MsgEnsureService, which the dispatcher treats like a
// load: placed on a game if the shard is not registered, forwarded to its
// game (which ignores it) if it is, held while the dispatcher recovers
// from a restart. A persistent service is loaded from storage (and
// created if storage has none), so it comes back on another game with its
// last saved state, fenced like any persistent entity; a service that is
// not persistent starts afresh. Either way at most one copy of a shard is
// live: the dispatcher places each shard once, a hot reload keeps the
// shard on its game (the dispatcher queues for it meanwhile), and a copy
// that comes back late (a frozen game restored after its dispatcher gave
// up on it) registers with an older epoch than the new copy and is
// retired (MsgRetireEntity).
//
// Calls to a shard that died go nowhere until it is re-created, as calls
// to any entity on a game that crashed: a request gets rpc.CodeNoEntity
// (or its timeout) and can be retried.

// MaxServiceShards bounds the shards of one service.
const MaxServiceShards = 1024

// serviceDesc is what a service type adds to its entityType.
type serviceDesc struct {
	shards  int
	ids     []rpc.EntityID       // by shard
	shardOf map[rpc.EntityID]int // the inverse
}

// GameWatcher is implemented by entity types that want to know when a
// game of the cluster is gone: it crashed, was stopped, or froze for a
// hot reload and did not come back in time. Its entities are gone with
// it (a service that kept a list of players by game prunes it here). It
// runs once for each dispatcher that saw the game go, so it must not
// mind running twice.
type GameWatcher interface{ OnGameGone(game rpc.GameID) }

// RegisterService registers a service type: Register, plus the cluster
// keeps one entity of the type alive per shard, shards from 1 (a
// singleton) to MaxServiceShards. See CallService, Entity.RequestService
// and Entity.ServiceShard; the type may be persistent (it then comes back
// with its saved state when its game dies) and may be a space.
func (r *Registry) RegisterService(name string, proto any, shards int) error {
	if shards < 1 || shards > MaxServiceShards {
		return fmt.Errorf("%w %q: a service has 1 to %d shards, not %d", ErrRegister, name, MaxServiceShards, shards)
	}
	if err := r.Register(name, proto); err != nil {
		return err
	}
	s := &serviceDesc{shards: shards, ids: make([]rpc.EntityID, shards), shardOf: make(map[rpc.EntityID]int, shards)}
	for k := range s.ids {
		s.ids[k] = rpc.ServiceEntityID(name, k)
		s.shardOf[s.ids[k]] = k
	}
	r.types[name].service = s
	return nil
}

// OnGameReady adds fn to what runs once per game process when it is
// ready for world set-up: connected to every dispatcher, its own service
// shards asked for. It runs on the game loop, in the order added. A game
// restored from a hot reload does not run it again: its world was set up
// before the freeze and comes back as it was.
func (r *Registry) OnGameReady(fn func(w *World)) {
	if fn != nil {
		r.ready = append(r.ready, fn)
	}
}

// Services returns the registered services' names, sorted.
func (r *Registry) Services() []string {
	var ns []string
	for n, t := range r.types {
		if t.service != nil {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

// ServiceShard maps a shard key to one of shards shards (FNV-1a of the
// key, modulo shards), the shard CallService and RequestService use.
func ServiceShard(key string, shards int) int { return rpc.ShardKey(key, shards) }

// service returns the registered service name.
func (w *World) service(name string) (*entityType, error) {
	t := w.reg.types[name]
	if t == nil || t.service == nil {
		return nil, fmt.Errorf("entity: no service %s is registered", clip.QuoteDefault(name))
	}
	return t, nil
}

// ServiceShards returns how many shards the service name has (0 if no
// such service is registered).
func (w *World) ServiceShards(name string) int {
	if t, err := w.service(name); err == nil {
		return t.service.shards
	}
	return 0
}

// ServiceID returns the entity ID of shard shard of the service name:
// an entity to Call, Request or EnterSpace like any other.
func (w *World) ServiceID(name string, shard int) (rpc.EntityID, error) {
	t, err := w.service(name)
	if err != nil {
		return "", err
	}
	if shard < 0 || shard >= t.service.shards {
		return "", fmt.Errorf("entity: service %s has shards 0 to %d, not %d", name, t.service.shards-1, shard)
	}
	return t.service.ids[shard], nil
}

// ServiceIDFor returns the entity ID of the shard of the service name
// that key maps to (ServiceShard).
func (w *World) ServiceIDFor(name, key string) (rpc.EntityID, error) {
	t, err := w.service(name)
	if err != nil {
		return "", err
	}
	return t.service.ids[ServiceShard(key, t.service.shards)], nil
}

// CallService calls method with args on the shard of the service name
// that key maps to (a singleton's only shard for any key), wherever it
// lives, as Call does. It returns an error for an unknown service.
func (w *World) CallService(name, key, method string, args ...any) error {
	t, err := w.service(name)
	if err != nil {
		return err
	}
	w.callShard(t, ServiceShard(key, t.service.shards), method, args)
	return nil
}

// CallServiceShard calls method with args on shard shard of the service
// name.
func (w *World) CallServiceShard(name string, shard int, method string, args ...any) error {
	t, err := w.service(name)
	if err != nil {
		return err
	}
	if shard < 0 || shard >= t.service.shards {
		return fmt.Errorf("entity: service %s has shards 0 to %d, not %d", name, t.service.shards-1, shard)
	}
	w.callShard(t, shard, method, args)
	return nil
}

// CallServiceAll calls method with args on every shard of the service
// name.
func (w *World) CallServiceAll(name, method string, args ...any) error {
	t, err := w.service(name)
	if err != nil {
		return err
	}
	for k := range t.service.shards {
		w.callShard(t, k, method, args)
	}
	return nil
}

func (w *World) callShard(t *entityType, shard int, method string, args []any) {
	w.ensureFirst(t, shard)
	w.Call(t.service.ids[shard], method, args...)
}

// RequestService asks the shard of the service name that key maps to for
// the result of method with args, as Request does (the same callback
// signatures, the world's request timeout).
func (e *Entity) RequestService(name, key, method, callback string, args ...any) error {
	t, err := e.world.service(name)
	if err != nil {
		return err
	}
	shard := ServiceShard(key, t.service.shards)
	e.world.ensureFirst(t, shard)
	return e.Request(t.service.ids[shard], method, callback, args...)
}

// ServiceShard returns, for a service's entity, the service's name and
// the entity's shard; ok is false for other entities.
func (e *Entity) ServiceShard() (name string, shard int, ok bool) {
	if s := e.typ.service; s != nil {
		if k, found := s.shardOf[e.id]; found {
			return e.typ.name, k, true
		}
	}
	return "", 0, false
}

// Ready runs when the game is connected to every dispatcher and ready to
// serve (the game calls it once per process, on the loop). It asks for
// the game's own service shards, or for all of them if restored (the
// game comes back from a hot reload, so its peers are up) or if it is
// the cluster's only game, and then, unless restored, runs the
// registry's OnGameReady hooks. It reports whether some shards were left
// to their own games for now: the game then calls EnsureServices after a
// grace period, in case those games are not coming.
func (en *Engine) Ready(restored bool) (later bool) {
	w := en.w
	games := w.Games()
	for _, name := range w.reg.Services() {
		t := w.reg.types[name]
		for k := range t.service.shards {
			if restored || w.preferredGame(k, games) == w.gameID {
				w.ensure(t, k, games)
			} else {
				later = true
			}
		}
	}
	if !restored {
		for _, fn := range w.reg.ready {
			w.runHook("OnGameReady", func() { fn(w) })
		}
	}
	w.flushLocal()
	return later
}

// ensureServices asks for every shard of every service
// (Engine.EnsureServices).
func (w *World) ensureServices() {
	games := w.Games()
	for _, name := range w.reg.Services() {
		t := w.reg.types[name]
		for k := range t.service.shards {
			w.ensure(t, k, games)
		}
	}
}

// preferredGame is the game shard k of a service is placed on when it
// is connected: the services' shards spread over the configured games.
func (w *World) preferredGame(k int, games []rpc.GameID) rpc.GameID {
	return games[k%len(games)]
}

// ensureFirst asks for shard k of service t unless this world did
// already: a call or request to it follows on the same dispatcher link,
// so it finds the shard placed.
func (w *World) ensureFirst(t *entityType, k int) {
	if !w.ensured[t.service.ids[k]] {
		w.ensure(t, k, w.Games())
	}
}

// ensure sends the MsgEnsureService of shard k of service t.
func (w *World) ensure(t *entityType, k int, games []rpc.GameID) {
	id := t.service.ids[k]
	if w.ensured == nil {
		w.ensured = map[rpc.EntityID]bool{}
	}
	w.ensured[id] = true
	if w.entities[id] != nil {
		return // live here
	}
	b := rpc.AppendUint16(rpc.AppendEntityID(nil, id), uint16(w.preferredGame(k, games)))
	w.sendEntity(id, rpc.MsgEnsureService, rpc.AppendString(b, t.name))
}

// ensureService makes the service shard id of type typeName live here,
// unless it is (a MsgEnsureService from the dispatcher, which placed it
// here or knows it lives here).
func (w *World) ensureService(id rpc.EntityID, typeName string) {
	if w.entities[id] != nil {
		return
	}
	if _, busy := w.loading[id]; busy {
		return
	}
	t := w.reg.types[typeName]
	if t == nil || t.service == nil {
		w.log.Errorf("asked to run service %s, which this game does not have (every game must register the same services)", clip.Name(typeName))
		w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		return
	}
	if _, ok := t.service.shardOf[id]; !ok {
		w.log.Errorf("asked to run %s as a shard of service %s, which has no such shard", id, t.name)
		w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		return
	}
	if t.persistent {
		w.load(id, typeName, loadCaller{}, true)
		return
	}
	e, err := w.newEntity(t, id, nil)
	if err != nil {
		w.log.WithError(err).Errorf("cannot create service %s", t.name)
		w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		return
	}
	// Its epoch tells copies apart (MsgRegisterEntity): were an older
	// one to register later (a frozen game restored after its dispatcher
	// gave up on it), the dispatcher keeps this one and retires that.
	e.epoch = uint64(w.now().UnixMicro())
	w.sendEntity(id, rpc.MsgRegisterEntity, registerBody(e))
	w.created(e)
}

// gameGone runs when a dispatcher reports a game gone: every service
// shard is asked for again (those that died with it are re-created), and
// the entities that watch games are told.
func (w *World) gameGone(id rpc.GameID) {
	w.ensureServices()
	var watchers []*Entity
	for _, e := range w.entities {
		if e.typ.watchesGames {
			watchers = append(watchers, e)
		}
	}
	for _, e := range watchers {
		if !e.destroyed {
			w.safely(e, "OnGameGone", func() { e.self.Interface().(GameWatcher).OnGameGone(id) })
		}
	}
}

// serviceCounts holds, per service, how many of its shards are live on
// this world (for metrics; fixed keys, read by scrapes).
type serviceCounts map[string]*atomic.Int64

func newServiceCounts(r *Registry) serviceCounts {
	c := serviceCounts{}
	for _, n := range r.Services() {
		c[n] = new(atomic.Int64)
	}
	return c
}

// LocalServiceShards calls fn with each registered service's name and
// the number of its shards live on this game, in name order. Safe to
// call from any goroutine (for metrics).
func (en *Engine) LocalServiceShards(fn func(name string, shards int)) {
	w := en.w
	names := make([]string, 0, len(w.svcLive))
	for n := range w.svcLive {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fn(n, int(w.svcLive[n].Load()))
	}
}

// runHook runs a world-level hook (OnGameReady), recovering and logging
// a panic as safely does for entity code.
func (w *World) runHook(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			w.panics.Record(w.log, "in "+what, p, debug.Stack(), nil)
		}
	}()
	fn()
}
