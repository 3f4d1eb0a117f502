package entity

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// kcp-go starts its timer goroutines when it is loaded: the examples
	// run whole clusters (goworldtest), whose gate imports it.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// ---------------------------------------------------------------------------
// Recording Outbox

// frame is one frame sent through the Outbox.
type frame struct {
	disp int
	typ  rpc.MsgType
	body []byte
}

// recOutbox records every frame sent, in order. A MsgToClients is
// recorded as the MsgToClient frames it stands for (one per client and
// item, in order), so that tests read one client frame at a time.
type recOutbox struct {
	n      int
	frames []frame
	flush  func() // the world's FlushClients, so take sees everything
}

func (o *recOutbox) NumDispatchers() int { return o.n }

func (o *recOutbox) Send(i int, t rpc.MsgType, body []byte) {
	if i < 0 || i >= o.n {
		panic(fmt.Sprintf("Send to dispatcher %d of %d", i, o.n))
	}
	if t == rpc.MsgToClients {
		for _, b := range expandToClients(body) {
			o.frames = append(o.frames, frame{disp: i, typ: rpc.MsgToClient, body: b})
		}
		return
	}
	o.frames = append(o.frames, frame{disp: i, typ: t, body: append([]byte(nil), body...)})
}

// expandToClients turns a MsgToClients body into MsgToClient bodies.
func expandToClients(body []byte) [][]byte {
	r := rpc.NewReader(body)
	gate := r.Uint16()
	var out [][]byte
	for r.Remaining() > 0 {
		n := int(r.Uint16())
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = r.Uint64()
		}
		flen := int(r.Uint32())
		if r.Err() != nil || flen > r.Remaining() {
			panic("malformed MsgToClients")
		}
		rest := r.Rest()
		fr := rest[:flen]
		for _, id := range ids {
			b := rpc.AppendUint64(rpc.AppendUint16(nil, gate), id)
			out = append(out, append(b, fr...))
		}
		r = rpc.NewReader(rest[flen:])
	}
	return out
}

// take returns the frames recorded so far and forgets them.
func (o *recOutbox) take() []frame {
	if o.flush != nil {
		o.flush()
	}
	f := o.frames
	o.frames = nil
	return f
}

// ofType returns the recorded frames of type t.
func (o *recOutbox) ofType(t rpc.MsgType) []frame {
	var out []frame
	for _, f := range o.frames {
		if f.typ == t {
			out = append(out, f)
		}
	}
	return out
}

// clientMsg is a decoded MsgToClient body.
type clientMsg struct {
	disp   int
	gate   rpc.GateID
	client rpc.ClientID
	typ    rpc.MsgType // client frame type
	body   []byte      // client frame body
}

func (m clientMsg) ref() ClientRef { return ClientRef{Gate: m.gate, ID: m.client} }

func decodeToClient(t testing.TB, f frame) clientMsg {
	t.Helper()
	if f.typ != rpc.MsgToClient {
		t.Fatalf("frame is %v, not ToClient", f.typ)
	}
	r := rpc.NewReader(f.body)
	m := clientMsg{disp: f.disp, gate: rpc.GateID(r.Uint16()), client: rpc.ClientID(r.Uint64()), typ: rpc.MsgType(r.Uint16())}
	m.body = r.Rest()
	if r.Err() != nil {
		t.Fatalf("malformed ToClient: %v", r.Err())
	}
	return m
}

// clientMsgs decodes every MsgToClient frame in frames.
func clientMsgs(t testing.TB, frames []frame) []clientMsg {
	t.Helper()
	var out []clientMsg
	for _, f := range frames {
		if f.typ == rpc.MsgToClient {
			out = append(out, decodeToClient(t, f))
		}
	}
	return out
}

// attrChange is a decoded MsgAttrChange client body.
type attrChange struct {
	id    rpc.EntityID
	op    rpc.AttrOp
	path  []any
	value any
}

