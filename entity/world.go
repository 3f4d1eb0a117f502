package entity

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/internal/recovered"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
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
	// ClientStringLimit bounds every string in the arguments of a
	// client's call, at any depth (rpc.DecodeClientArgs): a longer one
	// refuses the call and disconnects the client. 0 takes
	// DefaultClientStringLimit; negative means no limit but the frame's.
	ClientStringLimit int
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
	// migrations: entities waiting for their dispatcher's MsgMigrateBlockAck.
	migrations map[rpc.EntityID]*migration
	aoiCost    aoiCost // see metrics.go
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

type pendingCall struct {
	id     rpc.EntityID
	method string
	args   []byte
	client *ClientRef // the calling client, for client calls
	reply  *replyTo   // where the answer goes, for requests
}

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

// safely runs fn, recovering and logging a panic with the entity's ID, so
// that one entity's bug cannot stop the game loop.
func (w *World) safely(e *Entity, what string, fn func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			w.panics.Record(w.log, "in "+what, p, debug.Stack(), logrus.Fields{"entity": e.String()})
			ok = false
		}
	}()
	fn()
	return true
}

// invoke decodes args for method and calls it on e, for a one-way call
// or a timer: the method's results are dropped. A client's arguments
// are held to the world's ClientStringLimit. The error says why the
// method could not run (no such method, bad arguments, e destroyed).
func (w *World) invoke(e *Entity, method string, args []byte, from string) error {
	_, rerr := w.run(e, method, args, from, false)
	if rerr != nil && rerr.Code != rpc.CodePanicked && rerr.Code < rpc.CodeFailed {
		return errors.New(rerr.Message)
	}
	return nil
}

// run runs method on e with args and returns its answer: the result,
// msgpack-encoded (nil for none), if answer is set, or the error, with
// its code: the method's own error, or the engine's (no method, bad
// arguments, panicked, e destroyed). It counts the run and its time in
// the method's figures, and logs a run longer than slow_call.
func (w *World) run(e *Entity, method string, args []byte, from string, answer bool) ([]byte, *rpc.ReplyError) {
	if e.destroyed {
		return nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: e.String() + " is destroyed"}
	}
	m, ok := e.typ.methods[method]
	if !ok {
		return nil, &rpc.ReplyError{Code: rpc.CodeNoMethod, Message: e.typ.name + " has no method " + clip.QuoteDefault(method)}
	}
	limit := 0
	if from == fromClient {
		limit = w.cfg.ClientStringLimit
	}
	vals, err := rpc.DecodeClientArgs(args, m.params, limit)
	if err != nil {
		if errors.Is(err, rpc.ErrStringTooLong) {
			err = fmt.Errorf("%w (max_client_string)", err)
		}
		if st := w.stats[m]; st != nil && answer {
			st.Requests.Add(1)
			st.Errors[ErrorIndex(rpc.CodeBadArgs)].Add(1)
		}
		return nil, &rpc.ReplyError{Code: rpc.CodeBadArgs, Message: fmt.Sprintf("%s.%s: %v", e.typ.name, method, err)}
	}
	fn := e.self.Method(m.index)
	var out []reflect.Value
	start := time.Now()
	ok = w.safely(e, from+" "+method, func() { out = fn.Call(vals) })
	took := time.Since(start)
	st := w.stats[m] // nil for a type registered after the world was made
	if st != nil {
		if answer {
			st.Requests.Add(1)
		} else {
			st.Calls.Add(1)
		}
		st.Seconds.Observe(took)
	}
	if w.cfg.SlowCall > 0 && took > w.cfg.SlowCall {
		w.lines.Logf(w.log.WithFields(logrus.Fields{"entity": e.String(), "type": e.typ.name, "method": method}), logrus.WarnLevel, "slow call",
			"slow call: %s %s.%s held the game loop for %v (slow_call %v)", from, e.typ.name, method, took.Round(time.Microsecond), w.cfg.SlowCall)
	}
	var rerr *rpc.ReplyError
	var result []byte
	switch {
	case !ok:
		rerr = &rpc.ReplyError{Code: rpc.CodePanicked, Message: e.typ.name + "." + method + " panicked"}
	case m.answer == answerErr:
		if err, _ := out[0].Interface().(error); err != nil {
			rerr = replyErrorOf(err)
		}
	case m.answer == answerValue:
		if err, _ := out[1].Interface().(error); err != nil {
			rerr = replyErrorOf(err)
		} else if answer {
			if result, err = rpc.AppendValue(nil, out[0].Interface()); err != nil {
				rerr = &rpc.ReplyError{Code: rpc.CodeFailed, Message: clip.Text("cannot encode the result: "+err.Error(), rpc.MaxReplyMessage)}
			}
		}
	}
	if rerr != nil && answer && st != nil {
		st.Errors[ErrorIndex(rerr.Code)].Add(1)
	}
	return result, rerr
}

