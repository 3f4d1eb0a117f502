package entity

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/internal/recovered"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// ErrNoStorage is passed to the done callbacks of key-value operations on
// a world without storage.
var ErrNoStorage = errors.New("entity: no storage configured")

// methodTakeClient is the internal method GiveClientTo calls on the
// receiving entity. Its name is not a Go identifier, so no user method can
// collide with it and no client can be exposed to it.
const methodTakeClient = "@takeClient"

// Outbox sends frames to the dispatchers. The game implements it.
type Outbox interface {
	// NumDispatchers returns how many dispatchers there are.
	NumDispatchers() int
	// Send queues one frame for dispatcher i (0 <= i < NumDispatchers()).
	Send(i int, t rpc.MsgType, body []byte)
}

// Store runs storage operations off the game loop and calls done back on
// the loop. The game implements it on top of a storage.Backend.
//
// LoadEntity claims the entity (storage.EntityStore.ClaimEntity): done
// gets the epoch of the copy the world makes live. SaveEntities sets the
// Epoch of every record with Epoch 0 it stored to the epoch it claimed
// before calling done, and reports fenced records with a
// *storage.FenceError.
type Store interface {
	// LoadEntity claims the entity and, in the same storage operation,
	// takes its mailbox (storage.MailboxStore.TakeMessages): mail holds
	// the offline calls stored for it, in order. A failed take is logged
	// by the store and leaves mail nil (the calls wait for the next load).
	LoadEntity(typeName string, id rpc.EntityID, done func(data []byte, epoch uint64, mail [][]byte, err error))
	// AppendMessage appends one offline call to the entity's mailbox,
	// within limit (storage.MailboxStore.AppendMessage).
	AppendMessage(typeName string, id rpc.EntityID, msg []byte, limit int, done func(n int, err error))
	// TakeMessages takes the entity's mailbox.
	TakeMessages(typeName string, id rpc.EntityID, done func(mail [][]byte, err error))
	SaveEntities(recs []storage.EntityRecord, done func(err error))
	KVGet(key string, done func(value []byte, err error))
	KVPut(key string, value []byte, done func(err error))
	KVPutIfAbsent(key string, value []byte, done func(stored bool, existing []byte, err error))
}

// WorldConfig configures a World and its Engine (NewEngine).
type WorldConfig struct {
	GameID rpc.GameID
	// Games are the IDs of every game of the cluster (config.ini's
	// [gameN] sections), for game code that places things by game
	// (World.Games). Empty means this game alone.
	Games      []rpc.GameID
	Registry   *Registry
	BootEntity string // type created for each new client
	Outbox     Outbox
	Store      Store
	// Async runs work off the game loop and then done on it (see World.Go).
	// Nil runs work inline on the loop.
	Async  func(work, done func())
	Now    func() time.Time // the clock (default time.Now)
	Logger logrus.FieldLogger
	// SyncLimit bounds the entity creates and position updates one client
	// is sent per position sync (default space.DefaultSyncLimit).
	SyncLimit int
	// SyncTotal bounds the creates and position updates one position sync
	// sends per space, to all clients together (default
	// space.DefaultSyncTotal).
	SyncTotal int
	// SyncWork bounds the work of one position sync per space (default
	// space.DefaultSyncWork).
	SyncWork int
	// ViewLimit bounds the entities one client holds in its space at a
	// time: a client whose entity sees more is shown the nearest of them
	// (see space.Config.ViewLimit). 0 or negative: no bound.
	ViewLimit int
	// ClientStringLimit bounds every string in the arguments of a
	// client's call, at any depth (rpc.DecodeClientArgs): a longer one
	// refuses the call and disconnects the client. 0 takes
	// DefaultClientStringLimit; negative means no limit but the frame's.
	ClientStringLimit int
	// ClientCoordinateLimit bounds each coordinate (|x|, |y|, |z|) of a
	// position a client sends for its player: one beyond it disconnects
	// the client, as a NaN does. Far out the AOI grid's searches grow
	// (beyond about 10^9 cells a move compares every member of the
	// space), so an unchecked client could slow its whole space. 0 takes
	// DefaultClientCoordinateLimit; negative means no limit but float32's.
	// Server moves (SetPosition) are not bounded.
	ClientCoordinateLimit int
	// RequestTimeout is how long a request (Entity.Request) waits for an
	// answer before its callback gets rpc.ErrTimeout, unless the request
	// gives its own (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// MailboxLimit bounds the offline calls (Entity.CallOffline) stored
	// for one entity; past it a call is dropped with an error in the log
	// (default DefaultMailboxLimit, at most storage.MaxMailboxLimit).
	MailboxLimit int
	// SlowCall: a method (a call, request or timer) that holds the game
	// loop longer than this is logged, rate-limited, with its type,
	// entity and method (default DefaultSlowCall; negative: never).
	SlowCall time.Duration
}