func decodeAttrChange(t testing.TB, body []byte) attrChange {
	t.Helper()
	r := rpc.NewReader(body)
	c := attrChange{id: r.EntityID(), op: rpc.AttrOp(r.Uint8())}
	if r.Err() != nil {
		t.Fatalf("malformed AttrChange: %v", r.Err())
	}
	rest := r.Rest()
	pv, n, err := rpc.DecodeAny(rest)
	if err != nil {
		t.Fatalf("AttrChange path: %v", err)
	}
	v, m, err := rpc.DecodeAny(rest[n:])
	if err != nil {
		t.Fatalf("AttrChange value: %v", err)
	}
	if n+m != len(rest) {
		t.Fatalf("AttrChange: %d trailing bytes", len(rest)-n-m)
	}
	p, ok := pv.([]any)
	if !ok {
		t.Fatalf("AttrChange path is %T", pv)
	}
	c.path, c.value = p, v
	return c
}

// createMsg is a decoded MsgCreateEntity client body.
type createMsg struct {
	id       rpc.EntityID
	isPlayer uint8
	typeName string
	attrs    map[string]any
}

func decodeCreate(t testing.TB, body []byte) createMsg {
	t.Helper()
	r := rpc.NewReader(body)
	c := createMsg{id: r.EntityID(), isPlayer: r.Uint8(), typeName: r.String()}
	if r.Err() != nil {
		t.Fatalf("malformed CreateEntity: %v", r.Err())
	}
	rest := r.Rest()
	v, n, err := rpc.DecodeAny(rest)
	if err != nil {
		t.Fatalf("CreateEntity attrs: %v", err)
	}
	if n != len(rest) && n+rpc.PositionSize != len(rest) {
		t.Fatalf("CreateEntity: %d trailing bytes (want 0, or a position)", len(rest)-n)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("CreateEntity attrs are %T", v)
	}
	c.attrs = m
	return c
}

// setOwnerMsg is a decoded MsgSetClientOwner body.
type setOwnerMsg struct {
	gate   rpc.GateID
	client rpc.ClientID
	id     rpc.EntityID
	game   rpc.GameID
}

func decodeSetOwner(t testing.TB, body []byte) setOwnerMsg {
	t.Helper()
	r := rpc.NewReader(body)
	m := setOwnerMsg{gate: rpc.GateID(r.Uint16()), client: rpc.ClientID(r.Uint64()), id: r.EntityID(), game: rpc.GameID(r.Uint16())}
	if r.Err() != nil || len(r.Rest()) != 0 {
		t.Fatalf("malformed SetClientOwner: %v", r.Err())
	}
	return m
}

// kickMsg is a decoded MsgKickClient body.
type kickMsg struct {
	gate   rpc.GateID
	client rpc.ClientID
	reason string
}

func decodeKick(t testing.TB, body []byte) kickMsg {
	t.Helper()
	r := rpc.NewReader(body)
	m := kickMsg{gate: rpc.GateID(r.Uint16()), client: rpc.ClientID(r.Uint64()), reason: r.String()}
	if r.Err() != nil {
		t.Fatalf("malformed KickClient: %v", r.Err())
	}
	return m
}

func kicks(t testing.TB, frames []frame) []kickMsg {
	t.Helper()
	var out []kickMsg
	for _, f := range frames {
		if f.typ == rpc.MsgKickClient {
			out = append(out, decodeKick(t, f.body))
		}
	}
	return out
}

// decodeEntityIDBody decodes a body that is exactly one entity ID.
func decodeEntityIDBody(t testing.TB, body []byte) rpc.EntityID {
	t.Helper()
	r := rpc.NewReader(body)
	id := r.EntityID()
	if r.Err() != nil || len(r.Rest()) != 0 {
		t.Fatalf("malformed entity ID body %x", body)
	}
	return id
}