// Panics returns how many panics of entity code (methods, hooks, timers,
// callbacks) the world has recovered from, for the game's metrics.
func (w *World) Panics() uint64 { return w.panics.Total() }

// Run runs fn on behalf of the game (a posted callback, a storage
// result), recovering a panic, then runs the local calls fn made. It must
// be called on the game loop.
func (en *Engine) Run(fn func()) {
	w := en.w
	func() {
		defer func() {
			if p := recover(); p != nil {
				w.panics.Record(w.log, "in game callback", p, debug.Stack(), nil)
			}
		}()
		fn()
	}()
	w.flushLocal()
}

// flushLocal runs queued local calls (and the calls they make) in order.
func (w *World) flushLocal() {
	for len(w.local) > 0 {
		c := w.local[0]
		w.local = w.local[1:]
		w.deliver(c)
	}
	w.local = w.local[:0]
	w.flushClients()
}

// deliver runs one call on a local entity, or queues it for one loading.
func (w *World) deliver(c pendingCall) {
	if q, ok := w.loading[c.id]; ok {
		w.loading[c.id] = append(q, c)
		return
	}
	e := w.entities[c.id]
	if e != nil && e.migrating {
		m := w.migrations[c.id]
		m.calls = append(m.calls, c)
		return
	}
	if e == nil {
		if c.method == methodMail {
			return // gone, or its final save pending: the mail waits for the next load
		}
		if c.reply != nil {
			w.sendReply(c.reply, nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: "entity " + string(c.id) + " does not exist"})
			return
		}
		if c.method == methodReply {
			w.lateReplies.Add(1)
			w.lines.Logf(w.log, logrus.DebugLevel, "reply to unknown entity", "reply to unknown entity %s dropped", c.id)
			return
		}
		w.lines.Logf(w.log, logrus.WarnLevel, "call on unknown entity", "call %s on unknown entity %s dropped", clip.Name(c.method), c.id)
		if c.method == methodTakeClient && c.client == nil {
			// The client was given to an entity that is gone: do not leave
			// it connected to nothing.
			if ref, _, ok := decodeHandover(c.args); ok {
				w.kick(ref, "the entity this client was given to is gone")
			}
		}
		return
	}
	if c.client != nil {
		// Client calls first: a client may run exposed methods only, never
		// an internal one such as @takeClient.
		w.clientCall(e, c)
		return
	}
	if c.method == methodTakeClient {
		w.takeClient(e, c.args)
		return
	}
	if c.method == methodLoadResult {
		w.runLoadResult(e, c.args)
		return
	}
	if c.method == methodMail {
		w.takeMail(e)
		return
	}
	if c.method == methodReply {
		w.runReply(e, c.args)
		return
	}
	if c.reply != nil {
		result, rerr, deferred := w.runRequest(e, c, "request")
		if rerr != nil && rerr.Code < rpc.CodeFailed && rerr.Code != rpc.CodePanicked {
			w.lines.Logf(w.log.WithField("entity", e.String()), logrus.WarnLevel, "request refused", "request refused: %s", clip.Text(rerr.Message, maxReason))
		}
		if !deferred {
			w.sendReply(c.reply, result, rerr)
		}
		return
	}
	if err := w.invoke(e, c.method, c.args, "call"); err != nil {
		w.lines.Logf(w.log.WithField("entity", e.String()), logrus.WarnLevel, "call dropped", "call dropped: %s", clip.Text(err.Error(), maxReason))
	}
}

