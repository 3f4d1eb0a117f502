// Package goworldtest tests a game's entity types the way they run: in
// an in-process cluster (a dispatcher, games and a gate, the real
// servers on real loopback sockets) driven by the real Go client, from a
// go test of the game's own module.
//
//	func TestClick(t *testing.T) {
//		c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Player"})
//		p := c.Connect()
//		p.Call("Click")
//		p.WaitAttr("clicks", int64(1))
//	}
//
// Everything waits for events, never for a fixed time: each wait fails
// the test after Options.Timeout (10 s by default), saying what it waited
// for. The types are those registered with goworld.RegisterEntity and
// goworld.RegisterService (the registry goworld.Run uses), unless
// Options.Registry gives another. The cluster stops when the test ends.
//
// Time is real: the engine's timers and save intervals run on the wall
// clock (a game's clock cannot be advanced from outside), so a test waits
// for what a timer does with ExpectCall, WaitAttr or Eventually, and a
// game made to be tested takes its intervals from attributes or
// constants a test can keep short.
//
// What differs from production: one process (no hot reload, which needs
// the game's own binary: test it with goworldctl), no config.ini (the
// Options below choose), storage in a temporary bbolt file per game if
// asked. Game code cannot tell.
package goworldtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// DefaultTimeout is how long a wait lasts unless Options.Timeout says.
const DefaultTimeout = 10 * time.Second

// Options describe the cluster. Only BootEntity is required.
type Options struct {
	// BootEntity is the type created for each client that connects
	// (config.ini's boot_entity).
	BootEntity string
	// Registry holds the entity types (default: goworld.Registry(), the
	// types the game registered with goworld.RegisterEntity).
	Registry *entity.Registry
	// Games is the number of game processes (default 1); entities placed
	// "somewhere" and services spread over them.
	Games int
	// Storage gives each game a bbolt file in a temporary directory, for
	// persistent entities and the KV store (default: no storage).
	Storage bool
	// Timeout bounds every wait (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives the servers' logs (default: warnings and errors go
	// to the test's log).
	Logger logrus.FieldLogger
	// AllowClientCallErrors keeps the test going when game code calls a
	// client method its type does not declare, or with arguments that
	// do not fit the declaration (entity.TypeDesc.DefineClientMethod).
	// By default such a call fails the test: at the next wait, or when
	// the test ends.
	AllowClientCallErrors bool
}

// Cluster is a running cluster. Its methods fail the test on error.
type Cluster struct {
	t       testing.TB
	c       *cluster.Cluster
	timeout time.Duration
	// allowCallErrs: Options.AllowClientCallErrors. reported: the
	// refused client calls already reported (guarded by mu).
	allowCallErrs bool
	mu            sync.Mutex
	reported      uint64
}

// Start starts the cluster and waits until every server is ready; it
// stops when the test ends.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Registry == nil {
		if err := goworld.RegistrationErr(); err != nil {
			t.Fatalf("goworldtest: %v", err)
		}
		o.Registry = goworld.Registry()
	}
	if o.BootEntity == "" {
		t.Fatal("goworldtest: Options.BootEntity is required (the type each client gets, as boot_entity in config.ini)")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetLevel(logrus.WarnLevel)
		l.SetOutput(testWriter{t})
		o.Logger = l
	}
	co := cluster.Options{Registry: o.Registry, BootEntity: o.BootEntity, Games: o.Games, Logger: o.Logger}
	if o.Storage {
		co.StorageDir = t.TempDir()
	}
	c, err := cluster.New(co)
	if err != nil {
		t.Fatalf("goworldtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("goworldtest: stopping the cluster: %v", err)
		}
	})
	kc := &Cluster{t: t, c: c, timeout: o.Timeout, allowCallErrs: o.AllowClientCallErrors}
	t.Cleanup(func() {
		if err := kc.clientCallErr(); err != nil {
			t.Error(err)
		}
	})
	return kc
}

// ClientCallErrors returns how many calls to clients the games refused
// because they broke the declared client methods (an undeclared method,
// arguments that do not fit: entity.TypeDesc.DefineClientMethod), and
// the last one's message.
func (c *Cluster) ClientCallErrors() (n uint64, last string) {
	for _, g := range c.c.Games {
		k, l := g.World().ClientCallErrors()
		if k > 0 {
			n, last = n+k, l
		}
	}
	return n, last
}

