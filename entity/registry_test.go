package entity

import (
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// Types used only by registration tests.

type regNoEntity struct{ X int }

type regPtrEntity struct{ *Entity }

type regNested struct{ Plain } // Entity two levels down

type regTypo struct{ Entity }

func (r *regTypo) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Mvoe") }
func (r *regTypo) Move()                          {}

type regReturns struct{ Entity }

func (r *regReturns) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Score") }
func (r *regReturns) Score() int                     { return 0 }

type regVariadic struct{ Entity }

func (r *regVariadic) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Sum") }
func (r *regVariadic) Sum(xs ...int)                  {}

type regChan struct{ Entity }

func (r *regChan) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Pipe") }
func (r *regChan) Pipe(ch chan int)               {}

type regFunc struct{ Entity }

func (r *regFunc) DescribeEntityType(d *TypeDesc) { d.ExposeToAllClients("Do") }
func (r *regFunc) Do(n int, f func())             {}

type regAttrTwice struct{ Entity }

func (r *regAttrTwice) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("hp", AttrOwnClient)
	d.DefineAttr("hp", AttrAllClients)
}

type regPersistAttr struct{ Entity }

func (r *regPersistAttr) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("gold", AttrPersistent|AttrOwnClient)
}

type regBadFlags struct{ Entity }

func (r *regBadFlags) DescribeEntityType(d *TypeDesc) { d.DefineAttr("x", AttrFlag(0x80)) }

type regExposeDestroy struct{ Entity }

func (r *regExposeDestroy) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Destroy") }

type regExposeKick struct{ Entity }

func (r *regExposeKick) DescribeEntityType(d *TypeDesc) { d.ExposeToAllClients("Kick") }

type regExposeID struct{ Entity }

func (r *regExposeID) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("ID") }

type regExposeHook struct{ Entity }

func (r *regExposeHook) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("OnCreated") }
func (r *regExposeHook) OnCreated()                     {}

type regExposeUndefinedHook struct{ Entity }

func (r *regExposeUndefinedHook) DescribeEntityType(d *TypeDesc) {
	d.ExposeToClient("OnClientConnected")
}

type regMany struct{ Entity }

func (r *regMany) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("a", AttrPersistent)
	d.ExposeToClient("Nope", "Sum")
}
func (r *regMany) Sum(xs ...int) {}

// regValid is a valid type with helper methods that are not RPC targets.
type regValid struct{ Entity }

func (r *regValid) DescribeEntityType(d *TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("a", AttrOwnClient|AttrPersistent)
	d.DefineAttr("b", AttrAllClients)
	d.DefineAttr("c", 0)
	d.ExposeToClient("Move", "Both")
	d.ExposeToAllClients("Public", "Both")
}
func (r *regValid) Move(x, y float32, tag string)        {}
func (r *regValid) Public(m map[string][]int, p *string) {}
func (r *regValid) Both()                                {}
func (r *regValid) Hidden(n uint8)                       {}
func (r *regValid) Helper() (int, error)                 { return 0, nil }
func (r *regValid) WithChan(ch chan int)                 {}
func (r *regValid) WithFunc(f func() int)                {}
func (r *regValid) Many(xs ...string)                    {}
func (r *regValid) OnCreated()                           {}
func (r *regValid) OnDestroy()                           {}
func (r *regValid) OnClientConnected()                   {}
func (r *regValid) OnClientDisconnected()                {}
func (r regValid) ValueRecv(s string)                    {}

//lint:ignore U1000 an unexported method must not become an RPC method: it exists to be left out
func (r *regValid) unexported(n int) {}

