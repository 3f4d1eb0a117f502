package entity

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Chatter declares its client methods.
type Chatter struct{ Entity }

func (c *Chatter) DescribeEntityType(desc *TypeDesc) {
	desc.DefineClientMethod("OnChat", "", "", "").Names("room", "name", "text")
	desc.DefineClientMethod("OnCount", int32(0))
	desc.DefineClientMethod("OnAnything", nil)
}

func withChatter(e *env, _ *WorldConfig) { mustRegister(e.t, e.reg, "Chatter", &Chatter{}) }

// sentCalls returns the methods of the MsgCallClient frames sent since
// the last take (CallClient's and broadcasts').
func sentCalls(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, f := range e.out.take() {
		body := f.body
		switch f.typ {
		case rpc.MsgToClient:
			m := decodeToClient(t, f)
			if m.typ != rpc.MsgCallClient {
				continue
			}
			body = m.body
		case rpc.MsgFilteredBroadcast:
			r := rpc.NewReader(body)
			r.Uint8()
			_, _ = r.String(), r.String()
			r.Uint16()
			body = r.Rest()
		default:
			continue
		}
		r := rpc.NewReader(body)
		r.EntityID()
		out = append(out, r.String())
	}
	return out
}

func TestDeclaredClientMethods(t *testing.T) {
	e := newEnv(t, withChatter)
	c := e.create("Chatter", nil)
	e.bind(c, 1, 100)
	e.out.take()
	refusals := func() uint64 { n, _ := e.w.ClientCallErrors(); return n }

	// Declared methods with fitting arguments go, converted as the
	// client's stub will convert them (an int that fits an int32).
	c.CallClient("OnChat", "lobby", "alice", "hi")
	c.CallClient("OnCount", 7)
	c.CallClient("OnAnything", map[string]any{"a": []any{1, "x"}})
	e.w.CallAllClients("OnChat", "lobby", "bob", "yo")
	deepEqual(t, "sent", sentCalls(t, e), []string{"OnChat", "OnCount", "OnAnything", "OnChat"})
	if n := refusals(); n != 0 {
		t.Fatalf("%d refusals for declared calls", n)
	}

	// Everything else is refused where it is called: counted, logged as
	// an error, and not sent.
	for i, tc := range []struct {
		call func()
		want string
	}{
		{func() { c.CallClient("OnChta", "lobby", "alice", "hi") }, `Chatter.CallClient(OnChta): Chatter declares no such client method`},
		{func() { c.CallClient("OnChat", "lobby", "alice") }, "got 2 arguments, want 3"},
		{func() { c.CallClient("OnChat", "lobby", "alice", 3) }, "OnChat(room string, name string, text string)"},
		{func() { c.CallClient("OnCount", int64(1)<<40) }, "OnCount(int32)"},
		{func() { c.CallClient("OnCount", 1.5) }, "OnCount(int32)"},
		{func() { e.w.CallAllClients("Nope", 1) }, `broadcast Nope: no entity type declares that client method`},
		{func() { e.w.CallFilteredClients("room", "lobby", "OnChat", 1, 2, 3) }, "broadcast OnChat: the arguments do not fit"},
	} {
		tc.call()
		if got := sentCalls(t, e); len(got) != 0 {
			t.Errorf("case %d: sent %v", i, got)
		}
		n, last := e.w.ClientCallErrors()
		if n != uint64(i+1) || !strings.Contains(last, tc.want) {
			t.Errorf("case %d: refusals %d, last %q; want %d, containing %q", i, n, last, i+1, tc.want)
		}
		if i < logBurst && !e.logged(logrus.ErrorLevel, tc.want) { // then rate-limited
			t.Errorf("case %d: no error logged containing %q", i, tc.want)
		}
	}

	// A contract holds whether a client is bound or not: the test kit
	// sees the mistake before any player connects.
	before := refusals()
	lone := e.create("Chatter", nil)
	lone.CallClient("OnChat", "x", "y", "z")
	lone.CallClient("Undeclared")
	if got := refusals() - before; got != 1 {
		t.Fatalf("a clientless entity's undeclared call: %d refusals, want 1", got)
	}

	// Types that declare nothing are not checked.
	before = refusals()
	p := e.connect(2, 200)
	e.out.take()
	p.CallClient("Whatever", 1, 2)
	deepEqual(t, "undeclared type's call", sentCalls(t, e), []string{"Whatever"})
	if refusals() != before {
		t.Fatal("a type without declarations was checked")
	}
}

