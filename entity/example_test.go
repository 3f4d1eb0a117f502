package entity_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/goworldtest"
	"github.com/goworld-engine/goworld/rpc"
)

// The examples run the way a game runs: goworldtest starts a dispatcher,
// the games and a gate in this process, on loopback sockets, and connects
// real clients. Everything they print is awaited, never timed.

// registry registers the examples' types in a registry of their own.
func registry(types map[string]any) *entity.Registry {
	reg := entity.NewRegistry()
	for name, proto := range types {
		if err := reg.Register(name, proto); err != nil {
			panic(err)
		}
	}
	return reg
}

// Counter is an entity type whose clients click it: the count is synced
// to the entity's own client, the note stays on the server.
type Counter struct{ entity.Entity }

func (c *Counter) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("clicks", entity.AttrOwnClient).Default(0)
	d.DefineAttr("note", 0) // no flags: server only
	d.ExposeToClient("Click")
}

// Click is exposed to the entity's own client.
func (c *Counter) Click(n int) {
	c.Attrs.Set("clicks", c.Attrs.GetInt("clicks")+int64(n))
	c.Attrs.Set("note", fmt.Sprintf("last click: %d", n))
}

// A type with a method exposed to its client and attributes synced by
// their flags. Each client that connects gets a Counter (the boot entity)
// and calls Click on it.
func Example() {
	reg := registry(map[string]any{"Counter": &Counter{}})
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Counter", Registry: reg})
		p := c.Connect()
		p.Call("Click", 2)
		p.Call("Click", 3)
		p.WaitAttr("clicks", int64(5))
		player, _ := p.Player()
		fmt.Println("the client sees:", player.Attrs)
		fmt.Println("the server has:", c.Attr(p.PlayerID(), "clicks"), "and", c.Attr(p.PlayerID(), "note"))
	})
	fmt.Println("failed:", err)
	// Output:
	// the client sees: map[clicks:5]
	// the server has: 5 and last click: 3
	// failed: <nil>
}

// Bell rings its client on a timer, three times.
type Bell struct{ entity.Entity }

func (b *Bell) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("rings", 0)
	d.DefineAttr("timer", 0) // the timer's ID: timers are data, and survive a hot reload
	d.ExposeToClient("Start")
	d.DefineClientMethod("Ring", int64(0)).Names("n")
}

// Start rings every 10 ms.
func (b *Bell) Start() {
	id, err := b.AddTimer(10*time.Millisecond, "Ring")
	if err != nil {
		b.World().Logger().Error(err)
		return
	}
	b.Attrs.Set("timer", int64(id))
}

// Ring is the timer's method; the third ring cancels the timer.
func (b *Bell) Ring() {
	n := b.Attrs.GetInt("rings") + 1
	b.Attrs.Set("rings", n)
	b.CallClient("Ring", n)
	if n == 3 {
		b.CancelTimer(entity.TimerID(b.Attrs.GetInt("timer")))
	}
}

// A timer calls a method of the entity, by name, until it is cancelled.
func ExampleEntity_AddTimer() {
	reg := registry(map[string]any{"Bell": &Bell{}})
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Bell", Registry: reg})
		p := c.Connect()
		p.Call("Start")
		for range 3 {
			fmt.Println("ring", p.ExpectCall("Ring").Args[0])
		}
		c.Entity(p.PlayerID(), func(e *entity.Entity) { fmt.Println("timers left:", e.TimerCount()) })
	})
	fmt.Println("failed:", err)
	// Output:
	// ring 1
	// ring 2
	// ring 3
	// timers left: 0
	// failed: <nil>
}

// Parrot repeats what it is told, by calling the teller back.
type Parrot struct{ entity.Entity }

// Tell is called by other entities.
func (p *Parrot) Tell(from rpc.EntityID, text string) {
	p.Call(from, "Hear", text+"? "+text+"!")
}

// Sailor is a player with a parrot, which may live on another game.
type Sailor struct{ entity.Entity }

func (s *Sailor) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("parrot", 0)
	d.ExposeToClient("Say")
	d.DefineClientMethod("Heard", "").Names("text")
}

// OnCreated places the sailor's parrot on the least loaded game.
func (s *Sailor) OnCreated() {
	id, err := s.World().CreateEntitySomewhere("Parrot", nil)
	if err != nil {
		s.World().Logger().Error(err)
		return
	}
	s.Attrs.Set("parrot", string(id))
}

// Say tells the parrot what the client said.
func (s *Sailor) Say(text string) {
	s.Call(rpc.EntityID(s.Attrs.GetString("parrot")), "Tell", s.ID(), text)
}

// Hear is the parrot's call back: the client is told.
func (s *Sailor) Hear(text string) { s.CallClient("Heard", text) }