func TestRegisterErrors(t *testing.T) {
	cases := []struct {
		name    string
		regName string
		proto   any
		want    []string // substrings of the error message
	}{
		{"not a pointer", "V", Plain{}, []string{"want a pointer", "entity.Plain"}},
		{"nil", "V", nil, []string{"want a pointer"}},
		{"pointer to non-struct", "V", new(int), []string{"want a pointer"}},
		{"no embedded Entity", "V", &regNoEntity{}, []string{"must embed entity.Entity"}},
		{"Entity embedded as pointer", "V", &regPtrEntity{}, []string{"must embed entity.Entity", "by value"}},
		{"Entity nested", "V", &regNested{}, []string{"must embed entity.Entity"}},
		{"invalid name with space", "bad name", &Plain{}, []string{"identifier", `"bad name"`}},
		{"invalid name digit", "1abc", &Plain{}, []string{"identifier"}},
		{"invalid empty name", "", &Plain{}, []string{"identifier"}},
		{"invalid name dot", "a.b", &Plain{}, []string{"identifier"}},
		{"typo exposed method", "V", &regTypo{}, []string{"exposed method Mvoe does not exist"}},
		{"exposed method with results", "V", &regReturns{}, []string{"Score returns values other than (T, error) or error"}},
		{"exposed variadic", "V", &regVariadic{}, []string{"exposed method Sum is variadic"}},
		{"exposed chan param", "V", &regChan{}, []string{"exposed method Pipe", "parameter 0", "chan int"}},
		{"exposed func param", "V", &regFunc{}, []string{"exposed method Do", "parameter 1", "func()"}},
		{"attribute twice", "V", &regAttrTwice{}, []string{`attribute "hp" defined twice`}},
		{"persistent attr on non-persistent type", "V", &regPersistAttr{}, []string{`attribute "gold" is Persistent but the type is not`}},
		{"unknown flags", "V", &regBadFlags{}, []string{`attribute "x" has unknown flags`}},
		{"expose hook", "V", &regExposeHook{}, []string{"OnCreated is an engine method"}},
		{"expose undefined hook", "V", &regExposeUndefinedHook{}, []string{"OnClientConnected is an engine method"}},
		{"expose engine method with results", "V", &regExposeID{}, []string{"ID"}},
		{"several problems", "V", &regMany{}, []string{"Nope does not exist", "Sum is variadic", `"a" is Persistent`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRegistry()
			err := r.Register(c.regName, c.proto)
			if err == nil {
				t.Fatalf("Register succeeded")
			}
			wantErrIs(t, err, ErrRegister)
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if r.Has(c.regName) || len(r.Names()) != 0 {
				t.Errorf("failed registration left %v registered", r.Names())
			}
		})
	}
}

// Exposing an engine method without results (Destroy, Kick) must be a
// registration error, like exposing a hook.
func TestRegisterExposeEngineMethod(t *testing.T) {
	for _, c := range []struct {
		name   string
		proto  any
		method string
	}{{"Destroy", &regExposeDestroy{}, "Destroy"}, {"Kick", &regExposeKick{}, "Kick"}} {
		t.Run(c.name, func(t *testing.T) {
			err := NewRegistry().Register("V", c.proto)
			if err == nil {
				t.Fatal("regression: exposing the engine method " + c.method + " (promoted from Entity, no results) registers without error; see report")
			}
			wantErrIs(t, err, ErrRegister)
			if !strings.Contains(err.Error(), c.method+" is an engine method") {
				t.Fatalf("error %q does not name %s as an engine method", err, c.method)
			}
		})
	}
}

func TestRegisterDuplicate(t *testing.T) {
	r := NewRegistry()
	mustRegister(t, r, "Plain", &Plain{})
	err := r.Register("Plain", &Avatar{})
	wantErrIs(t, err, ErrRegister)
	if !strings.Contains(err.Error(), "already registered") || !strings.Contains(err.Error(), `"Plain"`) {
		t.Fatalf("error %q", err)
	}
	// The first registration stands.
	if r.types["Plain"].typ.Name() != "Plain" {
		t.Fatalf("duplicate replaced the type")
	}
	// The same struct under another name is fine.
	mustRegister(t, r, "Plain2", &Plain{})
	deepEqual(t, "Names", r.Names(), []string{"Plain", "Plain2"})
}

