package entity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"time"

	"github.com/goworld-engine/goworld/aoi"
	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// FreezeVersion is the version of the freeze format this build writes.
// It reads this version and the earlier ones (version 2 added spaces,
// positions and views to version 1, which has none); other versions are
// refused with a clear error.
const FreezeVersion = 2

func versionOK(v int) bool { return v >= 1 && v <= FreezeVersion }

// freezeMagic starts every freeze file.
var freezeMagic = [8]byte{'G', 'W', 'F', 'R', 'E', 'E', 'Z', 'E'}

// freezeHeaderSize: magic, version u32, payload length u64.
const freezeHeaderSize = 8 + 4 + 8

// Errors from Freeze, Restore and DecodeFrozen.
var (
	// ErrStorageBusy: storage operations are in flight; their callbacks
	// cannot be frozen. Drain first (the game does).
	ErrStorageBusy = errors.New("entity: storage operations in flight")
	// ErrFreezeHook: an entity's OnFreeze panicked; the freeze is aborted.
	ErrFreezeHook = errors.New("entity: OnFreeze failed")
	// ErrFreezeFile: a freeze file is truncated, corrupt or of another version.
	ErrFreezeFile = errors.New("entity: bad freeze file")
)

// Frozen is the whole state of a world at a freeze: what a hot reload
// carries from the old process to the new one.
type Frozen struct {
	Version  int    `msgpack:"version"`
	GameID   uint16 `msgpack:"game"`
	FrozenAt int64  `msgpack:"frozen_at"` // unix nanoseconds
	// SignalAt is when the freeze was requested (unix nanoseconds), to
	// measure the whole pause; set by the game.
	SignalAt int64          `msgpack:"signal_at"`
	Entities []FrozenEntity `msgpack:"entities"`
}

// FrozenEntity is one entity in a Frozen world.
type FrozenEntity struct {
	Type string `msgpack:"type"`
	ID   string `msgpack:"id"`
	// Attrs are all the entity's attributes. After Freeze it is the live
	// tree of the entity (nothing is copied, for speed): encode the Frozen
	// before the world changes. After DecodeFrozen it is a detached tree.
	Attrs  *MapAttr      `msgpack:"attrs"`
	Client *FrozenClient `msgpack:"client,omitempty"`
	Timers []FrozenTimer `msgpack:"timers,omitempty"`
	// NextTimer is the last timer ID handed out, so new IDs stay unique.
	NextTimer uint64 `msgpack:"next_timer"`
	// Dirty: persistent attributes changed since the last save.
	Dirty bool `msgpack:"dirty,omitempty"`
	// Epoch is a persistent entity's fencing token (the epoch its copy
	// claimed in storage), which its saves carry wherever it moves; 0 for
	// a copy whose first save has not returned (its next save claims).
	Epoch uint64 `msgpack:"epoch,omitempty"`
	// Space is the ID of the space the entity is in ("" for none).
	Space string `msgpack:"space,omitempty"`
	// Pos and Yaw are the entity's position (x, y, z) and heading.
	Pos [3]float32 `msgpack:"pos,omitempty"`
	Yaw float32    `msgpack:"yaw,omitempty"`
	// Unshown lists, for an entity with a client in a space, the entities
	// it sees that its client has not been sent yet (over the per-sync
	// budget). Everything else it sees, its client already holds.
	Unshown []string `msgpack:"unshown,omitempty"`
	// ViewLimit is the entity's own view limit (Entity.SetViewLimit); 0:
	// none.
	ViewLimit int `msgpack:"view_limit,omitempty"`
	// OwnPosDue: the entity has a client in a space, and game code moved
	// it since the last position sync, so its client is owed its own
	// position (sent at the first sync after the restore). A client that
	// moves its entity itself is not sent its own position back, so it
	// is not snapped back to where it was when the game froze.
	OwnPosDue bool `msgpack:"own_pos_due,omitempty"`
	// Calls are calls that reached the entity while it was migrating, to
	// run after it arrives (in migrations only, never in freeze files).
	Calls []FrozenCall `msgpack:"calls,omitempty"`
}

