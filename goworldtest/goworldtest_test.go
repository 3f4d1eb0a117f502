package goworldtest_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/goworldtest"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// Player is the boot entity of these tests.
type Player struct{ goworld.Entity }

func (p *Player) DescribeEntityType(d *goworld.TypeDesc) {
	d.DefineAttr("clicks", goworld.AttrOwnClient)
	d.ExposeToClient("Click", "Double", "Leave")
}

func (p *Player) OnClientConnected() { p.CallClient("Welcome", "hello") }

func (p *Player) Click() {
	n := p.Attrs.GetInt("clicks") + 1
	p.Attrs.Set("clicks", n)
	if n%3 == 0 {
		p.CallClient("Cheer", n)
	}
}

func (p *Player) Double(n int) (int, error) {
	if n < 0 {
		return 0, goworld.NewError(goworld.CodeUser, "negative")
	}
	return 2 * n, nil
}

func (p *Player) Leave() { p.Kick("bye") }

// Counter is a service.
type Counter struct{ goworld.Entity }

func (c *Counter) DescribeEntityType(d *goworld.TypeDesc) { d.DefineAttr("n", 0) }
func (c *Counter) Add(k int)                              { c.Attrs.Set("n", c.Attrs.GetInt("n")+int64(k)) }

func registry(t *testing.T) *entity.Registry {
	r := entity.NewRegistry()
	if err := r.Register("Player", &Player{}); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterService("Counter", &Counter{}, 2); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKit(t *testing.T) {
	c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Player", Registry: registry(t), Games: 2, Storage: true})
	p := c.Connect()
	if w := p.ExpectCall("Welcome"); len(w.Args) != 1 || w.Args[0] != "hello" {
		t.Fatalf("Welcome%v", w.Args)
	}
	for range 3 {
		p.Call("Click")
	}
	if ch := p.ExpectCall("Cheer"); ch.Args[0] != int64(3) {
		t.Fatalf("Cheer%v", ch.Args)
	}
	p.WaitAttr("clicks", int64(3))
	if got := c.Attr(p.PlayerID(), "clicks"); got != int64(3) {
		t.Fatalf("server-side clicks %v", got)
	}
	if v, err := p.Request("Double", 21); err != nil || v != int64(42) {
		t.Fatalf("Double(21) = %v, %v", v, err)
	}
	if _, err := p.Request("Double", -1); !errors.Is(err, goworld.NewError(goworld.CodeUser, "")) {
		t.Fatalf("Double(-1): %v", err)
	}

	// Services run; Do and Eventually reach them.
	c.Do(2, func(w *goworld.World) {
		if err := w.CallService("Counter", "a", "Add", 5); err != nil {
			t.Error(err)
		}
	})
	id := rpc.ServiceEntityID("Counter", entity.ServiceShard("a", 2))
	c.Eventually("the counter at 5", func() bool {
		var n int64
		c.Entity(id, func(e *goworld.Entity) { n = e.Attrs.GetInt("n") })
		return n == 5
	})

	p.Call("Leave")
	if reason := p.ExpectDisconnect(); !strings.Contains(reason, "bye") {
		t.Fatalf("kicked with %q", reason)
	}
}

// TestKitFailsClearly: a wait that cannot succeed fails the test with
// what it waited for, after the timeout; so does a Start without a boot
// entity.
func TestKitFailsClearly(t *testing.T) {
	msg := fails(t, func(ft testing.TB) { goworldtest.Start(ft, goworldtest.Options{Registry: registry(t)}) })
	if !strings.Contains(msg, "BootEntity is required") {
		t.Fatalf("Start without a boot entity said %q", msg)
	}
	c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Player", Registry: registry(t), Timeout: 300 * time.Millisecond})
	msg = fails(t, func(ft testing.TB) {
		p := c.Connect() // on t: its cleanup closes it
		p.ExpectCall("Welcome")
		goworldtest.WithT(p, ft).ExpectCall("Nothing")
	})
	if !strings.Contains(msg, "no a call of Nothing within 300ms") {
		t.Fatalf("a wait that timed out said %q", msg)
	}
}

// fails runs fn with a testing.TB whose Fatalf ends fn (as a test's
// does) and returns the message.
func fails(t *testing.T, fn func(testing.TB)) string {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ft)
	}()
	<-done
	if ft.msg == "" {
		t.Fatal("fn did not fail")
	}
	return ft.msg
}

// fakeT records a Fatalf and ends the goroutine, as testing.T does.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeT) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// Typo declares Welcome for its clients but calls Welcom.
type Typo struct{ goworld.Entity }

func (p *Typo) DescribeEntityType(d *goworld.TypeDesc) {
	d.ExposeToClient("Greet")
	d.DefineClientMethod("Welcome", "").Names("text")
}

func (p *Typo) OnClientConnected() { p.CallClient("Welcom", "hello") }

// Greet calls Welcome with an argument that does not fit the declaration.
func (p *Typo) Greet() { p.CallClient("Welcome", 42) }

func typoRegistry() *entity.Registry {
	r := entity.NewRegistry()
	if err := r.Register("Typo", &Typo{}); err != nil {
		panic(err)
	}
	return r
}

// TestKitFailsOnUndeclaredClientCall: a call to a client method the type
// does not declare fails the test at the wait for it (which would
// otherwise only time out), long before the wait's timeout.
func TestKitFailsOnUndeclaredClientCall(t *testing.T) {
	start := time.Now()
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Typo", Registry: typoRegistry(), Timeout: time.Minute})
		p := c.Connect()
		p.ExpectCall("Welcome")
		t.Error("not reached: the wait should have failed")
	})
	if err == nil || !strings.Contains(err.Error(), `Typo.CallClient(Welcom): Typo declares no such client method`) || !strings.Contains(err.Error(), "while waiting for") {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the failure took %v: it waited for the timeout", took)
	}
}

// TestKitFailsAtCleanupOnMismatchedClientCall: a call with arguments that
// do not fit fails the test when it ends, even if nothing waited.
func TestKitFailsAtCleanupOnMismatchedClientCall(t *testing.T) {
	err := goworldtest.Run(func(t testing.TB) {
		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Typo", Registry: typoRegistry(), AllowClientCallErrors: false})
		var id goworld.EntityID
		c.Do(1, func(w *goworld.World) {
			e, err := w.CreateEntityLocally("Typo", nil)
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			id = e.ID()
			e.Self().(*Typo).Greet()
		})
		if id == "" {
			t.Error("no entity")
		}
	})
	if err == nil || !strings.Contains(err.Error(), "Welcome(text string)") || !strings.Contains(err.Error(), "1 call(s)") {
		t.Fatalf("Run: %v", err)
	}
}

// TestKitAllowsClientCallErrors: with AllowClientCallErrors a test can
// check the refusals itself.
func TestKitAllowsClientCallErrors(t *testing.T) {
	c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Typo", Registry: typoRegistry(), AllowClientCallErrors: true})
	p := c.Connect()
	p.Call("Greet")
	c.Eventually("two refused client calls", func() bool { n, _ := c.ClientCallErrors(); return n == 2 })
	if _, last := c.ClientCallErrors(); !strings.Contains(last, "Typo.CallClient(Welcome): the arguments do not fit") {
		t.Fatalf("last refusal %q", last)
	}
}