// Without any declarations, broadcasts are not checked either.
func TestBroadcastUncheckedWithoutDeclarations(t *testing.T) {
	e := newEnv(t)
	e.w.CallAllClients("Anything", 1)
	if got := sentCalls(t, e); len(got) != 1 {
		t.Fatalf("sent %v", got)
	}
	if n, _ := e.w.ClientCallErrors(); n != 0 {
		t.Fatalf("%d refusals", n)
	}
}

type badClientDecl struct{ Entity }

var badClientDeclFn func(*TypeDesc)

func (b *badClientDecl) DescribeEntityType(desc *TypeDesc) { badClientDeclFn(desc) }

func TestClientMethodDeclarationErrors(t *testing.T) {
	for _, tc := range []struct {
		decl func(*TypeDesc)
		want string
	}{
		{func(d *TypeDesc) { d.DefineClientMethod("A"); d.DefineClientMethod("A") }, "client method A declared twice"},
		{func(d *TypeDesc) { d.DefineClientMethod("no-ident") }, "must be a Go-style identifier"},
		{func(d *TypeDesc) { d.DefineClientMethod("A", make(chan int)) }, "parameter 0: type chan int cannot be an RPC argument"},
		{func(d *TypeDesc) { d.DefineClientMethod("A", map[int]string{}) }, "clients accept only string map keys"},
		{func(d *TypeDesc) { d.DefineClientMethod("A", "", "").Names("x") }, "1 names for 2 parameters"},
		{func(d *TypeDesc) { d.DefineClientMethod("A", "", "").Names("x", "x") }, "parameter name x is not a distinct identifier"},
		{func(d *TypeDesc) { d.DefineAttr("a", AttrOwnClient).Type(make(chan int)) }, "attribute \"a\": type:"},
		{func(d *TypeDesc) { d.attrTypes = map[string]any{"ghost": ""} }, "Type of an undeclared attribute"},
	} {
		badClientDeclFn = tc.decl
		err := NewRegistry().Register("Bad", &badClientDecl{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// The registry's description

var update = flag.Bool("update", false, "rewrite testdata/registry.golden.json")

// Point travels as a map of its fields.
type Point struct {
	X, Y   float64
	Label  string `msgpack:"label,omitempty"`
	hidden int    //lint:ignore U1000 an unexported field: the description must leave it out
	Skip   int    `msgpack:"-"`
	Next   *Point `msgpack:"next"`
}

// Level is a named integer type: it travels as its kind.
type Level int16

type described struct{ Entity }

func (d *described) DescribeEntityType(desc *TypeDesc) {
	desc.SetPersistent(true)
	desc.DefineAttr("name", AttrAllClients|AttrPersistent).Type("")
	desc.DefineAttr("score", AttrOwnClient).Default(int64(0))
	desc.DefineAttr("where", AttrOwnClient).Type(Point{})
	desc.DefineAttr("secret", AttrPersistent)
	desc.DefineAttr("bag", AttrOwnClient)
	desc.ExposeToClient("Move", "Level", "Tags")
	desc.ExposeToAllClients("Look")
	desc.DefineClientMethod("OnMoved", Point{}, (*Point)(nil)).Names("to", "from")
	desc.DefineClientMethod("OnLevel", Level(0), uint8(0), float32(0), []byte(nil))
	desc.DefineClientMethod("OnTags", map[string][]string{}, reflect.TypeFor[any]())
}

func (d *described) Move(to Point) error                                { return nil }
func (d *described) Level(l Level) (uint32, error)                      { return 0, nil }
func (d *described) Tags(t []string, m map[string]int) ([]Point, error) { return nil, nil }
func (d *described) Look() (map[string]any, error)                      { return nil, nil }
func (d *described) ServerOnly(x int)                                   {}

func TestDescribeGolden(t *testing.T) {
	r := NewRegistry()
	mustRegister(t, r, "Hero", &described{})
	if err := r.RegisterService("Board", &Chatter{}, 4); err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(r.Describe(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/registry.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./entity -run TestDescribeGolden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Describe changed (a schema change bumps RegistrySchema; then -update):\n%s", got)
	}
	// The same registry always gives the same description.
	again, _ := json.MarshalIndent(r.Describe(), "", "  ")
	if !bytes.Equal(append(again, '\n'), got) {
		t.Fatal("Describe is not deterministic")
	}
}