// DefaultClientStringLimit is WorldConfig.ClientStringLimit's default
// (config.ini's max_client_string): 4 KiB, room for a chat line, a name
// or a short text in any language, and small enough that what a client
// sends cannot be amplified much by the broadcasts, logs and stored
// attributes it ends up in. A game that takes longer text raises it;
// binary arguments ([]byte, sent as msgpack bin) are not limited by it.
const DefaultClientStringLimit = 4096

// DefaultClientCoordinateLimit is WorldConfig.ClientCoordinateLimit's
// default (config.ini's max_client_coordinate): a million units each way,
// far beyond any map a client walks, and float32 still resolves a
// sixteenth of a unit there.
const DefaultClientCoordinateLimit = 1_000_000

// World holds all entities of one game process: it is what game code
// reaches through Entity.World, to create, load and call entities, talk
// to clients, use services and storage. Every method must be called from
// the game loop, the one goroutine that owns the world; entity code
// therefore never needs a lock. The loop drives the world through its
// Engine, which game code does not see.
type World struct {
	cfg      WorldConfig
	reg      *Registry
	gameID   rpc.GameID
	out      Outbox
	store    Store
	now      func() time.Time
	log      logrus.FieldLogger
	entities map[rpc.EntityID]*Entity
	loading  map[rpc.EntityID][]pendingCall // loads in flight and the calls that wait for them
	local    []pendingCall                  // calls to local entities, run after the current event
	timers   timerHeap
	timerSeq uint64
	saving   int  // saves in flight
	freezing bool // see SetFreezing
	// finalSaves counts, per destroyed persistent entity, its final saves
	// in flight: until they complete it stays registered with the
	// dispatcher (saveFinal).
	finalSaves map[rpc.EntityID]int
	inflight   int    // other storage operations in flight (loads, KV)
	fenced     uint64 // copies retired because a newer copy was claimed

	// loadCallers: for loads in flight, the entities waiting for an answer.
	loadCallers map[rpc.EntityID][]loadCaller

	spaces  map[rpc.EntityID]*Entity // local spaces
	hooks   []func()                 // space hooks waiting to run, in order
	inHooks bool
	gateOut map[rpc.GateID]*gateOut       // client frames of the current event, per gate
	byGate  map[rpc.GateID][]rpc.ClientID // toClientRefs' scratch, kept empty between calls
	shownTo []ClientRef                   // fanOut's scratch, truncated after each use
	// migrations: entities waiting for their dispatcher's MsgMigrateBlockAck.
	migrations map[rpc.EntityID]*migration
	aoiCost    aoiCost // see metrics.go
	// syncDeferred sums what the position syncs left for later (see
	// Engine.SyncDeferred).
	syncDeferred SyncDeferred
	// panics logs (within a budget) and counts the panics recovered from
	// entity code: methods, hooks, timers, callbacks.
	panics recovered.Log
	// lines rate-limits the log lines that clients can cause (refused
	// calls: one client can make them at its message rate).
	lines *lograte.Limiter

	// stats: per RPC method figures, fixed at NewEngine (read by scrapes).
	stats map[*method]*MethodStats
	// requests sent, timed out, and answers that came too late.
	requests, timeouts, lateReplies atomic.Uint64
	// offline calls this game stored, dropped (mailbox full, no such
	// entity, storage failed), and ran from mailboxes
	mailStored, mailDropped, mailRun atomic.Uint64

	// ensured: the service shards this world asked for (see service.go).
	ensured map[rpc.EntityID]bool
	// svcLive: per service, its shards live here (read by scrapes).
	svcLive serviceCounts

	// clientErrs: calls to clients refused by the declarations.
	clientErrs clientCallErrors

	// cur is the request being run (on curEntity), for DeferReply;
	// deferred says the method deferred its answer.
	cur       *replyTo
	curEntity *Entity
	deferred  bool
}