// FrozenCall is a call waiting for a migrating entity.
type FrozenCall struct {
	Method string        `msgpack:"method"`
	Args   []byte        `msgpack:"args"`
	Client *FrozenClient `msgpack:"client,omitempty"` // the calling client, for client calls
	// Request is set for a request (Entity.Request, a client's
	// MsgRequest): ReqID and, for an entity's, Caller say where the
	// answer goes.
	Request bool   `msgpack:"request,omitempty"`
	Caller  string `msgpack:"caller,omitempty"`
	ReqID   uint64 `msgpack:"req_id,omitempty"`
}

// FrozenClient is a client binding.
type FrozenClient struct {
	Gate uint16 `msgpack:"gate"`
	ID   uint64 `msgpack:"id"`
	// Addr is where the client connected from (Entity.ClientAddr).
	Addr string `msgpack:"addr,omitempty"`
}

// FrozenTimer is an entity timer with the time it had left.
type FrozenTimer struct {
	ID        uint64 `msgpack:"id"`
	Method    string `msgpack:"method"`
	Args      []byte `msgpack:"args"`
	Remaining int64  `msgpack:"remaining"` // nanoseconds until it fires
	Interval  int64  `msgpack:"interval"`  // 0: fires once
}

// Freeze runs every entity's OnFreeze hook and captures the world. It must
// be called on the game loop with no storage operation in flight
// (ErrStorageBusy otherwise). A panicking hook aborts the freeze with an
// error wrapping ErrFreezeHook; the world is then still live and serving.
func (en *Engine) Freeze() (*Frozen, error) {
	w := en.w
	if n := w.StorageInFlight(); n > 0 {
		return nil, fmt.Errorf("%w: %d", ErrStorageBusy, n)
	}
	ids := make([]string, 0, len(w.entities))
	for id := range w.entities {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := w.entities[rpc.EntityID(id)]
		if h, ok := e.self.Interface().(Freezer); ok {
			if err := w.freezeHook(e, h); err != nil {
				return nil, err
			}
		}
	}
	w.flushLocal() // calls made by hooks run now, not after the reload
	// Destroys that wait for the next position sync go now: the views
	// rebuilt after the reload hold only what their members see, so a
	// client would keep what left its view since the last sync.
	for _, sp := range w.spaces {
		sp.sp.s.SendDestroys()
	}
	w.flushClients()
	if n := w.StorageInFlight(); n > 0 {
		// A hook used storage: its callback could not survive the reload.
		return nil, fmt.Errorf("%w: %d operations started by OnFreeze hooks (hooks must not use storage)", ErrStorageBusy, n)
	}
	now := w.now()
	f := &Frozen{Version: FreezeVersion, GameID: uint16(w.gameID), FrozenAt: now.UnixNano()}
	f.Entities = make([]FrozenEntity, 0, len(ids))
	for _, id := range ids {
		e := w.entities[rpc.EntityID(id)]
		if e == nil {
			continue // destroyed by a hook's call
		}
		f.Entities = append(f.Entities, e.frozen(now))
	}
	return f, nil
}

