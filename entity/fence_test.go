package entity

import (
	"slices"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// claimElsewhere plays another game loading the entity: it takes a new
// epoch in the store and stores what that copy saved.
func claimElsewhere(t *testing.T, s *memStore, typ string, id rpc.EntityID, data map[string]any) uint64 {
	t.Helper()
	k := storeKey(typ, string(id))
	s.epochs[k]++
	b, err := msgpack.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	s.entities[k] = b
	return s.epochs[k]
}

func storedName(t *testing.T, s *memStore, typ string, id rpc.EntityID) any {
	t.Helper()
	var m map[string]any
	if err := msgpack.Unmarshal(s.entities[storeKey(typ, string(id))], &m); err != nil {
		t.Fatal(err)
	}
	return m["name"]
}

// expectRetired checks the frames a retired copy of entity id sends:
// its client (ref) kicked with FencedLoggedElsewhere, and the
// dispatcher told it is gone.
func expectRetired(t *testing.T, frames []frame, id rpc.EntityID, ref ClientRef) {
	t.Helper()
	ks := kicks(t, frames)
	if len(ks) != 1 || ks[0].gate != ref.Gate || ks[0].client != ref.ID || ks[0].reason != FencedLoggedElsewhere {
		t.Fatalf("kicks %+v; want client %d/%d told %q", ks, ref.Gate, ref.ID, FencedLoggedElsewhere)
	}
	unreg := false
	for _, f := range frames {
		unreg = unreg || f.typ == rpc.MsgUnregisterEntity && decodeEntityIDBody(t, f.body) == id
	}
	if !unreg {
		t.Fatal("the dispatcher was not told the retired copy is gone")
	}
}

// TestFencedSaveRetiresCopy: a loaded copy whose save is refused because
// a newer copy was claimed is destroyed without a save and without
// OnDestroy, its client is kicked with the reason, it is logged and
// counted once; the other entities of the batch are saved.
func TestFencedSaveRetiresCopy(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	id := rpc.NewEntityID()
	storeAvatar(t, e.store, id, map[string]any{"name": "first"})
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
	e.store.flush(e.eng)
	av := e.w.Entity(id)
	if av == nil || av.epoch != 1 {
		t.Fatalf("loaded %v; want it live with epoch 1", av)
	}
	other := e.create("Avatar", map[string]any{"name": "other"})
	e.store.flush(e.eng)
	e.bind(av, 1, 7)
	e.out.take()
	e.events()

	claimElsewhere(t, e.store, "Avatar", id, map[string]any{"name": "elsewhere"})
	e.eng.Run(func() {
		av.Attrs.Set("name", "stale")
		other.Attrs.Set("name", "other v2")
	})
	var doneErr error = errSentinel
	var n int
	e.eng.Run(func() { n = e.eng.SaveDirty(func(err error) { doneErr = err }) })
	if n != 2 {
		t.Fatalf("SaveDirty saved %d entities; want 2", n)
	}
	saves := len(e.store.saves)
	e.store.flush(e.eng)

	if doneErr != nil {
		t.Fatalf("SaveDirty's done got %v; want nil (the fenced copy is retired, the rest stored)", doneErr)
	}
	if e.w.Entity(id) != nil || !av.IsDestroyed() {
		t.Fatal("the fenced copy is still live")
	}
	if len(e.store.saves) != saves {
		t.Fatalf("the retired copy was saved again: %v", e.store.saves[saves:])
	}
	if got := storedName(t, e.store, "Avatar", id); got != "elsewhere" {
		t.Fatalf("stored name %v; the newer copy's %q was overwritten", got, "elsewhere")
	}
	if got := storedName(t, e.store, "Avatar", other.ID()); got != "other v2" || other.dirty || other.IsDestroyed() {
		t.Fatalf("the batch's good record: stored %v, dirty %v, destroyed %v", got, other.dirty, other.IsDestroyed())
	}
	if ev := e.eventsOf(id); slices.Contains(ev, "OnDestroy") {
		t.Fatalf("OnDestroy ran on the retired copy: %v", ev)
	}
	expectRetired(t, e.out.take(), id, ClientRef{Gate: 1, ID: 7})
	if e.eng.FencedCopies() != 1 {
		t.Fatalf("FencedCopies = %d; want 1", e.eng.FencedCopies())
	}
	lines := 0
	for _, en := range e.logs.AllEntries() {
		if en.Level <= logrus.ErrorLevel && strings.Contains(en.Message, "loaded elsewhere") {
			lines++
		}
	}
	if lines != 1 {
		t.Fatalf("%d error lines about the retired copy; want 1", lines)
	}
	// Nothing more is saved for it.
	e.eng.Run(func() { e.eng.SaveDirty(nil) })
	e.store.flush(e.eng)
	if got := storedName(t, e.store, "Avatar", id); got != "elsewhere" {
		t.Fatalf("stored name %v after another save round", got)
	}
}

// errSentinel marks a done callback that was not called.
var errSentinel = errString("not called")

type errString string

func (e errString) Error() string { return string(e) }

// TestCreatedEntityClaimsAtFirstSave: a created persistent entity's first
// save claims an epoch (Epoch 0), so does a save made before it returns
// (the copy takes the newest), later saves carry it, and a claim
// elsewhere fences them.
func TestCreatedEntityClaimsAtFirstSave(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", map[string]any{"name": "new"})
	if len(e.store.saves) != 1 || e.store.saves[0][0].Epoch != 0 || av.claims != 1 {
		t.Fatalf("first save %+v, claims %d", e.store.saves, av.claims)
	}
	// While the claim is in flight, a save round claims again (a final
	// save at shutdown must not wait for a reply that may never run).
	e.eng.Run(func() { av.Attrs.Set("name", "changed") })
	var n int
	e.eng.Run(func() { n = e.eng.SaveDirty(nil) })
	if n != 1 || av.claims != 2 || e.store.saves[1][0].Epoch != 0 {
		t.Fatalf("SaveDirty during the claim saved %d (claims in flight %d)", n, av.claims)
	}
	e.store.flush(e.eng)
	if av.epoch != 2 || av.claims != 0 {
		t.Fatalf("after the claims: epoch %d, claims in flight %d; want 2, 0", av.epoch, av.claims)
	}
	e.eng.Run(func() { av.Attrs.Set("name", "again") })
	e.eng.Run(func() { n = e.eng.SaveDirty(nil) })
	e.store.flush(e.eng)
	if last := e.store.saves[len(e.store.saves)-1]; n != 1 || last[0].Epoch != 2 {
		t.Fatalf("third save: %d records, epoch %d; want 1 record with epoch 2", n, last[0].Epoch)
	}
	if got := storedName(t, e.store, "Avatar", av.ID()); got != "again" {
		t.Fatalf("stored %v", got)
	}
	// Loaded again elsewhere: this copy is retired at its next save.
	claimElsewhere(t, e.store, "Avatar", av.ID(), map[string]any{"name": "there"})
	e.eng.Run(func() { av.Attrs.Set("name", "here") })
	e.eng.Run(func() { e.eng.SaveDirty(nil) })
	e.store.flush(e.eng)
	if !av.IsDestroyed() || e.eng.FencedCopies() != 1 || storedName(t, e.store, "Avatar", av.ID()) != "there" {
		t.Fatalf("destroyed %v, fenced %d, stored %v", av.IsDestroyed(), e.eng.FencedCopies(), storedName(t, e.store, "Avatar", av.ID()))
	}
}

// TestFencedFinalSave: an entity destroyed (its final save in flight)
// whose final save is fenced leaves the newer copy's state alone.
func TestFencedFinalSave(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", map[string]any{"name": "a"})
	e.store.flush(e.eng)
	claimElsewhere(t, e.store, "Avatar", av.ID(), map[string]any{"name": "b"})
	e.eng.Run(func() { av.Destroy() })
	e.store.flush(e.eng)
	if got := storedName(t, e.store, "Avatar", av.ID()); got != "b" {
		t.Fatalf("stored %v; the final save of the stale copy overwrote the newer one", got)
	}
	if e.eng.FencedCopies() != 0 {
		t.Fatal("an entity already destroyed was counted as retired")
	}
	if !e.logged(logrus.WarnLevel, "newer copy of each was loaded elsewhere") {
		t.Fatal("the refused final save was not logged")
	}
}

// TestEpochTravels: the epoch goes with a freeze (hot reload) and a
// migration, and the copy saves with it there.
func TestEpochTravels(t *testing.T) {
	e := newEnv(t)
	id := rpc.NewEntityID()
	storeAvatar(t, e.store, id, map[string]any{"name": "x"})
	e.store.epochs[storeKey("Avatar", string(id))] = 41
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
	e.store.flush(e.eng)
	f, err := e.eng.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeFrozen(f)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := DecodeFrozen(b)
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnvWith(t, e.reg, newFakeClock())
	e2.store = e.store
	e2.w.store = e.store
	if _, err := e2.eng.Restore(f2); err != nil {
		t.Fatal(err)
	}
	av := e2.w.Entity(id)
	if av == nil || av.epoch != 42 {
		t.Fatalf("restored %+v; want it live with epoch 42", av)
	}
	e2.eng.Run(func() { av.Attrs.Set("name", "restored") })
	e2.eng.Run(func() { e2.eng.SaveDirty(nil) })
	e2.store.flush(e2.eng)
	if last := e.store.saves[len(e.store.saves)-1]; last[0].Epoch != 42 || storedName(t, e.store, "Avatar", id) != "restored" {
		t.Fatalf("restored copy saved with epoch %d (stored %v); want 42", last[0].Epoch, storedName(t, e.store, "Avatar", id))
	}

	// Migration.
	s1 := newSpaceEnv(t)
	s2 := newEnvWith(t, s1.reg, s1.clock)
	var zone *Entity
	s2.eng.Run(func() { zone, _ = s2.w.CreateSpaceLocally("Zone", nil) })
	m := s1.mover("traveller")
	m.epoch = 7
	if m2 := s1.migrateTo(s2, m, zone, 1, 1); m2 == nil || m2.epoch != 7 {
		t.Fatalf("migrated entity arrived as %+v; want epoch 7", m2)
	}

	// An epoch no store accepts (from a damaged freeze file or a broken
	// peer) is refused where the entity is rebuilt.
	bad := FrozenEntity{Type: "Avatar", ID: string(rpc.NewEntityID()), Epoch: storage.MaxEpoch + 1}
	if _, err := e2.w.rebuild(&bad, e2.clock.Now(), map[string]bool{}, &RestoreReport{}); err == nil || e2.w.Entity(rpc.EntityID(bad.ID)) != nil {
		t.Fatalf("rebuilt an entity with epoch %d (err %v)", bad.Epoch, err)
	}
}

// TestRetireEntityMessage: a loaded copy registers with its epoch, and a
// MsgRetireEntity naming a newer epoch retires it as a fenced save does
// (no save, no OnDestroy, client kicked); one naming its own epoch or an
// older one, or an entity that is not persistent, is ignored.
func TestRetireEntityMessage(t *testing.T) {
	e := newEnv(t, withDispatchers(1))
	id := rpc.NewEntityID()
	storeAvatar(t, e.store, id, map[string]any{"name": "first"})
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
	e.store.flush(e.eng)
	av := e.w.Entity(id)
	if av == nil || av.epoch != 1 {
		t.Fatalf("loaded %v; want it live with epoch 1", av)
	}
	var epochs []uint64
	for _, f := range e.out.ofType(rpc.MsgRegisterEntity) {
		if rid, epoch := decodeRegisterBody(t, f.body); rid == id {
			epochs = append(epochs, epoch)
		}
	}
	if !slices.Equal(epochs, []uint64{1}) {
		t.Fatalf("registrations of the loaded copy with epochs %v; want one, with epoch 1", epochs)
	}
	plain := e.create("Plain", nil)
	e.bind(av, 1, 7)
	e.out.take()
	e.events()
	retire := func(id rpc.EntityID, epoch uint64) {
		e.eng.Handle(rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, id), epoch))
	}

	retire(id, 1) // its own epoch: kept
	retire(plain.ID(), 9)
	retire(rpc.NewEntityID(), 9) // unknown: nothing
	if e.w.Entity(id) == nil || e.w.Entity(plain.ID()) == nil {
		t.Fatal("a copy was retired by an epoch that is not newer, or a non-persistent entity was")
	}
	if !e.logged(logrus.WarnLevel, "but this copy's is 1: kept") {
		t.Error("the refused retirement was not logged")
	}
	saves := len(e.store.saves)
	e.eng.Run(func() { av.Attrs.Set("name", "stale") })
	retire(id, 2)
	e.store.flush(e.eng)
	if e.w.Entity(id) != nil || !av.IsDestroyed() {
		t.Fatal("the older copy is still live")
	}
	if len(e.store.saves) != saves {
		t.Fatalf("the retired copy was saved: %v", e.store.saves[saves:])
	}
	if ev := e.eventsOf(id); slices.Contains(ev, "OnDestroy") {
		t.Fatalf("OnDestroy ran on the retired copy: %v", ev)
	}
	ks := kicks(t, e.out.take())
	if len(ks) != 1 || ks[0].gate != 1 || ks[0].client != 7 || ks[0].reason != FencedLoggedElsewhere {
		t.Fatalf("kicks %+v; want client 1/7 told %q", ks, FencedLoggedElsewhere)
	}
	if e.eng.FencedCopies() != 1 {
		t.Fatalf("FencedCopies = %d; want 1", e.eng.FencedCopies())
	}
}
