package entity

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// Loader asks for loads and records their answers.
type Loader struct{ Entity }

// OnLoaded is a load callback.
func (l *Loader) OnLoaded(id rpc.EntityID, err error) {
	record(&l.Entity, "OnLoaded(%s,%v)", id, err)
	loaderErrs = append(loaderErrs, err)
}

// OnLoadedBoom is a load callback that panics.
func (l *Loader) OnLoadedBoom(id rpc.EntityID, err error) { panic("boom in load callback") }

// NotACallback has the wrong signature.
func (l *Loader) NotACallback(id rpc.EntityID, err string) {}

// exposedCallback exposes its load callback to clients: refused.
type exposedCallback struct{ Entity }

func (x *exposedCallback) DescribeEntityType(d *TypeDesc)      { d.ExposeToClient("OnLoaded") }
func (x *exposedCallback) OnLoaded(id rpc.EntityID, err error) {}

// loaderErrs holds the errors Loader.OnLoaded got, in order (tests of this
// file run on one goroutine at a time).
var loaderErrs []error

func takeLoaderErrs() []error {
	e := loaderErrs
	loaderErrs = nil
	return e
}

func newLoaderEnv(t *testing.T, opts ...envOpt) (*env, *Entity) {
	t.Helper()
	e := newEnv(t, opts...)
	mustRegister(t, e.reg, "Loader", &Loader{})
	l := e.create("Loader", nil)
	e.out.take()
	takeLoaderErrs()
	return e, l
}

// loadFrom asks l to load Avatar id with callback cb and returns the
// request it sent, checking its layout.
func loadFrom(t *testing.T, e *env, l *Entity, id rpc.EntityID, cb string) []byte {
	t.Helper()
	var err error
	e.eng.Run(func() { err = l.LoadEntitySomewhere("Avatar", id, cb) })
	if err != nil {
		t.Fatalf("LoadEntitySomewhere: %v", err)
	}
	f := e.out.take()
	if len(f) != 1 || f[0].typ != rpc.MsgLoadEntitySomewhere || f[0].disp != id.Shard(e.out.n) {
		t.Fatalf("frames %v", f)
	}
	r := rpc.NewReader(f[0].body)
	if got, typ, caller, callback := r.EntityID(), r.String(), r.EntityID(), r.String(); r.Err() != nil || r.Remaining() != 0 ||
		got != id || typ != "Avatar" || caller != l.ID() || callback != cb {
		t.Fatalf("request %x: %v %q %q %q %v", f[0].body, got, typ, caller, callback, r.Err())
	}
	return f[0].body
}

// TestLoadCallbackSuccess: the load's answer reaches the caller's method
// once the entity is live, after the calls that waited for it; the
// loaded entity is registered with the dispatcher; an answer to a caller
// on the same game stays on the game.
func TestLoadCallbackSuccess(t *testing.T) {
	e, l := newLoaderEnv(t, withDispatchers(2))
	id := rpc.NewEntityID()
	storeAvatar(t, e.store, id, map[string]any{"name": "hero"})

	req := loadFrom(t, e, l, id, "OnLoaded")
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, req) // the dispatcher placed it here
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "waited"))
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("before the load completed: %v", ev)
	}
	e.store.flush(e.eng)
	deepEqual(t, "events", e.events(), []string{
		string(id) + " OnCreated", string(id) + " Note(waited)", string(l.ID()) + " OnLoaded(" + string(id) + ",<nil>)",
	})
	if errs := takeLoaderErrs(); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("callback errors %v", errs)
	}
	f := e.out.take()
	if len(f) != 1 || f[0].typ != rpc.MsgRegisterEntity || f[0].disp != id.Shard(2) {
		t.Fatalf("frames after the load: %v (want only the registration; the answer is local)", f)
	}
	if rid, epoch := decodeRegisterBody(t, f[0].body); rid != id || epoch != 1 {
		t.Fatalf("registered %s with epoch %d; want %s with the load's epoch 1", rid, epoch, id)
	}

	// Live already: answered at once, not loaded again.
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadFrom(t, e, l, id, "OnLoaded"))
	deepEqual(t, "live", e.eventsOf(l.ID()), []string{"OnLoaded(" + string(id) + ",<nil>)"})
	if len(e.store.loads) != 1 {
		t.Fatalf("loads %v", e.store.loads)
	}
}