// frozen captures e (its attributes are the live tree, not a copy).
func (e *Entity) frozen(now time.Time) FrozenEntity {
	fe := FrozenEntity{Type: e.typ.name, ID: string(e.id), Attrs: e.Attrs, NextTimer: uint64(e.nextTimer), Dirty: e.dirty,
		Epoch: e.epoch, Pos: [3]float32{e.pos.X, e.pos.Y, e.pos.Z}, Yaw: e.yaw, ViewLimit: e.viewLimit}
	if e.client != nil {
		fe.Client = &FrozenClient{Gate: uint16(e.client.Gate), ID: uint64(e.client.ID), Addr: e.clientAddr}
	}
	if sp := e.space; sp != nil {
		fe.Space = string(sp.id)
		for _, a := range sp.sp.s.Pending(e.aoiID) {
			if t := sp.sp.members.get(a); t != nil {
				fe.Unshown = append(fe.Unshown, string(t.id))
			}
		}
		fe.OwnPosDue = sp.sp.s.OwnPositionDue(e.aoiID)
	}
	tids := make([]TimerID, 0, len(e.timers))
	for tid := range e.timers {
		tids = append(tids, tid)
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	for _, tid := range tids {
		t := e.timers[tid]
		fe.Timers = append(fe.Timers, FrozenTimer{
			ID: uint64(t.id), Method: t.method, Args: t.args,
			Remaining: int64(max(t.fireAt.Sub(now), 0)), Interval: int64(t.interval),
		})
	}
	return fe
}

func (w *World) freezeHook(e *Entity, h Freezer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.panics.Record(w.log, "in OnFreeze", p, debug.Stack(), logrus.Fields{"entity": e.String()})
			err = fmt.Errorf("%w: %s: %v", ErrFreezeHook, e, p)
		}
	}()
	h.OnFreeze()
	return nil
}

// RestoreReport says what Restore did.
type RestoreReport struct {
	Restored int
	// Skipped lists entities whose type no longer exists, as "Type<ID>".
	Skipped []string
	// DroppedTimers lists timers whose method no longer exists or whose
	// arguments no longer fit, as "Type<ID>.Method".
	DroppedTimers []string
	// Hooks is how many OnRestore hooks ran, and HookPanics how many of
	// them panicked (recovered and logged; the entity stays as restored).
	Hooks, HookPanics int
}

// Restore rebuilds the entities of f into this (empty) world: attributes
// (declared ones; new ones get their defaults), client bindings (the
// clients still have their views, so nothing is sent to them) and timers,
// which fire after the time they had left. Then every entity's OnRestore
// runs. Entities of types that no longer exist are skipped and reported,
// not fatal. The attribute trees of a decoded f move into the entities
// (no copy): f's Attrs are empty afterwards.
func (en *Engine) Restore(f *Frozen) (RestoreReport, error) {
	w := en.w
	var rep RestoreReport
	if !versionOK(f.Version) {
		return rep, fmt.Errorf("%w: version %d, this build reads 1 to %d", ErrFreezeFile, f.Version, FreezeVersion)
	}
	if len(w.entities) > 0 {
		return rep, errors.New("entity: Restore into a world that has entities")
	}
	now := w.now()
	var restored []*Entity
	// Timers of many entities share their method and arguments: check each
	// combination against the (possibly changed) method once.
	argsOK := map[string]bool{}
	for i := range f.Entities {
		fe := &f.Entities[i]
		e, err := w.rebuild(fe, now, argsOK, &rep)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fe.Type+"<"+fe.ID+">")
			if !errors.Is(err, errUnknownType) {
				w.log.WithError(err).Errorf("restore: %s<%s> skipped", fe.Type, fe.ID)
			}
			continue
		}
		restored = append(restored, e)
	}
	w.restoreSpaces(f, restored)
	for _, e := range restored {
		if h, ok := e.self.Interface().(Restorer); ok {
			rep.Hooks++
			if !w.safely(e, "OnRestore", h.OnRestore) {
				rep.HookPanics++
			}
		}
	}
	w.flushLocal()
	rep.Restored = len(restored)
	if len(rep.Skipped) > 0 {
		w.log.Warnf("restore: %d entities of types that no longer exist were skipped: %v", len(rep.Skipped), rep.Skipped)
	}
	if len(rep.DroppedTimers) > 0 {
		w.log.Warnf("restore: %d timers whose method is gone or changed were dropped: %v", len(rep.DroppedTimers), rep.DroppedTimers)
	}
	if rep.HookPanics > 0 {
		w.log.Errorf("restore: OnRestore panicked for %d of %d entities (the first panics are logged above): this build's OnRestore is broken; the entities serve on as restored", rep.HookPanics, rep.Hooks)
	}
	return rep, nil
}