// Log lines a client can cause are rate-limited: at most logBurst of
// each kind per logInterval, then one line that counts the rest.
const (
	logInterval = lograte.DefaultInterval
	logBurst    = lograte.DefaultBurst
)

// newWorld returns an empty world (NewEngine). It checks that the boot
// entity type is registered.
func newWorld(cfg WorldConfig) (*World, error) {
	if cfg.Registry == nil || cfg.Outbox == nil {
		return nil, fmt.Errorf("entity: WorldConfig needs a Registry and an Outbox")
	}
	if cfg.BootEntity != "" && !cfg.Registry.Has(cfg.BootEntity) {
		return nil, fmt.Errorf("entity: boot entity type %q is not registered (registered: %v)", cfg.BootEntity, cfg.Registry.Names())
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.ClientCoordinateLimit == 0 {
		cfg.ClientCoordinateLimit = DefaultClientCoordinateLimit
	}
	if cfg.ClientStringLimit == 0 {
		cfg.ClientStringLimit = DefaultClientStringLimit
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MailboxLimit <= 0 {
		cfg.MailboxLimit = DefaultMailboxLimit
	}
	cfg.MailboxLimit = min(cfg.MailboxLimit, storage.MaxMailboxLimit)
	if cfg.SlowCall == 0 {
		cfg.SlowCall = DefaultSlowCall
	}
	return &World{
		lines: lograte.New(cfg.Logger, logInterval, logBurst),
		cfg:   cfg, reg: cfg.Registry, gameID: cfg.GameID, out: cfg.Outbox, store: cfg.Store,
		now: cfg.Now, log: cfg.Logger,
		entities:   map[rpc.EntityID]*Entity{},
		loading:    map[rpc.EntityID][]pendingCall{},
		spaces:     map[rpc.EntityID]*Entity{},
		gateOut:    map[rpc.GateID]*gateOut{},
		migrations: map[rpc.EntityID]*migration{},
		stats:      newMethodStats(cfg.Registry),
		svcLive:    newServiceCounts(cfg.Registry),
	}, nil
}

// Entity returns the local entity id, or nil.
func (w *World) Entity(id rpc.EntityID) *Entity { return w.entities[id] }

// NumEntities returns the number of local entities.
func (w *World) NumEntities() int { return len(w.entities) }

// Entities calls fn for every local entity.
func (w *World) Entities(fn func(e *Entity)) {
	for _, e := range w.entities {
		fn(e)
	}
}

// Now returns the world's clock.
func (w *World) Now() time.Time { return w.now() }

// SetFreezing says whether the game is freezing for a hot reload: from
// the moment it asks the dispatchers to queue what is sent to it until
// the freeze is written or given up. Meanwhile EnterSpace refuses a space
// on another game (ErrFreezing): a migration needs its dispatcher's
// acknowledgement, which would wait in the very queue the freeze asked
// for, so the freeze would wait for it until it timed out.
func (en *Engine) SetFreezing(on bool) { en.w.freezing = on }

// GameID returns the ID of the game this world runs on ([game2] is 2).
func (w *World) GameID() rpc.GameID { return w.gameID }

// Games returns the IDs of every game of the cluster, in ascending order,
// as configured (WorldConfig.Games; a game need not be connected to be
// listed). It is this game alone if the world was not told the cluster's
// games. The slice is the caller's.
func (w *World) Games() []rpc.GameID {
	if len(w.cfg.Games) == 0 {
		return []rpc.GameID{w.gameID}
	}
	g := slices.Clone(w.cfg.Games)
	slices.Sort(g)
	return slices.Compact(g)
}

// newEntity builds an entity of type t with id and attrs, without hooks.
func (w *World) newEntity(t *entityType, id rpc.EntityID, attrs map[string]any) (_ *Entity, err error) {
	if _, dup := w.entities[id]; dup {
		return nil, fmt.Errorf("entity: %s already exists", id)
	}
	// Attributes from the network or storage may hold values an entity
	// cannot (an integer above MaxInt64): an error, not a crash. The
	// entity is added to the world last, so a panic leaves no trace.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("entity: %s<%s>: bad attributes: %v", t.name, id, p)
		}
	}()
	v := reflect.New(t.typ)
	e := v.Elem().FieldByIndex(t.field).Addr().Interface().(*Entity)
	e.id, e.typ, e.world, e.self = id, t, w, v
	e.Attrs = NewMapAttr()
	e.Attrs.owner = e
	for k, val := range attrs {
		if _, ok := t.attrs[k]; !ok {
			w.log.Warnf("%s: dropping undeclared attribute %q", e, k)
			continue
		}
		nv := normalize(val, 1)
		e.Attrs.m[k] = adopt(e.Attrs, k, nv, e, k)
	}
	for k, def := range t.defaults {
		if _, ok := e.Attrs.m[k]; !ok {
			e.Attrs.m[k] = adopt(e.Attrs, k, normalize(def, 1), e, k)
		}
	}
	w.entities[id] = e
	if t.service != nil {
		if c := w.svcLive[t.name]; c != nil { // nil for a service registered after NewEngine
			c.Add(1)
		}
	}
	if t.isSpace {
		w.newSpaceState(e)
	}
	return e, nil
}