// Entities call each other's methods by ID, wherever they live: here the
// cluster has two games, and the parrot may be on either.
func ExampleEntity_Call() {
	reg := registry(map[string]any{"Sailor": &Sailor{}, "Parrot": &Parrot{}})
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Sailor", Registry: reg, Games: 2})
		p := c.Connect()
		p.Call("Say", "pieces of eight")
		fmt.Println(p.ExpectCall("Heard").Args[0])
	})
	fmt.Println("failed:", err)
	// Output:
	// pieces of eight? pieces of eight!
	// failed: <nil>
}

// Oracle answers requests: a method that returns a value and an error.
type Oracle struct{ entity.Entity }

// Root returns the integer square root of n, or the game's own error.
func (o *Oracle) Root(n int) (int, error) {
	if n < 0 {
		return 0, rpc.NewError(rpc.CodeUser, fmt.Sprintf("%d has no real root", n))
	}
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r, nil
}

// Seeker asks the oracle for its client.
type Seeker struct{ entity.Entity }

func (s *Seeker) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("oracle", 0)
	d.ExposeToClient("Ask")
	d.DefineClientMethod("Answer", "").Names("text")
}

// OnCreated makes the seeker's oracle.
func (s *Seeker) OnCreated() {
	o, err := s.World().CreateEntityLocally("Oracle", nil)
	if err != nil {
		s.World().Logger().Error(err)
		return
	}
	s.Attrs.Set("oracle", string(o.ID()))
}

// Ask requests the oracle's Root; OnRoot gets the answer.
func (s *Seeker) Ask(n int) {
	if err := s.Request(rpc.EntityID(s.Attrs.GetString("oracle")), "Root", "OnRoot", n); err != nil {
		s.World().Logger().Error(err)
	}
}

// OnRoot is the request's callback: it runs once, with the result or an
// error (the callee's, or a timeout, or no such entity...).
func (s *Seeker) OnRoot(root int, err error) {
	if err != nil {
		s.CallClient("Answer", "error: "+err.Error())
		return
	}
	s.CallClient("Answer", fmt.Sprint("root ", root))
}

// A request calls a method for its answer, which comes back to a
// callback of the caller.
func ExampleEntity_Request() {
	reg := registry(map[string]any{"Seeker": &Seeker{}, "Oracle": &Oracle{}})
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Seeker", Registry: reg})
		p := c.Connect()
		for _, n := range []int{30, -4} {
			p.Call("Ask", n)
			fmt.Println(p.ExpectCall("Answer").Args[0])
		}
	})
	fmt.Println("failed:", err)
	// Output:
	// root 5
	// error: code 1000: -4 has no real root
	// failed: <nil>
}

// Field is a space.
type Field struct{ entity.Entity }

func (f *Field) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(100) }

// Walker sees others within 50 units. Its name is shown to every client
// that sees it, its gold only to its own.
type Walker struct {
	entity.Entity
	met []string // server-side only, and not kept across a hot reload
}

func (w *Walker) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(50)
	d.DefineAttr("name", entity.AttrAllClients)
	d.DefineAttr("gold", entity.AttrOwnClient)
}

// OnEnterAOI runs when another entity comes into sight.
func (w *Walker) OnEnterAOI(other *entity.Entity) {
	w.met = append(w.met, other.Attrs.GetString("name"))
}

// A space where entities see each other within their area of interest;
// their clients are shown what they see, with the attributes flagged for
// all clients.
func ExampleTypeDesc_DefineSpace() {
	reg := registry(map[string]any{"Field": &Field{}, "Walker": &Walker{}})
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Walker", Registry: reg})
		ann, bob, cid := c.Connect(), c.Connect(), c.Connect()
		c.Do(1, func(w *entity.World) {
			field, err := w.CreateSpaceLocally("Field", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				who  *goworldtest.Client
				name string
				x    float32
			}{{ann, "ann", 0}, {bob, "bob", 30}, {cid, "cid", 500}} {
				e := w.Entity(p.who.PlayerID())
				e.Attrs.Set("name", p.name)
				e.Attrs.Set("gold", 100)
				if err := e.EnterSpace(field.ID(), entity.Vector3{X: p.x}); err != nil {
					t.Fatal(err)
				}
			}
		})
		c.Eventually("ann's client is shown bob", func() bool { _, ok := ann.Entity(bob.PlayerID()); return ok })
		seen, _ := ann.Entity(bob.PlayerID())
		fmt.Println("ann's client sees bob as", seen.Attrs)
		for _, p := range []*goworldtest.Client{ann, bob, cid} {
			c.Entity(p.PlayerID(), func(e *entity.Entity) {
				fmt.Println(e.Attrs.GetString("name"), "met", e.Self().(*Walker).met)
			})
		}
	})
	fmt.Println("failed:", err)
	// Output:
	// ann's client sees bob as map[name:bob]
	// ann met [bob]
	// bob met [ann]
	// cid met []
	// failed: <nil>
}