func (w *World) takeClient(e *Entity, args []byte) {
	ref, addr, ok := decodeHandover(args)
	if !ok {
		w.log.Errorf("%s: bad client handover", e)
		return
	}
	e.bindClient(&ref, addr)
}

// decodeHandover decodes the arguments of methodTakeClient: gate, client
// and the client's address (absent from a game older than it).
func decodeHandover(args []byte) (ClientRef, string, bool) {
	u16, u64 := reflect.TypeFor[uint16](), reflect.TypeFor[uint64]()
	vals, err := rpc.DecodeArgs(args, []reflect.Type{u16, u64, reflect.TypeFor[string]()})
	if err != nil {
		if vals, err = rpc.DecodeArgs(args, []reflect.Type{u16, u64}); err != nil {
			return ClientRef{}, "", false
		}
		vals = append(vals, reflect.ValueOf(""))
	}
	return ClientRef{Gate: rpc.GateID(vals[0].Uint()), ID: rpc.ClientID(vals[1].Uint())}, vals[2].String(), true
}

// clientCall runs a call from a client after checking that this client
// may call this method on this entity.
func (w *World) clientCall(e *Entity, c pendingCall) {
	m, ok := e.typ.methods[c.method]
	why := ""
	switch {
	case !ok || m.exposed == 0:
		why = "method is not exposed to clients"
	case m.exposed&exposePublic == 0 && (e.client == nil || *e.client != *c.client):
		why = "the entity is not this client's"
	}
	if c.reply != nil {
		// A request is answered, refused or not: the client learns why
		// from the code, and is not disconnected.
		var result []byte
		var rerr *rpc.ReplyError
		deferred := false
		if why != "" {
			rerr = &rpc.ReplyError{Code: rpc.CodeNoMethod, Message: e.typ.name + "." + clip.Name(c.method) + ": " + why}
		} else {
			result, rerr, deferred = w.runRequest(e, c, fromClient)
		}
		if rerr != nil && rerr.Code < rpc.CodeFailed && rerr.Code != rpc.CodePanicked {
			w.lines.Logf(w.log.WithFields(logrus.Fields{"gate": c.client.Gate, "client": uint64(c.client.ID), "entity": e.String()}),
				logrus.WarnLevel, "refused client request", "refused client request %s: %s", clip.Name(c.method), clip.Text(rerr.Message, maxReason))
		}
		if !deferred {
			w.sendReply(c.reply, result, rerr)
		}
		return
	}
	if why != "" {
		w.clientError(*c.client, e, c.method, why)
		return
	}
	if err := w.invoke(e, c.method, c.args, fromClient); err != nil {
		w.clientError(*c.client, e, c.method, err.Error())
	}
}

// fromClient is invoke's from for a client's call.
const fromClient = "client call"

// maxReason bounds the explanation in a refused call's kick reason and
// log line (an argument error quotes what the client sent, bounded, but
// the whole stays short).
const maxReason = 300

// clientError logs a refused client call and disconnects that client:
// a correct client never makes one. The method name (which the gate
// bounds to rpc.MaxMethodNameLen, but need not be the gate's) and why
// are bounded, and the log line is rate-limited: a client can make these
// at its message rate until its kick lands.
func (w *World) clientError(ref ClientRef, e *Entity, method, why string) {
	m, why := clip.Name(method), clip.Text(why, maxReason)
	w.lines.Logf(w.log.WithFields(logrus.Fields{"gate": ref.Gate, "client": uint64(ref.ID), "entity": e.String()}),
		logrus.WarnLevel, "refused client call", "refused client call %s: %s; disconnecting the client", m, why)
	w.kick(ref, fmt.Sprintf("call %s.%s refused: %s", e.typ.name, m, why))
}

// Handle processes one frame from a dispatcher, then everything it caused
// locally. A malformed frame is logged and dropped.
func (en *Engine) Handle(t rpc.MsgType, body []byte) {
	w := en.w
	if err := w.handle(t, body); err != nil {
		w.log.WithError(err).Errorf("dropped %v frame (%d bytes)", t, len(body))
	}
	w.flushLocal()
}