// newEntityFromTree is newEntity for attributes already in a tree (from a
// freeze file): its values move into the entity without a copy. A tree
// that still belongs to a live entity is copied instead.
func (w *World) newEntityFromTree(t *entityType, id rpc.EntityID, tree *MapAttr) (*Entity, error) {
	if tree == nil {
		return w.newEntity(t, id, nil)
	}
	if tree.owner != nil || tree.parent != nil {
		return w.newEntity(t, id, tree.ToMap())
	}
	e, err := w.newEntity(t, id, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range tree.m {
		if _, ok := t.attrs[k]; !ok {
			w.log.Warnf("%s: dropping undeclared attribute %q", e, k)
			continue
		}
		detach(v)
		if old, had := e.Attrs.m[k]; had {
			detach(old) // a default, now overridden
		}
		e.Attrs.m[k] = adopt(e.Attrs, k, v, e, k)
	}
	tree.m = nil
	return e, nil
}

// CreateEntityLocally creates an entity of the named type on this game with
// the given attributes and runs its OnCreated hook.
func (w *World) CreateEntityLocally(typeName string, attrs map[string]any) (*Entity, error) {
	t, ok := w.reg.types[typeName]
	if !ok {
		return nil, fmt.Errorf("entity: unknown type %q", typeName)
	}
	e, err := w.newEntity(t, rpc.NewEntityID(), attrs)
	if err != nil {
		return nil, err
	}
	w.sendEntity(e.id, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e.id))
	w.created(e)
	w.firstSave(e)
	return e, nil
}

// CreateEntitySomewhere creates an entity on the game a dispatcher picks
// (the least loaded) and returns its ID at once. Calls sent to the ID
// afterwards reach it once it exists.
func (w *World) CreateEntitySomewhere(typeName string, attrs map[string]any) (rpc.EntityID, error) {
	id := rpc.NewEntityID()
	return id, w.CreateEntitySomewhereWithID(typeName, id, attrs)
}

// CreateEntitySomewhereWithID is CreateEntitySomewhere with an ID the
// caller chose (from rpc.NewEntityID), for when the ID must be recorded
// elsewhere first, such as an account's avatar ID in the KV store.
func (w *World) CreateEntitySomewhereWithID(typeName string, id rpc.EntityID, attrs map[string]any) error {
	if !w.reg.Has(typeName) {
		return fmt.Errorf("entity: unknown type %q", typeName)
	}
	if !id.Valid() {
		return fmt.Errorf("entity: invalid entity ID %q", id)
	}
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendString(b, typeName)
	if attrs == nil {
		attrs = map[string]any{}
	}
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		return fmt.Errorf("entity: attributes: %w", err)
	}
	w.sendEntity(id, rpc.MsgCreateEntitySomewhere, b)
	return nil
}