// TestLoadCallbackFailures: every way a load fails reaches the caller's
// method as a *LoadError that wraps the right error, names the entity
// and carries the loading game's reason; the dispatcher is told to
// forget the entity.
func TestLoadCallbackFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		typ     string
		setup   func(e *env, id rpc.EntityID)
		opts    []envOpt
		code    LoadCode
		is      error
		message string
	}{
		{"not found", "Avatar", func(*env, rpc.EntityID) {}, nil, LoadNotFound, storage.ErrNotFound, "not found"},
		{"storage error", "Avatar", func(e *env, _ rpc.EntityID) { e.store.loadErr = errors.New("disk on fire") }, nil,
			LoadStorageFailed, ErrStorageFailed, "disk on fire"},
		{"garbage", "Avatar", func(e *env, id rpc.EntityID) { e.store.entities[storeKey("Avatar", string(id))] = []byte{0xc1} }, nil,
			LoadDamaged, ErrEntityDamaged, "damaged"},
		{"not a map", "Avatar", func(e *env, id rpc.EntityID) { e.store.entities[storeKey("Avatar", string(id))] = []byte{0x91, 0x01} }, nil,
			LoadDamaged, ErrEntityDamaged, "not a map"},
		{"bad attributes", "Avatar", func(e *env, id rpc.EntityID) {
			e.store.entities[storeKey("Avatar", string(id))] = []byte{0x81, 0xa4, 'n', 'a', 'm', 'e', 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0}
		}, nil, LoadDamaged, ErrEntityDamaged, "bad attributes"},
		{"unknown type here", "Nope", func(*env, rpc.EntityID) {}, nil, LoadNotLoadable, ErrNotLoadable, `knows no persistent type "Nope"`},
		{"no storage here", "Avatar", func(*env, rpc.EntityID) {}, []envOpt{withoutStore()}, LoadNotLoadable, ErrNotLoadable, "has no storage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, l := newLoaderEnv(t, append([]envOpt{withDispatchers(2)}, c.opts...)...)
			id := rpc.NewEntityID()
			c.setup(e, id)
			req := loadFrom(t, e, l, id, "OnLoaded")
			if c.typ != "Avatar" { // as another game's build could send
				r := rpc.NewReader(req)
				r.EntityID()
				_ = r.String()
				req = append(loadBody(id, c.typ), r.Rest()...)
			}
			e.eng.Handle(rpc.MsgLoadEntitySomewhere, req)
			e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "waited"))
			e.store.flush(e.eng)
			if e.w.Entity(id) != nil {
				t.Fatal("entity exists")
			}
			errs := takeLoaderErrs()
			if len(errs) != 1 {
				t.Fatalf("callback ran %d times: %v", len(errs), errs)
			}
			var le *LoadError
			if !errors.As(errs[0], &le) || le.Code != c.code || le.ID != id || le.Type != c.typ {
				t.Fatalf("callback got %#v", errs[0])
			}
			if !errors.Is(errs[0], c.is) {
				t.Errorf("%v does not wrap %v", errs[0], c.is)
			}
			if msg := errs[0].Error(); !strings.Contains(msg, c.message) || !strings.Contains(msg, string(id)) {
				t.Errorf("error %q does not say %q and name the entity", msg, c.message)
			}
			deepEqual(t, "events", e.events(), []string{string(l.ID()) + " OnLoaded(" + string(id) + "," + errs[0].Error() + ")"})
			if f := e.out.ofType(rpc.MsgUnregisterEntity); len(f) != 1 || decodeEntityIDBody(t, f[0].body) != id {
				t.Fatalf("unregister frames %v", f)
			}
		})
	}
}

// TestLoadCallbackRemote: a caller on another game gets its answer as a
// MsgLoadEntityResult routed by its ID; that game runs the callback. Two
// callers that join a load in flight (started without a caller) both get
// it, and a caller that is gone by then is skipped with a log line.
func TestLoadCallbackRemote(t *testing.T) {
	loading := newEnv(t, withDispatchers(2))
	callers, l := newLoaderEnv(t, withDispatchers(2))
	mustRegister(t, callers.reg, "Gone", &Loader{})
	gone := callers.create("Gone", nil)
	callers.out.take()
	id := rpc.NewEntityID()
	storeAvatar(t, loading.store, id, map[string]any{"name": "far"})

	loading.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar")) // no caller: starts the load
	loading.eng.Handle(rpc.MsgLoadEntitySomewhere, loadFrom(t, callers, l, id, "OnLoaded"))
	var req2 []byte
	callers.eng.Run(func() {
		if err := gone.LoadEntitySomewhere("Avatar", id, "OnLoaded"); err != nil {
			t.Fatal(err)
		}
	})
	req2 = callers.out.take()[0].body
	loading.eng.Handle(rpc.MsgLoadEntitySomewhere, req2) // joins the load in flight
	loading.store.flush(loading.eng)
	if len(loading.store.loads) != 1 {
		t.Fatalf("loads %v", loading.store.loads)
	}
	answers := loading.out.ofType(rpc.MsgLoadEntityResult)
	if len(answers) != 2 {
		t.Fatalf("answers %v", loading.out.take())
	}
	for i, caller := range []*Entity{l, gone} {
		a := answers[i]
		r := rpc.NewReader(a.body)
		if got := r.EntityID(); got != caller.ID() || a.disp != caller.ID().Shard(2) {
			t.Fatalf("answer %d to %s via dispatcher %d, want %s", i, got, a.disp, caller.ID())
		}
		res, err := decodeLoadResult(r.Rest())
		if err != nil || res != (loadResult{id: id, typeName: "Avatar", callback: "OnLoaded"}) {
			t.Fatalf("answer %d: %+v %v", i, res, err)
		}
	}
	callers.eng.Run(gone.Destroy)
	callers.events()
	for _, a := range answers {
		callers.eng.Handle(rpc.MsgLoadEntityResult, a.body)
	}
	deepEqual(t, "caller events", callers.events(), []string{string(l.ID()) + " OnLoaded(" + string(id) + ",<nil>)"})
	if !callers.logged(logrus.WarnLevel, "call @loaded on unknown entity") {
		t.Error("answer to a gone caller not logged")
	}
}