// clientCallErr returns an error for client calls refused since the
// last report (unless Options.AllowClientCallErrors).
func (c *Cluster) clientCallErr() error {
	if c.allowCallErrs {
		return nil
	}
	n, last := c.ClientCallErrors()
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= c.reported {
		return nil
	}
	k := n - c.reported
	c.reported = n
	return fmt.Errorf("goworldtest: game code made %d call(s) to clients that its types' declared client methods refuse (DefineClientMethod); the last: %s", k, last)
}

// testWriter sends the servers' log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// GateAddr returns the gate's client address (TCP), for clients of your
// own.
func (c *Cluster) GateAddr() string { return c.c.GateAddr(0) }

// Games returns the number of games.
func (c *Cluster) Games() int { return len(c.c.Games) }

// Do runs fn on game i's loop (1-based, as [gameN]) with its world, as
// entity code runs, and waits until it has run. Use it to create
// entities, call them, or read their state. fn must not call the
// Cluster's methods (it runs on the loop they would wait for).
func (c *Cluster) Do(game int, fn func(w *goworld.World)) {
	c.t.Helper()
	if game < 1 || game > len(c.c.Games) {
		c.t.Fatalf("goworldtest: no game %d (the cluster has %d)", game, len(c.c.Games))
	}
	g := c.c.Games[game-1]
	done := make(chan struct{})
	g.Post(func() { defer close(done); fn(g.World()) })
	select {
	case <-done:
	case <-time.After(c.timeout):
		c.t.Fatalf("goworldtest: game %d's loop did not run the function within %v", game, c.timeout)
	}
}

// Entity runs fn with entity id on the game that hosts it, on that
// game's loop, and reports whether some game has it.
func (c *Cluster) Entity(id goworld.EntityID, fn func(e *goworld.Entity)) bool {
	c.t.Helper()
	found := false
	for i := range c.c.Games {
		c.Do(i+1, func(w *goworld.World) {
			if e := w.Entity(id); e != nil && !found {
				found = true
				fn(e)
			}
		})
	}
	return found
}

// Attr returns the top-level attribute key of entity id (nil if unset),
// wherever it lives; it fails the test if no game has the entity.
func (c *Cluster) Attr(id goworld.EntityID, key string) any {
	c.t.Helper()
	var v any
	if !c.Entity(id, func(e *goworld.Entity) { v = plain(e.Attrs.Get(key)) }) {
		c.t.Fatalf("goworldtest: no game has entity %s", id)
	}
	return v
}

// Eventually waits until cond holds, checking it again and again on the
// test's goroutine (cond may use Do, Entity and Attr; do not call those
// from inside a Do).
func (c *Cluster) Eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(c.timeout)
	for !cond() {
		if err := c.clientCallErr(); err != nil {
			c.t.Fatalf("%v (while waiting for %s)", err, what)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("goworldtest: %s: not after %v", what, c.timeout)
		}
		time.Sleep(2 * time.Millisecond) // a poll of state, not a wait for time
	}
}

// plain turns attribute containers into plain values for comparison.
func plain(v any) any {
	switch x := v.(type) {
	case *entity.MapAttr:
		return x.ToMap()
	case *entity.ListAttr:
		return x.ToList()
	}
	return v
}

// Client is a real client connected to the cluster's gate. Its methods
// fail the test on error. The embedded *client.Client is the Go client,
// for what the kit does not wrap; the kit reads its Events channel (in
// ExpectCall and the waits), so read events through the kit, or all
// through Events, not both.
type Client struct {
	*client.Client
	t       testing.TB
	timeout time.Duration
	player  rpc.EntityID
	cluster *Cluster
}

// Connect connects a client over TCP and waits until the server has
// shown it its player entity (the boot entity). It closes when the test
// ends.
func (c *Cluster) Connect() *Client {
	c.t.Helper()
	cl, err := client.Dial(c.GateAddr(), client.Options{})
	if err != nil {
		c.t.Fatalf("goworldtest: connect: %v", err)
	}
	c.t.Cleanup(func() { cl.Close() })
	p := &Client{Client: cl, t: c.t, timeout: c.timeout, cluster: c}
	p.wait("the player entity", func(ev client.Event) bool {
		e, ok := ev.(client.EntityCreated)
		if ok && e.IsPlayer {
			p.player = e.ID
		}
		return ok && e.IsPlayer
	})
	return p
}

// WithT returns a copy of p that reports failures to t (for a subtest,
// or a helper goroutine's own testing.TB).
func WithT(p *Client, t testing.TB) *Client {
	q := *p
	q.t = t
	return &q
}