// LoadEntitySomewhere makes the persistent entity id live: if it already
// is, nothing happens; otherwise a game picked by the dispatcher loads it
// from storage. Calls sent to id after this wait until it is loaded.
//
// Nothing tells the caller whether the load worked: Entity.LoadEntitySomewhere
// does, through a callback method of the calling entity.
func (w *World) LoadEntitySomewhere(typeName string, id rpc.EntityID) error {
	if err := w.checkLoad(typeName, id); err != nil {
		return err
	}
	w.sendEntity(id, rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), typeName))
	return nil
}

func (w *World) created(e *Entity) {
	if h, ok := e.self.Interface().(Creator); ok {
		w.safely(e, "OnCreated", h.OnCreated)
	}
}

// remove removes e from the world and, if unregister, tells the
// dispatcher it is gone.
func (w *World) remove(e *Entity, unregister bool) {
	w.forget(e)
	if unregister {
		w.sendEntity(e.id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, e.id))
	}
}

// forget removes e from the entity table (it was destroyed, or migrated
// away).
func (w *World) forget(e *Entity) {
	delete(w.entities, e.id)
	if e.typ.service != nil {
		if c := w.svcLive[e.typ.name]; c != nil {
			c.Add(-1)
		}
	}
}

// Call calls method on entity id with args (see Entity.Call). An ID that
// is not a valid entity ID is logged and the call dropped.
func (w *World) Call(id rpc.EntityID, method string, args ...any) {
	if !id.Valid() {
		w.log.Errorf("Call %s.%s: not a valid entity ID; call dropped", clip.QuoteDefault(string(id)), clip.Name(method))
		return
	}
	enc, err := rpc.AppendArgs(nil, args)
	if err != nil {
		w.log.WithError(err).Errorf("Call %s.%s: cannot encode arguments", id, method)
		return
	}
	if _, ok := w.entities[id]; ok {
		// Local target: queue it to run after the current event, as if it
		// had gone through the dispatcher, but without the round trip.
		w.local = append(w.local, pendingCall{id: id, method: method, args: enc})
		return
	}
	if q, ok := w.loading[id]; ok {
		w.loading[id] = append(q, pendingCall{id: id, method: method, args: enc})
		return
	}
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendString(b, method)
	w.sendEntity(id, rpc.MsgCallEntityMethod, append(b, enc...))
}

// CallFilteredClients calls method on the player entity of every client
// whose filter property key equals value, on every gate (see
// Entity.SetClientFilterProp): client-side, as CallClient does (a
// MsgCallClient each client's gate sends it); the server-side entities
// run nothing.
func (w *World) CallFilteredClients(key, value, method string, args ...any) {
	w.broadcast(rpc.FilterEq, key, value, method, args)
}

// CallFilteredClientsOp calls method on the player entity of every client
// whose filter property key compares with value as op says, on every gate:
// rpc.FilterEq, FilterNe (clients without the property match too),
// FilterLt, FilterLe, FilterGt or FilterGe (numbers when both sides are
// decimal numbers, otherwise strings: see rpc.CompareFilterValues), or
// FilterAll. An unknown op is logged and the broadcast dropped.
func (w *World) CallFilteredClientsOp(key string, op rpc.FilterOp, value, method string, args ...any) {
	if !op.Valid() {
		w.log.Errorf("broadcast %s: unknown filter op %d; dropped", clip.Name(method), uint8(op))
		return
	}
	w.broadcast(op, key, value, method, args)
}

// CallAllClients calls method on the player entity of every connected
// client, client-side (see CallFilteredClients). Once any entity type
// declares client methods (TypeDesc.DefineClientMethod), a broadcast's
// method must be declared by some type, with arguments that fit: else
// it is an error, logged, counted (ClientCallErrors) and not sent.
func (w *World) CallAllClients(method string, args ...any) {
	w.broadcast(rpc.FilterAll, "", "", method, args)
}