// decodeRegisterBody decodes a MsgRegisterEntity body: an entity ID and,
// for a persistent entity's copy that has one, its epoch (else 0).
func decodeRegisterBody(t testing.TB, body []byte) (rpc.EntityID, uint64) {
	t.Helper()
	r := rpc.NewReader(body)
	id := r.EntityID()
	var epoch uint64
	if r.Remaining() > 0 {
		epoch = r.Uint64()
	}
	if r.Err() != nil || r.Remaining() != 0 || (len(body) > rpc.EntityIDLength && epoch == 0) {
		t.Fatalf("malformed registration %x", body)
	}
	return id, epoch
}

// ---------------------------------------------------------------------------
// In-memory Store

// memStore keeps entities and keys in maps. Operations complete at once but
// their done callbacks are queued; flush runs them through Engine.Run, as the
// game loop would run posted callbacks.
type memStore struct {
	entities map[string][]byte // type/id → data
	epochs   map[string]uint64 // type/id → fencing epoch
	kv       map[string][]byte
	mail     map[string][][]byte // type/id → mailbox
	pending  []func()

	saves    [][]storage.EntityRecord // every SaveEntities batch
	loads    []string                 // type/id of every LoadEntity
	saveErrs []error                  // consumed in order by SaveEntities (nil: succeed)
	loadErr  error                    // returned by every LoadEntity when set
}

func newMemStore() *memStore {
	return &memStore{entities: map[string][]byte{}, epochs: map[string]uint64{}, kv: map[string][]byte{}}
}

func storeKey(typeName, id string) string { return typeName + "/" + id }

// AppendMessage keeps the mailbox as storage backends do.
func (s *memStore) AppendMessage(typeName string, id rpc.EntityID, msg []byte, limit int, done func(int, error)) {
	k := storeKey(typeName, string(id))
	var err error
	_, stored := s.entities[k]
	switch {
	case !stored:
		err = fmt.Errorf("%s: %w", k, storage.ErrNotFound)
	case len(s.mail[k]) >= limit:
		err = fmt.Errorf("%s: %w", k, storage.ErrMailboxFull)
	default:
		if s.mail == nil {
			s.mail = map[string][][]byte{}
		}
		s.mail[k] = append(s.mail[k], append([]byte(nil), msg...))
	}
	n := len(s.mail[k])
	s.pending = append(s.pending, func() { done(n, err) })
}

// TakeMessages takes the mailbox.
func (s *memStore) TakeMessages(typeName string, id rpc.EntityID, done func([][]byte, error)) {
	k := storeKey(typeName, string(id))
	mail := s.mail[k]
	delete(s.mail, k)
	s.pending = append(s.pending, func() { done(mail, nil) })
}

func (s *memStore) LoadEntity(typeName string, id rpc.EntityID, done func(data []byte, epoch uint64, mail [][]byte, err error)) {
	k := storeKey(typeName, string(id))
	s.loads = append(s.loads, k)
	var (
		data  []byte
		epoch uint64
	)
	err := s.loadErr
	if err == nil {
		d, ok := s.entities[k]
		if !ok {
			err = fmt.Errorf("%s: %w", k, storage.ErrNotFound)
		} else {
			data = append([]byte(nil), d...)
			s.epochs[k]++
			epoch = s.epochs[k]
		}
	}
	var mail [][]byte
	if err == nil {
		mail = s.mail[k]
		delete(s.mail, k)
	}
	s.pending = append(s.pending, func() { done(data, epoch, mail, err) })
}