func TestRegisterValid(t *testing.T) {
	r := NewRegistry()
	mustRegister(t, r, "Valid", &regValid{})
	if !r.Has("Valid") {
		t.Fatal("not registered")
	}
	tt := r.types["Valid"]
	if !tt.persistent {
		t.Error("not persistent")
	}
	deepEqual(t, "attrs", tt.attrs, map[string]AttrFlag{"a": AttrOwnClient | AttrPersistent, "b": AttrAllClients, "c": 0})

	wantExposed := map[string]exposure{
		"Move": exposeOwner, "Public": exposePublic, "Both": exposeOwner | exposePublic,
		"Hidden": 0, "ValueRecv": 0,
		"Helper": 0, // (int, error): it answers requests (request.go)
	}
	got := map[string]exposure{}
	for n, m := range tt.methods {
		got[n] = m.exposed
	}
	deepEqual(t, "RPC methods", got, wantExposed)
	// Parameter types are recorded.
	deepEqual(t, "Move params", len(tt.methods["Move"].params), 3)
	// Hooks, helpers with other results, unsupported parameters, variadic,
	// unexported and promoted Entity methods are not RPC methods.
	for _, n := range []string{"OnCreated", "OnDestroy", "OnClientConnected", "OnClientDisconnected", "DescribeEntityType",
		"WithChan", "WithFunc", "Many", "unexported", "Destroy", "Kick", "Call", "ID", "GiveClientTo", "AddTimer"} {
		if _, ok := tt.methods[n]; ok {
			t.Errorf("%s is an RPC method", n)
		}
	}
}

func TestRegisterNoDescriber(t *testing.T) {
	r := NewRegistry()
	mustRegister(t, r, "Plain", &Plain{})
	tt := r.types["Plain"]
	if tt.persistent || len(tt.attrs) != 0 {
		t.Fatalf("Plain: persistent=%v attrs=%v", tt.persistent, tt.attrs)
	}
	for _, n := range []string{"Tick", "Args", "Boom", "Chain", "Kill"} {
		if m := tt.methods[n]; m == nil || m.exposed != 0 {
			t.Errorf("method %s: %+v", n, m)
		}
	}
}

// Hooks cannot be called as RPC, neither by a server call nor by a client.
func TestHooksNotCallable(t *testing.T) {
	e := newEnv(t)
	acc := e.connect(1, 100)
	e.events()
	e.out.take()
	for _, h := range []string{"OnCreated", "OnDestroy", "OnClientConnected", "OnClientDisconnected", "DescribeEntityType"} {
		e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, acc.ID(), h))
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("hooks ran as RPC: %v", ev)
	}
	if acc.IsDestroyed() || !acc.HasClient() {
		t.Fatal("hook call changed the entity")
	}
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 1, 100, "OnDestroy"))
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("hook ran from client: %v", ev)
	}
	if k := kicks(t, e.out.take()); len(k) != 1 || k[0].client != 100 {
		t.Fatalf("client calling a hook not kicked: %v", k)
	}
}

func TestAttrFlagString(t *testing.T) {
	for f, s := range map[AttrFlag]string{
		0: "ServerOnly", AttrOwnClient: "OwnClient", AttrAllClients | AttrPersistent: "AllClients|Persistent",
		attrFlagsAll: "OwnClient|AllClients|Persistent",
	} {
		if f.String() != s {
			t.Errorf("%d.String() = %q, want %q", f, f.String(), s)
		}
	}
}

func TestNewEngineChecks(t *testing.T) {
	r := NewRegistry()
	mustRegister(t, r, "Plain", &Plain{})
	if _, err := NewEngine(WorldConfig{Registry: r}); err == nil {
		t.Error("NewEngine without Outbox succeeded")
	}
	if _, err := NewEngine(WorldConfig{Outbox: &recOutbox{n: 1}}); err == nil {
		t.Error("NewEngine without Registry succeeded")
	}
	_, err := NewEngine(WorldConfig{Registry: r, Outbox: &recOutbox{n: 1}, BootEntity: "Nope"})
	if err == nil || !strings.Contains(err.Error(), `"Nope"`) {
		t.Errorf("NewEngine with unknown boot type: %v", err)
	}
	en, err := NewEngine(WorldConfig{Registry: r, Outbox: &recOutbox{n: 1}, BootEntity: "Plain"})
	if err != nil || en == nil || en.World() == nil {
		t.Fatalf("NewEngine: %v", err)
	}
}