func (w *World) handle(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	switch t {
	case rpc.MsgCallEntityMethod, rpc.MsgClientCall, rpc.MsgRequestEntityMethod, rpc.MsgRequestReply, rpc.MsgClientRequest:
		return w.handleCall(t, body, r)
	case rpc.MsgClientConnected, rpc.MsgClientDisconnected, rpc.MsgClientAway, rpc.MsgClientSyncPosition:
		return w.handleClient(t, body, r)
	case rpc.MsgMigrateBlockAck:
		id := r.EntityID()
		if r.Err() != nil {
			return r.Err()
		}
		w.migrateAcked(id)
	case rpc.MsgRetireEntity:
		id := r.EntityID()
		newer := r.Uint64()
		if r.Err() != nil {
			return r.Err()
		}
		w.retireOlder(id, newer)
	case rpc.MsgMigrateEntity:
		spaceID := r.EntityID()
		r.Uint16()
		if r.Err() != nil {
			return r.Err()
		}
		return w.migrateIn(spaceID, r.Rest())
	case rpc.MsgCreateEntitySomewhere, rpc.MsgCreateEntityOnGame, rpc.MsgLoadEntitySomewhere, rpc.MsgEnsureService, rpc.MsgLoadEntityResult:
		return w.handlePlacement(t, body, r)
	case rpc.MsgCallOffline, rpc.MsgRequestOffline:
		return w.handleOffline(t, body, r)
	case rpc.MsgPeerGone:
		role, pid := rpc.Role(r.Uint8()), r.Uint16()
		if r.Err() != nil {
			return r.Err()
		}
		if role == rpc.RoleGame && rpc.GameID(pid) != w.gameID {
			w.gameGone(rpc.GameID(pid))
		}
		if role == rpc.RoleGate {
			for _, e := range w.entities {
				if e.client != nil && e.client.Gate == rpc.GateID(pid) {
					e.setClient(nil)
				}
			}
		}
	default:
		return fmt.Errorf("unexpected message type")
	}
	return nil
}

// handleCall handles calls and requests to entities of this game, from entities and clients.
func (w *World) handleCall(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCallEntityMethod:
		id, method := r.EntityID(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest()})
	case rpc.MsgClientCall:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		method := r.String()
		if err := r.Err(); err != nil {
			return err
		}
		if w.entities[id] == nil && w.loading[id] == nil {
			w.lines.Logf(w.log, logrus.DebugLevel, "client call on unknown entity", "client call %s on unknown entity %s dropped", clip.Name(method), id)
			return nil
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), client: ref})
	case rpc.MsgRequestEntityMethod:
		id, caller, reqID, method := r.EntityID(), r.EntityID(), r.Uint64(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if caller == "" || id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), reply: &replyTo{caller: caller, id: reqID}})
	case rpc.MsgRequestReply:
		caller := r.EntityID()
		rest := r.Rest()
		if r.Err() != nil || caller == "" || len(rest) < 8+2 {
			return fmt.Errorf("malformed: %v", r.Err())
		}
		w.deliver(pendingCall{id: caller, method: methodReply, args: rest})
	case rpc.MsgClientRequest:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		reqID := r.Uint32()
		method := r.String()
		if err := r.Err(); err != nil {
			return err
		}
		reply := &replyTo{client: ref, id: uint64(reqID)}
		if w.entities[id] == nil && w.loading[id] == nil {
			w.sendReply(reply, nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: "entity " + string(id) + " does not exist"})
			return nil
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), client: ref, reply: reply})
	}
	return nil
}

// handleClient handles what a gate says of a client: connected, gone, away or back, moved.
func (w *World) handleClient(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgClientConnected:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		var addr string
		if r.Remaining() > 0 {
			addr = r.String()
		}
		if r.Err() != nil || id == "" {
			return fmt.Errorf("malformed: %v", r.Err())
		}
		t := w.reg.types[w.cfg.BootEntity]
		if t == nil {
			w.kick(*ref, "this game has no boot entity")
			return fmt.Errorf("no boot entity type")
		}
		e, err := w.newEntity(t, id, nil)
		if err != nil {
			return err
		}
		w.created(e)
		e.bindClient(ref, addr)
	case rpc.MsgClientDisconnected:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		if r.Err() != nil {
			return r.Err()
		}
		if e := w.entities[id]; e != nil && e.client != nil && *e.client == ref {
			e.setClient(nil)
		}
	case rpc.MsgClientAway:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		away := r.Uint8()
		if r.Err() != nil {
			return r.Err()
		}
		if e := w.entities[id]; e != nil && e.client != nil && *e.client == ref {
			e.clientAway(away != 0)
		}
	case rpc.MsgClientSyncPosition:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		spaceID := r.EntityID()
		pos, yaw := r.Position()
		if r.Err() != nil {
			return r.Err()
		}
		w.clientPosition(id, ref, spaceID, pos, yaw)
	}
	return nil
}