// SaveEntities fences as storage backends do (storage.EntityRecord.Epoch).
func (s *memStore) SaveEntities(recs []storage.EntityRecord, done func(err error)) {
	cp := make([]storage.EntityRecord, len(recs))
	for i, r := range recs {
		cp[i] = storage.EntityRecord{Type: r.Type, ID: r.ID, Data: append([]byte(nil), r.Data...), Epoch: r.Epoch}
	}
	s.saves = append(s.saves, cp)
	var err error
	if len(s.saveErrs) > 0 {
		err, s.saveErrs = s.saveErrs[0], s.saveErrs[1:]
	}
	if err == nil {
		var fenced []storage.FencedRecord
		for i, r := range cp {
			k := storeKey(r.Type, r.ID)
			cur := s.epochs[k]
			switch {
			case r.Epoch == 0:
				cur++
			case r.Epoch < cur:
				fenced = append(fenced, storage.FencedRecord{Type: r.Type, ID: r.ID, Epoch: r.Epoch, Current: cur})
				continue
			default:
				cur = r.Epoch
			}
			s.epochs[k] = cur
			recs[i].Epoch = cur
			s.entities[k] = r.Data
		}
		if fenced != nil {
			err = &storage.FenceError{Fenced: fenced}
		}
	}
	s.pending = append(s.pending, func() { done(err) })
}

func (s *memStore) KVGet(key string, done func(value []byte, err error)) {
	v, ok := s.kv[key]
	var err error
	if !ok {
		err = storage.ErrNotFound
	}
	s.pending = append(s.pending, func() { done(v, err) })
}

func (s *memStore) KVPut(key string, value []byte, done func(err error)) {
	s.kv[key] = append([]byte(nil), value...)
	s.pending = append(s.pending, func() { done(nil) })
}

func (s *memStore) KVPutIfAbsent(key string, value []byte, done func(stored bool, existing []byte, err error)) {
	if old, ok := s.kv[key]; ok {
		s.pending = append(s.pending, func() { done(false, old, nil) })
		return
	}
	s.kv[key] = append([]byte(nil), value...)
	s.pending = append(s.pending, func() { done(true, nil, nil) })
}

// flush runs the queued callbacks (and those they queue) through Engine.Run.
func (s *memStore) flush(w *Engine) {
	for len(s.pending) > 0 {
		fn := s.pending[0]
		s.pending = s.pending[1:]
		w.Run(fn)
	}
}

// ---------------------------------------------------------------------------
// Fake clock

type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// ---------------------------------------------------------------------------
// Event recorder: test entity types record what happens to them here.

var (
	eventsMu sync.Mutex
	events   = map[*World][]string{}
)

func record(e *Entity, format string, args ...any) {
	eventsMu.Lock()
	defer eventsMu.Unlock()
	events[e.World()] = append(events[e.World()], string(e.ID())+" "+fmt.Sprintf(format, args...))
}

// ---------------------------------------------------------------------------
// Test environment

type env struct {
	t     *testing.T
	reg   *Registry
	out   *recOutbox
	store *memStore
	clock *fakeClock
	w     *World
	eng   *Engine // drives w
	logs  *logtest.Hook
}

type envOpt func(*env, *WorldConfig)

func withDispatchers(n int) envOpt { return func(e *env, _ *WorldConfig) { e.out.n = n } }
func withBoot(name string) envOpt {
	return func(_ *env, c *WorldConfig) { c.BootEntity = name }
}
func withoutStore() envOpt { return func(_ *env, c *WorldConfig) { c.Store = nil } }

const testGameID rpc.GameID = 7

// newEnv returns a world with the standard test types registered, Account
// as the boot entity, one dispatcher, a memStore and a fake clock.
func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, reg: NewRegistry(), out: &recOutbox{n: 1}, store: newMemStore(), clock: newFakeClock()}
	mustRegister(t, e.reg, "Account", &Account{})
	mustRegister(t, e.reg, "Avatar", &Avatar{})
	mustRegister(t, e.reg, "Plain", &Plain{})
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	e.logs = hook
	cfg := WorldConfig{GameID: testGameID, Registry: e.reg, BootEntity: "Account", Outbox: e.out, Store: e.store, Now: e.clock.Now, Logger: logger}
	for _, o := range opts {
		o(e, &cfg)
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	w := eng.World()
	e.w, e.eng = w, eng
	e.out.flush = eng.FlushClients
	t.Cleanup(func() {
		eventsMu.Lock()
		delete(events, w)
		eventsMu.Unlock()
	})
	return e
}