// TestLoadCallbackSurvivesHotReload: the callback is a name, so an answer
// that arrives after the caller's game was frozen and restored (a hot
// reload) runs on the restored caller; one whose method the new build
// lacks is dropped with a warning.
func TestLoadCallbackSurvivesHotReload(t *testing.T) {
	old, l := newLoaderEnv(t)
	id := rpc.NewEntityID()
	loadFrom(t, old, l, id, "OnLoaded") // out to some other game
	f, err := old.eng.Freeze()
	if err != nil {
		t.Fatal(err)
	}

	restored := newEnv(t)
	mustRegister(t, restored.reg, "Loader", &Loader{})
	if _, err := restored.eng.Restore(f); err != nil {
		t.Fatal(err)
	}
	answer := rpc.AppendEntityID(rpc.AppendEntityID(nil, l.ID()), id)
	answer = rpc.AppendString(rpc.AppendString(answer, "Avatar"), "OnLoaded")
	answer = rpc.AppendString(rpc.AppendUint8(answer, uint8(LoadNotFound)), "gone")
	restored.eng.Handle(rpc.MsgLoadEntityResult, answer)
	want := fmt.Sprintf("OnLoaded(%s,load Avatar<%s>: storage: not found: gone)", id, id)
	deepEqual(t, "events", restored.eventsOf(l.ID()), []string{want})

	// A new build without the method: dropped, said.
	noCallback := rpc.AppendEntityID(rpc.AppendEntityID(nil, l.ID()), id)
	noCallback = rpc.AppendString(rpc.AppendString(noCallback, "Avatar"), "OnRemoved")
	noCallback = rpc.AppendString(rpc.AppendUint8(noCallback, 0), "")
	restored.eng.Handle(rpc.MsgLoadEntityResult, noCallback)
	if ev := restored.events(); len(ev) != 0 || !restored.logged(logrus.WarnLevel, "has no method OnRemoved") {
		t.Fatalf("events %v", ev)
	}
}

// TestLoadCallbackRefused: what LoadEntitySomewhere refuses at once, and
// what it cannot be made to do.
func TestLoadCallbackRefused(t *testing.T) {
	e, l := newLoaderEnv(t)
	id := rpc.NewEntityID()
	for _, c := range []struct {
		typ, cb string
		id      rpc.EntityID
		want    string
	}{
		{"Avatar", "Nope", id, "has no method Nope(id EntityID, err error)"},
		{"Avatar", "NotACallback", id, "has no method NotACallback"},
		{"Avatar", "OnCreated", id, "has no method OnCreated"},
		{"Account", "OnLoaded", id, "not persistent"},
		{"Nope", "OnLoaded", id, "unknown type"},
		{"Avatar", "OnLoaded", "short", "invalid entity ID"},
	} {
		var err error
		e.eng.Run(func() { err = l.LoadEntitySomewhere(c.typ, c.id, c.cb) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadEntitySomewhere(%s, %s, %s): %v, want %q", c.typ, c.id, c.cb, err, c.want)
		}
	}
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("sent %v", f)
	}

	// A callback that panics is recovered and logged, like any call.
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadFrom(t, e, l, id, "OnLoadedBoom"))
	e.store.flush(e.eng)
	if !e.logged(logrus.ErrorLevel, "panic in load callback OnLoadedBoom") {
		t.Error("panic not logged")
	}

	// Nobody can call the internal method or the callback: a client call
	// is refused (and the client kicked), a server call is not one of
	// the type's methods.
	e.bind(l, 1, 5)
	e.out.take()
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, l.ID(), 1, 5, methodLoadResult))
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, l.ID(), 1, 5, "OnLoaded", string(id), nil))
	if k := e.out.ofType(rpc.MsgKickClient); len(k) != 2 {
		t.Fatalf("kicks %v", e.out.take())
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, l.ID(), "OnLoaded", string(id), nil))
	if ev := e.eventsOf(l.ID()); len(ev) != 0 || !e.logged(logrus.WarnLevel, `has no method "OnLoaded"`) {
		t.Fatalf("ran %v", ev)
	}
	// Nor can a type expose one to clients.
	if err := NewRegistry().Register("Exposed", &exposedCallback{}); err == nil || !strings.Contains(err.Error(), "load callback") {
		t.Errorf("Register of a type exposing a load callback: %v", err)
	}

	// Malformed answers are dropped with a log line.
	for _, bad := range [][]byte{
		rpc.AppendEntityID(nil, l.ID()),
		append(rpc.AppendEntityID(rpc.AppendEntityID(nil, l.ID()), id), 1, 2, 3),
		rpc.AppendString(rpc.AppendString(rpc.AppendEntityID(rpc.AppendEntityID(nil, l.ID()), id), "Avatar"), "OnLoaded"),
	} {
		e.logs.Reset()
		e.eng.Handle(rpc.MsgLoadEntityResult, bad)
		if !e.logged(logrus.ErrorLevel, "dropped LoadEntityResult frame") {
			t.Errorf("%x: not logged", bad)
		}
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("ran %v", ev)
	}
}