// EncodeFrozen encodes f as a freeze file: the magic "GWFREEZE", the
// version (uint32 LE), the payload length (uint64 LE), the msgpack
// payload, and the payload's SHA-256.
func EncodeFrozen(f *Frozen) ([]byte, error) {
	payload, err := msgpack.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("entity: encoding freeze: %w", err)
	}
	b := make([]byte, 0, freezeHeaderSize+len(payload)+sha256.Size)
	b = append(b, freezeMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.Version))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = append(b, payload...)
	sum := sha256.Sum256(payload)
	return append(b, sum[:]...), nil
}

// DecodeFrozen decodes a freeze file, refusing (with an error wrapping
// ErrFreezeFile) a wrong magic or version, a truncated file, a checksum
// mismatch, or a payload whose version is not the header's.
func DecodeFrozen(data []byte) (*Frozen, error) {
	if len(data) < freezeHeaderSize+sha256.Size || !bytes.Equal(data[:8], freezeMagic[:]) {
		return nil, fmt.Errorf("%w: not a freeze file (or truncated to %d bytes)", ErrFreezeFile, len(data))
	}
	if v := binary.LittleEndian.Uint32(data[8:12]); v < 1 || v > FreezeVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads 1 to %d", ErrFreezeFile, v, FreezeVersion)
	}
	n := binary.LittleEndian.Uint64(data[12:20])
	if n != uint64(len(data)-freezeHeaderSize-sha256.Size) {
		return nil, fmt.Errorf("%w: payload of %d bytes declared, %d present (truncated?)", ErrFreezeFile, n, len(data)-freezeHeaderSize-sha256.Size)
	}
	payload := data[freezeHeaderSize : freezeHeaderSize+int(n)]
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], data[freezeHeaderSize+int(n):]) {
		return nil, fmt.Errorf("%w: checksum mismatch (corrupt)", ErrFreezeFile)
	}
	var f Frozen
	if err := unmarshal(payload, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFreezeFile, err)
	}
	if v := binary.LittleEndian.Uint32(data[8:12]); f.Version != int(v) {
		return nil, fmt.Errorf("%w: header says version %d, payload %d", ErrFreezeFile, v, f.Version)
	}
	return &f, nil
}

// unmarshal decodes data into v with a decoder of its own.
// msgpack.Unmarshal borrows a pooled decoder whose read buffer keeps the
// size it grew to: a string (a field name, say) declaring more bytes
// than follow grows it by 1 MiB or more, and it goes back to the pool,
// so a stream of such inputs grew one buffer without bound (gigabytes
// after a few thousand migrations: FuzzWorldFrames, 5378bc682a530b0c).
// A decoder of its own is garbage once done.
func unmarshal(data []byte, v any) error {
	return msgpack.NewDecoder(bytes.NewReader(data)).Decode(v)
}

var errUnknownType = errors.New("entity: unknown type or invalid ID")