// handlePlacement handles entities created or loaded here by a dispatcher's placement, service shards ensured, and load answers.
func (w *World) handlePlacement(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCreateEntitySomewhere, rpc.MsgCreateEntityOnGame:
		id := r.EntityID()
		if t == rpc.MsgCreateEntityOnGame {
			r.Uint16()
		}
		typeName := r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		attrs, _, err := rpc.DecodeAny(r.Rest())
		if err != nil {
			return err
		}
		m, _ := attrs.(map[string]any)
		tt := w.reg.types[typeName]
		if tt == nil {
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
			return fmt.Errorf("create of unknown type %s", clip.Name(typeName))
		}
		e, err := w.newEntity(tt, id, m)
		if err != nil {
			// The dispatcher recorded the entity here: let it forget.
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
			return err
		}
		w.created(e)
		w.firstSave(e)
	case rpc.MsgLoadEntitySomewhere:
		id, typeName := r.EntityID(), r.String()
		var caller loadCaller
		if r.Remaining() > 0 { // a caller waits for the answer
			caller = loadCaller{id: r.EntityID(), callback: r.String()}
			if r.Err() == nil && (caller.id == "" || caller.callback == "") {
				return fmt.Errorf("load answer to %q, callback %q", caller.id, caller.callback)
			}
		}
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.load(id, typeName, caller, false)
	case rpc.MsgEnsureService:
		id := r.EntityID()
		r.Uint16()
		typeName := r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.ensureService(id, typeName)
	case rpc.MsgLoadEntityResult:
		caller := r.EntityID()
		rest := r.Rest()
		if r.Err() != nil {
			return r.Err()
		}
		if _, err := decodeLoadResult(rest); err != nil || caller == "" {
			return fmt.Errorf("malformed: %v", err)
		}
		w.deliver(pendingCall{id: caller, method: methodLoadResult, args: rest})
	}
	return nil
}

// handleOffline handles offline calls and requests: for an entity of this game, or to store in a mailbox.
func (w *World) handleOffline(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCallOffline:
		id, typeName := r.EntityID(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		return w.callOffline(id, typeName, r.Rest(), nil)
	case rpc.MsgRequestOffline:
		id, caller, reqID, typeName := r.EntityID(), r.EntityID(), r.Uint64(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" || caller == "" {
			return fmt.Errorf("zero entity ID")
		}
		return w.callOffline(id, typeName, r.Rest(), &replyTo{caller: caller, id: reqID})
	}
	return nil
}

// DropClients unbinds every client, running OnClientDisconnected, after
// a dispatcher link was lost: that dispatcher told the gates this game is
// gone, and they disconnected its clients.
func (en *Engine) DropClients() {
	w := en.w
	for _, e := range w.entities {
		if e.client != nil {
			e.setClient(nil)
		}
	}
	w.flushLocal()
}

// Reregister tells dispatcher i again about every local entity in its
// shard, after it restarted and lost its table.
func (en *Engine) Reregister(i int) {
	w := en.w
	n := w.out.NumDispatchers()
	for id, e := range w.entities {
		if id.Shard(n) == i {
			w.out.Send(i, rpc.MsgRegisterEntity, registerBody(e))
		}
	}
}

// registerBody is the MsgRegisterEntity of e: its ID, and its fencing
// epoch if it is a persistent entity that has one, so that a dispatcher
// that finds another copy registered keeps the newer (MsgRetireEntity).
func registerBody(e *Entity) []byte {
	b := rpc.AppendEntityID(nil, e.id)
	if (e.typ.persistent || e.typ.service != nil) && e.epoch != 0 {
		b = rpc.AppendUint64(b, e.epoch)
	}
	return b
}