// FuzzDecodeLoadResult: the answer's decoder takes any bytes without
// panicking, and what it accepts encodes back to the same bytes.
func FuzzDecodeLoadResult(f *testing.F) {
	for _, res := range []loadResult{
		{id: "AvatarAvatarAvat", typeName: "Avatar", callback: "OnLoaded"},
		{id: "AvatarAvatarAvat", typeName: "Avatar", callback: "OnLoaded", code: LoadDamaged, reason: "saved data is []interface {}, not a map"},
		{id: "AvatarAvatarAvat", typeName: "", callback: "", code: 200, reason: strings.Repeat("x", maxLoadReason)},
	} {
		f.Add(appendLoadResult(nil, res))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := decodeLoadResult(b)
		if err != nil {
			return
		}
		if got := appendLoadResult(nil, res); string(got) != string(b) {
			t.Fatalf("decoded %+v from %x, which encodes as %x", res, b, got)
		}
		if le := (&LoadError{Type: res.typeName, ID: res.id, Code: res.code, Reason: res.reason}); le.Error() == "" || le.Unwrap() == nil {
			t.Fatalf("LoadError %+v", le)
		}
	})
}

// TestDestroyUnregistersAfterTheFinalSave: a destroyed persistent entity
// stays registered with the dispatcher until its final save has
// completed, so that a load of it meanwhile comes to this game and runs
// after the save; if such a load makes it live again, it is not
// unregistered at all. An entity that is not persistent goes at once.
func TestDestroyUnregistersAfterTheFinalSave(t *testing.T) {
	e := newEnv(t)
	unregistered := func() int { return len(e.out.ofType(rpc.MsgUnregisterEntity)) }
	av := e.create("Avatar", map[string]any{"name": "n"})
	id := av.ID()
	e.store.flush(e.eng) // the first save
	e.eng.Run(func() { av.Attrs.Set("name", "m"); av.Destroy() })
	if n := unregistered(); n != 0 {
		t.Fatalf("%d unregisters while the final save is in flight", n)
	}
	e.store.flush(e.eng)
	if f := e.out.ofType(rpc.MsgUnregisterEntity); len(f) != 1 || decodeEntityIDBody(t, f[0].body) != id {
		t.Fatalf("after the final save: unregisters %v, want one of %s", f, id)
	}

	// Destroyed again, and loaded here before the final save completed:
	// the load reads the final save's data and the entity stays.
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.store.flush(e.eng)
	av = e.w.Entity(id)
	if av == nil || av.Attrs.GetString("name") != "m" {
		t.Fatalf("loaded %v", av)
	}
	e.out.take()
	e.eng.Run(func() { av.Attrs.Set("name", "o"); av.Destroy() })
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.store.flush(e.eng)
	if av = e.w.Entity(id); av == nil || av.Attrs.GetString("name") != "o" {
		t.Fatalf("loaded after the final save: %v", av)
	}
	if n := unregistered(); n != 0 {
		t.Fatalf("%d unregisters of an entity loaded again", n)
	}
	if len(e.out.ofType(rpc.MsgRegisterEntity)) != 1 {
		t.Fatalf("frames %v: want the load to register it", e.out.frames)
	}

	// Not persistent: unregistered at once.
	acc := e.create("Account", nil)
	e.out.take()
	e.eng.Run(acc.Destroy)
	if f := e.out.ofType(rpc.MsgUnregisterEntity); len(f) != 1 {
		t.Fatalf("a non-persistent entity's destroy: unregisters %v", f)
	}
}