// rebuild makes a live entity of fe, without hooks and without telling
// anyone: attributes, client binding, timers (those whose method still
// fits). It does not enter its space.
func (w *World) rebuild(fe *FrozenEntity, now time.Time, argsOK map[string]bool, rep *RestoreReport) (*Entity, error) {
	t := w.reg.types[fe.Type]
	id := rpc.EntityID(fe.ID)
	if t == nil || !id.Valid() {
		return nil, errUnknownType
	}
	if fe.Epoch > storage.MaxEpoch {
		return nil, fmt.Errorf("entity: %s<%s>: epoch %d out of range", clip.Name(fe.Type), id, fe.Epoch)
	}
	e, err := w.newEntityFromTree(t, id, fe.Attrs)
	if err != nil {
		return nil, err
	}
	e.dirty = fe.Dirty
	e.epoch = fe.Epoch
	e.nextTimer = TimerID(fe.NextTimer)
	e.pos, e.yaw = Vector3{X: fe.Pos[0], Y: fe.Pos[1], Z: fe.Pos[2]}, fe.Yaw
	e.viewLimit = max(fe.ViewLimit, NoViewLimit)
	if !e.pos.Finite() {
		e.pos = Vector3{}
	}
	if fe.Client != nil {
		e.client = &ClientRef{Gate: rpc.GateID(fe.Client.Gate), ID: rpc.ClientID(fe.Client.ID)}
		e.clientAddr = fe.Client.Addr
	}
	for _, ft := range fe.Timers {
		m, ok := t.methods[ft.Method]
		if ft.Method == methodReqTimeout {
			// A pending request (request.go): its callback is checked
			// when the answer or the timeout comes.
			_, _, _, ok = decodeTimeoutArgs(ft.Args)
		} else if ok {
			key := fe.Type + "\x00" + ft.Method + "\x00" + string(ft.Args)
			var seen bool
			if ok, seen = argsOK[key]; !seen {
				_, err := rpc.DecodeArgs(ft.Args, m.params)
				ok = err == nil
				argsOK[key] = ok
			}
		}
		if !ok {
			rep.DroppedTimers = append(rep.DroppedTimers, e.String()+"."+ft.Method)
			continue
		}
		tm := &timer{id: TimerID(ft.ID), method: ft.Method, args: ft.Args,
			fireAt: now.Add(time.Duration(max(ft.Remaining, 0))), interval: time.Duration(max(ft.Interval, 0))}
		if e.timers == nil {
			e.timers = map[TimerID]*timer{}
		}
		e.timers[tm.id] = tm
		w.schedule(e, tm)
	}
	return e, nil
}

// restoreSpaces puts the restored entities back into their spaces without
// telling anyone: the clients still hold their views. Entities whose
// space is gone (its type no longer exists) are left in no space.
func (w *World) restoreSpaces(f *Frozen, restored []*Entity) {
	byID := map[rpc.EntityID]*FrozenEntity{}
	for i := range f.Entities {
		byID[rpc.EntityID(f.Entities[i].ID)] = &f.Entities[i]
	}
	// Per space, reserve every member's ID first, so that the lists of
	// entities a client had not been shown can name members restored later.
	bySpace := map[*Entity][]*Entity{}
	var order []*Entity
	for _, e := range restored {
		fe := byID[e.id]
		if fe == nil || fe.Space == "" {
			continue
		}
		sp := w.entities[rpc.EntityID(fe.Space)]
		if sp == nil || sp.sp == nil || e.sp != nil {
			w.log.Warnf("restore: %s was in space %s, which is gone; it is in no space now", e, fe.Space)
			continue
		}
		if bySpace[sp] == nil {
			order = append(order, sp)
		}
		bySpace[sp] = append(bySpace[sp], e)
	}
	for _, sp := range order {
		members := bySpace[sp]
		ids := sp.sp.s.Reserve(len(members))
		for i, e := range members {
			e.space, e.aoiID = sp, ids[i]
			sp.sp.members.set(e.aoiID, e)
		}
		for _, e := range members {
			fe := byID[e.id]
			var unshown []aoi.ID
			for _, u := range fe.Unshown {
				if t := w.entities[rpc.EntityID(u)]; t != nil && t.space == sp {
					unshown = append(unshown, t.aoiID)
				}
			}
			id, err := sp.sp.s.Restore(float64(e.pos.X), float64(e.pos.Z), e.typ.aoiRadius, e.client != nil, unshown)
			if err != nil || id != e.aoiID {
				// Positions were finite when frozen; this is a bug.
				panic(fmt.Sprintf("entity: restoring %s into %s: id %d, want %d: %v", e, sp, id, e.aoiID, err))
			}
			if fe.OwnPosDue {
				sp.sp.s.Touch(id, false)
			}
			if e.viewLimit != 0 {
				_ = sp.sp.s.SetViewLimit(id, e.viewLimit) // a member since Restore
			}
		}
		sp.sp.s.FinishRestore()
	}
}