// retireOlder retires the local copy of persistent entity id if a copy
// with a greater epoch lives elsewhere (MsgRetireEntity). A copy that is
// migrating is left alone: it registers again where it lands, and the
// dispatcher compares again then.
func (w *World) retireOlder(id rpc.EntityID, newer uint64) {
	e := w.entities[id]
	switch {
	case e == nil || (!e.typ.persistent && e.typ.service == nil):
		return
	case e.epoch == 0 || e.epoch >= newer:
		w.log.Warnf("%s: told to retire for a copy of epoch %d elsewhere, but this copy's is %d: kept", e, newer, e.epoch)
		return
	case e.migrating:
		return
	}
	w.retire(e, e.epoch, newer)
}

// Registered tells dispatcher i that it has been told of every local
// entity in its shard (MsgRegistered): after Reregister, or on a first
// connection. A restarted dispatcher holds loads of entities it does not
// know until every game has said this, so that an entity still alive
// here is not loaded a second time elsewhere.
func (en *Engine) Registered(i int) {
	w := en.w
	w.out.Send(i, rpc.MsgRegistered, nil)
}

// SaveDirty saves every persistent entity whose persistent attributes
// changed since its last save, in one batch. The game calls it every
// save interval and at shutdown.
func (en *Engine) SaveDirty(done func(err error)) int {
	w := en.w
	var recs []storage.EntityRecord
	for _, e := range w.entities {
		if e.typ.persistent && e.dirty {
			if rec, ok := w.record(e); ok {
				recs = append(recs, rec)
			}
		}
	}
	if len(recs) == 0 {
		if done != nil {
			done(nil)
		}
		return 0
	}
	w.save(recs, done)
	return len(recs)
}

// firstSave saves a newly created persistent entity at once, so that a
// reference to it stored elsewhere (an account's avatar ID) never points
// to nothing after a crash.
func (w *World) firstSave(e *Entity) {
	if e.typ.persistent && !e.destroyed {
		w.saveOne(e)
	}
}

// saveFinal starts the final save of persistent entity e, which is being
// destroyed, and reports whether it did. e stays registered with the
// dispatcher until the save has completed (or failed for good): a load of
// it meanwhile (a logout and a login at once; a login while the save is
// retried because the store is down) is sent to this game, where the
// storage worker runs it after the save, not placed on another game that
// would read what the store held before the save and lose its changes.
func (w *World) saveFinal(e *Entity) bool {
	if w.store == nil {
		return false
	}
	rec, ok := w.record(e)
	if !ok {
		return false
	}
	id := e.id
	if w.finalSaves == nil {
		w.finalSaves = map[rpc.EntityID]int{}
	}
	w.finalSaves[id]++
	w.save([]storage.EntityRecord{rec}, func(error) {
		if w.finalSaves[id]--; w.finalSaves[id] > 0 {
			return
		}
		delete(w.finalSaves, id)
		if _, busy := w.loading[id]; w.entities[id] == nil && !busy {
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
		}
	})
	return true
}

func (w *World) saveOne(e *Entity) {
	if rec, ok := w.record(e); ok {
		w.save([]storage.EntityRecord{rec}, nil)
	}
}

func (w *World) record(e *Entity) (storage.EntityRecord, bool) {
	data, err := msgpack.Marshal(e.persistentData())
	if err != nil {
		w.log.WithError(err).Errorf("%s: cannot encode for saving", e)
		return storage.EntityRecord{}, false
	}
	e.dirty = false
	if e.epoch == 0 {
		e.claims++
	}
	return storage.EntityRecord{Type: e.typ.name, ID: string(e.id), Data: data, Epoch: e.epoch}, true
}