func (w *World) broadcast(op rpc.FilterOp, key, value, method string, args []any) {
	if len(key) > rpc.MaxFilterPropLen || len(value) > rpc.MaxFilterPropLen {
		// No client can have such a property (SetClientFilterProp refuses it).
		w.log.Errorf("broadcast %s to %s = %s: a filter property's key and value are at most %d bytes; dropped",
			clip.Name(method), clip.QuoteDefault(key), clip.QuoteDefault(value), rpc.MaxFilterPropLen)
		return
	}
	b := rpc.AppendUint8(nil, uint8(op))
	b = rpc.AppendString(rpc.AppendString(b, key), value)
	b = rpc.AppendUint16(b, uint16(rpc.MsgCallClient))
	call := len(b)
	b, err := appendCall(b, "", method, args)
	if err != nil {
		w.log.WithError(err).Errorf("broadcast %s: cannot encode arguments", clip.Name(method))
		return
	}
	if w.reg.anyClientMethods {
		if msg := w.checkClientCall(nil, method, callArgs(b[call:])); msg != "" {
			w.clientCallError(msg)
			return
		}
	}
	w.flushClients()
	for i := 0; i < w.out.NumDispatchers(); i++ {
		w.out.Send(i, rpc.MsgFilteredBroadcast, b)
	}
}

// Go runs work off the game loop (on a worker goroutine) and then done on
// the loop, for blocking or CPU-heavy work — password hashing, an HTTP
// call — that must not stall every other entity. work must not touch
// entities or attributes; done may. If work panics, the panic is logged
// and done still runs. A freeze waits for outstanding work.
func (w *World) Go(work, done func()) {
	if w.cfg.Async == nil {
		work()
		done()
		return
	}
	w.inflight++
	w.cfg.Async(work, func() { w.inflight--; done() })
}

// KVGet reads key from the key-value store; done runs on the game loop.
func (w *World) KVGet(key string, done func(value []byte, err error)) {
	if w.store == nil {
		done(nil, ErrNoStorage)
		return
	}
	w.inflight++
	w.store.KVGet(key, func(v []byte, err error) { w.inflight--; done(v, err) })
}

// KVPut writes key; done (may be nil) runs on the game loop.
func (w *World) KVPut(key string, value []byte, done func(err error)) {
	if done == nil {
		done = func(err error) {
			if err != nil {
				w.log.WithError(err).Errorf("KVPut %q", key)
			}
		}
	}
	if w.store == nil {
		done(ErrNoStorage)
		return
	}
	w.inflight++
	w.store.KVPut(key, value, func(err error) { w.inflight--; done(err) })
}

// KVPutIfAbsent writes key only if it does not exist yet, atomically;
// done runs on the game loop with whether it stored, and the existing
// value if not.
func (w *World) KVPutIfAbsent(key string, value []byte, done func(stored bool, existing []byte, err error)) {
	if w.store == nil {
		done(false, nil, ErrNoStorage)
		return
	}
	w.inflight++
	w.store.KVPutIfAbsent(key, value, func(stored bool, existing []byte, err error) {
		w.inflight--
		done(stored, existing, err)
	})
}

func (w *World) sendEntity(id rpc.EntityID, t rpc.MsgType, body []byte) {
	w.out.Send(id.Shard(w.out.NumDispatchers()), t, body)
}

// sendGate sends a message for gate g, after the client frames buffered
// for it, so that the gate sees everything in the order it was done.
func (w *World) sendGate(g rpc.GateID, t rpc.MsgType, body []byte) {
	w.flushGate(g)
	w.out.Send(g.Shard(w.out.NumDispatchers()), t, body)
}

func (w *World) kick(ref ClientRef, reason string) {
	b := rpc.AppendUint64(rpc.AppendUint16(nil, uint16(ref.Gate)), uint64(ref.ID))
	w.sendGate(ref.Gate, rpc.MsgKickClient, rpc.AppendString(b, reason))
}