// PlayerID returns the ID of the client's player entity.
func (p *Client) PlayerID() goworld.EntityID {
	if e, ok := p.Client.Player(); ok {
		return e.ID
	}
	return p.player
}

// Call calls method on the player entity (it must be exposed to the
// client).
func (p *Client) Call(method string, args ...any) {
	p.t.Helper()
	if err := p.CallPlayer(method, args...); err != nil {
		p.t.Fatalf("goworldtest: call %s: %v", method, err)
	}
}

// Request asks the player entity's method and returns its answer (nil
// error) or the error (a *rpc.ReplyError with its code), within the
// kit's timeout.
func (p *Client) Request(method string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	return p.Client.Request(ctx, method, args...)
}

// ExpectCall waits for the server to call method on the client (on any
// entity: CallClient, or a broadcast) and returns the call. Other events
// before it are skipped.
func (p *Client) ExpectCall(method string) client.Call {
	p.t.Helper()
	var got client.Call
	p.wait("a call of "+method, func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		if ok && c.Method == method {
			got = c
		}
		return ok && c.Method == method
	})
	return got
}

// WaitAttr waits until the player entity's attribute key, as the client
// sees it, equals want (compared with reflect.DeepEqual; numbers arrive
// as int64, uint64 or float64, maps as map[string]any, lists as []any).
func (p *Client) WaitAttr(key string, want any) {
	p.t.Helper()
	match := func() bool {
		e, ok := p.Client.Player()
		return ok && reflect.DeepEqual(e.Attrs[key], want)
	}
	if match() {
		return
	}
	p.wait(fmt.Sprintf("attribute %s = %v", key, want), func(client.Event) bool { return match() })
}

// ExpectDisconnect waits until the server closes the connection and
// returns the reason it gave (a kick's).
func (p *Client) ExpectDisconnect() string {
	p.t.Helper()
	var reason string
	p.waitOrClosed("the disconnection", func(ev client.Event) bool {
		d, ok := ev.(client.Disconnected)
		if ok {
			reason = d.Reason
		}
		return ok
	})
	return reason
}

// wait reads events until match says yes; it fails the test at the
// timeout or if the connection closes first.
func (p *Client) wait(what string, match func(client.Event) bool) {
	p.t.Helper()
	p.waitOrClosed(what, func(ev client.Event) bool {
		if d, ok := ev.(client.Disconnected); ok && !match(ev) {
			p.t.Fatalf("goworldtest: disconnected (%s) while waiting for %s", d.Reason, what)
		}
		return match(ev)
	})
}

func (p *Client) waitOrClosed(what string, match func(client.Event) bool) {
	p.t.Helper()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	// A refused call to a client is checked at each event: the call the
	// test waits for may be the one refused.
	check := func() {
		if err := p.cluster.clientCallErr(); err != nil {
			p.t.Fatalf("%v (while waiting for %s)", err, what)
		}
	}
	poll := time.NewTicker(20 * time.Millisecond) // a poll of that count, not a wait for time
	defer poll.Stop()
	for {
		check()
		select {
		case <-poll.C:
		case ev, ok := <-p.Events():
			if !ok {
				check()
				p.t.Fatalf("goworldtest: the connection is closed; waiting for %s", what)
			}
			if match(ev) {
				return
			}
		case <-timer.C:
			check()
			p.t.Fatalf("goworldtest: no %s within %v", what, p.timeout)
		}
	}
}

// Run runs fn with a testing.TB of its own, for code that is not a go
// test (an Example, a smoke-test program): a Fatal in fn ends fn, as in
// a test, and Run returns the failure as an error; cleanups registered
// with the TB (the cluster's stop) run when fn ends, last first.
func Run(fn func(t testing.TB)) error {
	t := &runTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.cleanup()
		fn(t)
	}()
	<-done
	if len(t.failures) > 0 {
		return errors.New(strings.Join(t.failures, "; "))
	}
	return nil
}

// runTB is Run's testing.TB. Only the methods the kit and simple callers
// use are implemented; the embedded nil TB makes the others panic.
type runTB struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (t *runTB) Helper()      {}
func (t *runTB) Name() string { return "goworldtest.Run" }
func (t *runTB) Log(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
}
func (t *runTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *runTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, fmt.Sprintf(format, args...))
}
func (t *runTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *runTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}
func (t *runTB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *runTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.failures) > 0
}
func (t *runTB) Cleanup(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, fn)
}
func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "goworldtest")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (t *runTB) cleanup() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		fn := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		fn()
	}
}