func (w *World) save(recs []storage.EntityRecord, done func(error)) {
	var claims []int // the records that claim (Epoch 0)
	for i := range recs {
		if recs[i].Epoch == 0 {
			claims = append(claims, i)
		}
	}
	if w.store == nil {
		w.adoptEpochs(recs, claims)
		if done != nil {
			done(nil)
		}
		return
	}
	w.saving++
	w.store.SaveEntities(recs, func(err error) {
		w.saving--
		var fe *storage.FenceError
		if errors.As(err, &fe) {
			// The other records were stored; the fenced ones belong to
			// copies that a newer copy replaced: retire them.
			w.adoptEpochs(recs, claims)
			var gone []string
			nGone := 0
			for _, f := range fe.Fenced {
				if e := w.entities[rpc.EntityID(f.ID)]; e != nil && e.typ.name == f.Type && e.epoch != 0 && e.epoch <= f.Epoch {
					w.retire(e, f.Epoch, f.Current)
					continue
				}
				if nGone++; len(gone) < 10 {
					gone = append(gone, clip.Name(f.Type)+"<"+clip.Name(f.ID)+">")
				}
			}
			if nGone > 0 {
				// Destroyed since (a final save): the newer copy's state
				// stays.
				w.log.Warnf("the saves of %d entities no longer here were refused: a newer copy of each was loaded elsewhere (%s)",
					nGone, strings.Join(gone, ", "))
			}
			w.flushLocal()
			err = nil
		} else {
			w.adoptEpochs(recs, claims)
		}
		if err != nil {
			var gone []string
			for _, r := range recs {
				if e := w.entities[rpc.EntityID(r.ID)]; e != nil {
					e.dirty = true
				} else if len(gone) < 10 {
					gone = append(gone, r.Type+"<"+r.ID+">")
				}
			}
			w.log.WithError(err).Errorf("saving %d entities failed; those still here stay dirty and are retried", len(recs))
			if len(gone) > 0 {
				// Destroyed (a logout's final save): nothing is left to
				// save again. Migrated entities took their state along.
				w.log.WithError(err).Errorf("the failed save held entities no longer on this game (%s): "+
					"any destroyed since lost the changes of that save", strings.Join(gone, ", "))
			}
		}
		if done != nil {
			done(err)
		}
	})
}

// adoptEpochs gives every entity still here that claimed in recs (the
// records at the indexes claims, saved with Epoch 0: a created entity's
// first saves) the epoch it claimed, which the store set in the record if
// it stored it (if it did not, the next save claims again). Every claim
// in flight is this copy's, so the newest is its epoch.
func (w *World) adoptEpochs(recs []storage.EntityRecord, claims []int) {
	for _, i := range claims {
		r := &recs[i]
		e := w.entities[rpc.EntityID(r.ID)]
		if e == nil || e.typ.name != r.Type || e.claims == 0 {
			continue
		}
		e.epoch = max(e.epoch, r.Epoch)
		e.claims--
	}
}

// FencedLoggedElsewhere is the reason the client of a retired copy is
// kicked with.
const FencedLoggedElsewhere = "your character was loaded elsewhere"

// retire destroys this copy of a persistent entity after its save was
// refused because a newer copy was claimed (loaded or created on another
// game, or here again): without saving it and without OnDestroy, which
// is not this copy's to run (the entity lives on in the newer copy). Its
// client is kicked with FencedLoggedElsewhere.
func (w *World) retire(e *Entity, epoch, current uint64) {
	if e.destroyed {
		return
	}
	w.fenced++
	w.log.WithField("entity", e.String()).Errorf("a newer copy of %s was loaded elsewhere (stored epoch %d, this copy's %d): "+
		"this copy is retired without saving; changes made to it since its last save are lost", e, current, epoch)
	e.fenced = true
	if e.client != nil {
		ref := *e.client
		e.spaceClientUnbinding()
		w.toClient(ref, rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, e.id))
		e.client = nil
		w.kick(ref, FencedLoggedElsewhere)
	}
	e.destroy()
}

// FencedCopies returns how many copies of persistent entities this world
// retired because a newer copy was claimed (their save was fenced).
func (en *Engine) FencedCopies() uint64 { return en.w.fenced }

// SavesInFlight returns the number of saves not yet completed.
func (w *World) SavesInFlight() int { return w.saving }

// StorageInFlight returns the number of storage operations of any kind
// (saves, loads, KV) whose results have not come back yet. A freeze waits
// for it to reach zero: a pending callback is a closure, which cannot be
// written to a freeze file.
//
// Entities waiting to migrate to another game count too: they are
// neither here nor there until their dispatcher answers.
func (w *World) StorageInFlight() int { return w.saving + w.inflight + len(w.migrations) }