func mustRegister(t testing.TB, r *Registry, name string, proto any) {
	t.Helper()
	if err := r.Register(name, proto); err != nil {
		t.Fatalf("Register(%s): %v", name, err)
	}
}

// events returns the events recorded so far and forgets them.
func (e *env) events() []string {
	eventsMu.Lock()
	defer eventsMu.Unlock()
	ev := events[e.w]
	delete(events, e.w)
	return ev
}

// eventsOf returns the recorded events of entity id (without the ID
// prefix), forgetting all events.
func (e *env) eventsOf(id rpc.EntityID) []string {
	var out []string
	for _, s := range e.events() {
		if rest, ok := strings.CutPrefix(s, string(id)+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// create creates an entity locally, failing the test on error.
func (e *env) create(typeName string, attrs map[string]any) *Entity {
	e.t.Helper()
	var ent *Entity
	var err error
	e.eng.Run(func() { ent, err = e.w.CreateEntityLocally(typeName, attrs) })
	if err != nil {
		e.t.Fatalf("CreateEntityLocally(%s): %v", typeName, err)
	}
	return ent
}

// connect sends MsgClientConnected for a new boot entity and returns it.
func (e *env) connect(gate rpc.GateID, client rpc.ClientID) *Entity {
	e.t.Helper()
	id := rpc.NewEntityID()
	e.eng.Handle(rpc.MsgClientConnected, clientConnectedBody(id, gate, client))
	ent := e.w.Entity(id)
	if ent == nil {
		e.t.Fatalf("boot entity %s not created", id)
	}
	return ent
}

// bind binds a client to ent directly (as a handover would).
func (e *env) bind(ent *Entity, gate rpc.GateID, client rpc.ClientID) {
	e.eng.Run(func() { ent.setClient(&ClientRef{Gate: gate, ID: client}) })
}

// logged reports whether some log entry at level or above contains s.
func (e *env) logged(level logrus.Level, s string) bool {
	for _, en := range e.logs.AllEntries() {
		if en.Level <= level && strings.Contains(en.Message, s) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Message bodies

func clientConnectedBody(id rpc.EntityID, gate rpc.GateID, client rpc.ClientID) []byte {
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendUint16(b, uint16(gate))
	return rpc.AppendUint64(b, uint64(client))
}

func clientDisconnectedBody(id rpc.EntityID, gate rpc.GateID, client rpc.ClientID) []byte {
	return clientConnectedBody(id, gate, client)
}

func clientCallBody(t testing.TB, id rpc.EntityID, gate rpc.GateID, client rpc.ClientID, method string, args ...any) []byte {
	t.Helper()
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendUint16(b, uint16(gate))
	b = rpc.AppendUint64(b, uint64(client))
	b = rpc.AppendString(b, method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func callBody(t testing.TB, id rpc.EntityID, method string, args ...any) []byte {
	t.Helper()
	b, err := appendCall(nil, id, method, args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func peerGoneBody(role rpc.Role, id uint16) []byte {
	return rpc.AppendUint16(rpc.AppendUint8(nil, uint8(role)), id)
}

func loadBody(id rpc.EntityID, typeName string) []byte {
	return rpc.AppendString(rpc.AppendEntityID(nil, id), typeName)
}

// mustPanic runs fn and returns the panic message; it fails if fn does not panic.
func mustPanic(t testing.TB, fn func()) (msg string) {
	t.Helper()
	defer func() {
		p := recover()
		if p == nil {
			t.Fatalf("did not panic")
		}
		msg = fmt.Sprint(p)
	}()
	fn()
	return ""
}

func wantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v does not wrap %v", err, target)
	}
}

func deepEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// ---------------------------------------------------------------------------
// Test entity types

// Account is the boot entity: not persistent.
type Account struct{ Entity }

func (a *Account) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("user", AttrOwnClient)
	d.DefineAttr("pub", AttrAllClients)
	d.DefineAttr("srv", 0)
	d.ExposeToClient("Login", "Echo", "Typed")
	d.ExposeToAllClients("Ping")
}

// OnCreated sets one attribute of each kind, before any client is bound.
func (a *Account) OnCreated() {
	record(&a.Entity, "OnCreated")
	a.Attrs.Set("user", map[string]any{"name": "guest"})
	a.Attrs.Set("pub", 1)
	a.Attrs.Set("srv", "server only")
}
func (a *Account) OnDestroy()            { record(&a.Entity, "OnDestroy") }
func (a *Account) OnClientConnected()    { record(&a.Entity, "OnClientConnected") }
func (a *Account) OnClientDisconnected() { record(&a.Entity, "OnClientDisconnected") }

// Login gives the client to the entity id.
func (a *Account) Login(id string) {
	record(&a.Entity, "Login(%s)", id)
	a.GiveClientTo(rpc.EntityID(id))
}
func (a *Account) Echo(s string) { record(&a.Entity, "Echo(%s)", s) }
func (a *Account) Typed(i int8, u uint16, f float32, s []string, m map[string]int, p *int) {
	record(&a.Entity, "Typed(%d,%d,%g,%v,%v,%d)", i, u, f, s, m, *p)
}
func (a *Account) Ping(from string) { record(&a.Entity, "Ping(%s)", from) }
func (a *Account) Secret(n int)     { record(&a.Entity, "Secret(%d)", n) }
func (a *Account) Bump(n int)       { record(&a.Entity, "Bump(%d)", n) }

// Avatar is persistent.
type Avatar struct{ Entity }

func (a *Avatar) DescribeEntityType(d *TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("name", AttrAllClients|AttrPersistent)
	d.DefineAttr("inv", AttrOwnClient|AttrPersistent)
	d.DefineAttr("bag", AttrOwnClient)
	d.DefineAttr("hp", AttrAllClients)
	d.DefineAttr("srv", 0)
	d.DefineAttr("saved", AttrPersistent)
	d.ExposeToClient("Move")
	d.ExposeToAllClients("Poke")
}

func (a *Avatar) OnCreated() { record(&a.Entity, "OnCreated") }

// OnDestroy records and changes a persistent attribute, which the final
// save must include.
func (a *Avatar) OnDestroy() {
	record(&a.Entity, "OnDestroy")
	a.Attrs.Set("saved", "bye")
}
func (a *Avatar) OnClientConnected()    { record(&a.Entity, "OnClientConnected") }
func (a *Avatar) OnClientDisconnected() { record(&a.Entity, "OnClientDisconnected") }
func (a *Avatar) Move(x, y int32)       { record(&a.Entity, "Move(%d,%d)", x, y) }
func (a *Avatar) Poke(from string)      { record(&a.Entity, "Poke(%s)", from) }
func (a *Avatar) Note(s string)         { record(&a.Entity, "Note(%s)", s) }
func (a *Avatar) Level() int            { return 1 } // helper, not RPC

// Plain has no hooks and no Describe: the minimal entity.
type Plain struct{ Entity }

// Tick records n; a timer target.
func (p *Plain) Tick(n int) { record(&p.Entity, "Tick(%d)", n) }

// Args records converted timer arguments with their Go types.
func (p *Plain) Args(a int8, b uint32, c float64, d string, e []int16, f map[string]float32, g bool) {
	record(&p.Entity, "Args(%T=%d,%T=%d,%T=%g,%T=%s,%T=%v,%T=%v,%T=%v)", a, a, b, b, c, c, d, d, e, e, f, f, g, g)
}

// Boom panics.
func (p *Plain) Boom() { record(&p.Entity, "Boom"); panic("boom in timer") }

// Chain calls Tick on itself through World.Call (a local call from a call).
func (p *Plain) Chain(n int) {
	record(&p.Entity, "Chain(%d)", n)
	if n > 0 {
		p.Call(p.ID(), "Chain", n-1)
	}
}

// Kill destroys the entity.
func (p *Plain) Kill() { record(&p.Entity, "Kill"); p.Destroy() }
