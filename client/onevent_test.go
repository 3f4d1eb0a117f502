package client_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// handlerCollector is collect's counterpart for Options.OnEvent: the
// handler it returns records the events into a collector (waitFor and
// end work on it as on collect's), and fails the test if it is ever
// called from two goroutines at once or after Disconnected.
func handlerCollector(t *testing.T) (*collector, func(client.Event)) {
	col := &collector{changed: make(chan struct{}), done: make(chan struct{})}
	var inside atomic.Int32
	return col, func(ev client.Event) {
		if inside.Add(1) != 1 {
			t.Errorf("OnEvent called while another call runs (%T)", ev)
		}
		defer inside.Add(-1)
		col.mu.Lock()
		if col.closed {
			t.Errorf("OnEvent called after Disconnected: %#v", ev)
		}
		col.events = append(col.events, ev)
		_, last := ev.(client.Disconnected)
		col.closed = col.closed || last
		close(col.changed)
		col.changed = make(chan struct{})
		col.mu.Unlock()
		if last {
			close(col.done)
		}
	}
}

// withHandler returns opts with OnEvent set to a handlerCollector's.
func withHandler(t *testing.T, opts client.Options) (client.Options, *collector) {
	col, h := handlerCollector(t)
	opts.OnEvent = h
	return opts, col
}

// sameEvents checks that two runs of a scenario gave the same events in
// the same order: entity IDs are mapped to the order they first appear
// in (each run's entities have their own IDs), Disconnected's Err is
// compared by its message.
func sameEvents(t *testing.T, channel, handler []client.Event) {
	t.Helper()
	norm := func(evs []client.Event) []string {
		ids := map[rpc.EntityID]string{}
		id := func(e rpc.EntityID) string {
			if e == "" {
				return ""
			}
			if _, ok := ids[e]; !ok {
				ids[e] = fmt.Sprintf("E%d", len(ids))
			}
			return ids[e]
		}
		out := make([]string, len(evs))
		for i, ev := range evs {
			switch ev := ev.(type) {
			case client.EntityCreated:
				ev.ID = rpc.EntityID(id(ev.ID))
				out[i] = fmt.Sprintf("%#v", ev)
			case client.EntityDestroyed:
				ev.ID = rpc.EntityID(id(ev.ID))
				out[i] = fmt.Sprintf("%#v", ev)
			case client.Call:
				ev.EntityID = rpc.EntityID(id(ev.EntityID))
				out[i] = fmt.Sprintf("%#v", ev)
			case client.AttrChanged:
				ev.EntityID = rpc.EntityID(id(ev.EntityID))
				out[i] = fmt.Sprintf("%#v", ev)
			case client.SpaceEntered:
				ev.ID = rpc.EntityID(id(ev.ID))
				out[i] = fmt.Sprintf("%#v", ev)
			case client.Moved:
				for j := range ev.Updates {
					ev.Updates[j].ID = rpc.EntityID(id(ev.Updates[j].ID))
				}
				out[i] = fmt.Sprintf("%#v", ev)
			case client.Disconnected:
				out[i] = fmt.Sprintf("Disconnected(%q, %v)", ev.Reason, ev.Err)
			default:
				out[i] = fmt.Sprintf("%#v", ev)
			}
		}
		return out
	}
	a, b := norm(channel), norm(handler)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the events differ:\nthrough Events (%d):\n%q\nthrough OnEvent (%d):\n%q", len(a), a, len(b), b)
	}
}

// TestOnEventSameAsEventsFake: a fake gate sends every kind of frame a
// client handles (an entity with attributes, changes to them, calls to
// it and broadcasts, a space with positions, another entity shown and
// destroyed, a kick); run once through the Events channel and once
// through OnEvent, the client delivers the same events, with the same
// content, in the same order, Disconnected last; with OnEvent the
// Events channel is closed from the start.
func TestOnEventSameAsEventsFake(t *testing.T) {
	player, other, space := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	var script []byte
	frame := func(typ rpc.MsgType, body []byte) { script = rpc.AppendFrame(script, typ, body) }
	frame(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", map[string]any{"name": "a", "bag": []any{"x"}}))
	frame(rpc.MsgAttrChange, attrBody(t, player, rpc.AttrSet, path("name"), "b"))
	frame(rpc.MsgAttrChange, attrBody(t, player, rpc.AttrAppend, path("bag"), map[string]any{"k": []any{1, 2.5}}))
	frame(rpc.MsgEnterSpace, rpc.AppendPosition(rpc.AppendString(rpc.AppendEntityID(nil, space), "Arena"), rpc.Vector3{X: 1, Z: 2}, 0.5))
	frame(rpc.MsgCreateEntity, rpc.AppendPosition(createBody(t, other, false, "Monster", map[string]any{"hp": 3}), rpc.Vector3{X: 3}, 0))
	for i := range 100 {
		frame(rpc.MsgCallClient, callBody(t, player, "OnN", i, []byte{byte(i)}))
		frame(rpc.MsgCallClient, callBody(t, "", "OnSay", fmt.Sprint("line ", i)))
	}
	positions := rpc.AppendPosition(rpc.AppendEntityID([]byte{2, 0}, other), rpc.Vector3{X: 4}, 1)
	frame(rpc.MsgPositions, rpc.AppendPosition(rpc.AppendEntityID(positions, player), rpc.Vector3{Y: 5}, 2))
	frame(rpc.MsgAttrChange, attrBody(t, player, rpc.AttrPop, path("bag"), nil))
	frame(rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, other))
	frame(rpc.MsgKick, kickBody("that is all"))

	run := func(handler bool) ([]client.Event, []client.Entity) {
		if !handler {
			c, p := dialFake(t, quiet)
			p.write(script)
			var evs []client.Event
			for ev := range c.Events() {
				evs = append(evs, ev)
			}
			return evs, c.Entities()
		}
		opts, col := withHandler(t, quiet)
		c, p := dialFake(t, opts)
		if _, ok := <-c.Events(); ok {
			t.Fatal("Events() with OnEvent gave an event")
		}
		p.write(script)
		return col.end(t), c.Entities()
	}
	channel, viewC := run(false)
	handler, viewH := run(true)
	if len(viewH) != 1 || !reflect.DeepEqual(viewC, viewH) {
		t.Fatalf("the views at the end: %+v through Events, %+v through OnEvent", viewC, viewH)
	}
	if len(channel) != 4+1+200+2+1+1 {
		t.Fatalf("%d events through Events: %s", len(channel), describe(channel))
	}
	if d, ok := handler[len(handler)-1].(client.Disconnected); !ok || d.Reason != "that is all" || !errors.Is(d.Err, client.ErrKicked) {
		t.Fatalf("the last event: %#v", handler[len(handler)-1])
	}
	sameEvents(t, channel, handler)
}

// TestOnEventSameAsEventsCluster: the attribute scenario of
// TestClusterAttrSync against a real cluster (gate, dispatcher, game on
// 127.0.0.1), driven from the events as they come (each step's call
// made when the previous step's answer arrives: from the handler itself
// with OnEvent), gives the same events in the same order both ways, and
// the same view of the player at the end.
func TestOnEventSameAsEventsCluster(t *testing.T) {
	cl := startHeroCluster(t, false)
	const steps = 10
	// next is what the application does on ev: the next step's call.
	next := func(c *client.Client, ev client.Event) error {
		switch ev := ev.(type) {
		case client.EntityCreated:
			if ev.IsPlayer {
				return c.CallPlayer("Mutate", 0)
			}
		case client.Call:
			if step, _ := ev.Args[0].(int64); ev.Method == "OnMutated" && step+1 < steps {
				return c.CallPlayer("Mutate", step+1)
			}
		}
		return nil
	}
	done := func(evs []client.Event, _ bool) bool { return len(clientCalls(evs, "OnMutated")) == steps }
	run := func(handler bool) ([]client.Event, map[string]any) {
		var (
			c   *client.Client
			col *collector
			err error
		)
		if handler {
			var h func(client.Event)
			col, h = handlerCollector(t)
			ready := make(chan struct{})
			c, err = client.Dial(cl.GateAddr(0), client.Options{OnEvent: func(ev client.Event) {
				<-ready // c is set
				h(ev)
				if err := next(c, ev); err != nil {
					t.Errorf("from OnEvent: %v", err)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			close(ready)
		} else {
			if c, err = client.Dial(cl.GateAddr(0), client.Options{}); err != nil {
				t.Fatal(err)
			}
			col = &collector{changed: make(chan struct{}), done: make(chan struct{})}
			go func() {
				defer close(col.done)
				for ev := range c.Events() {
					col.mu.Lock()
					col.events = append(col.events, ev)
					close(col.changed)
					col.changed = make(chan struct{})
					col.mu.Unlock()
					if err := next(c, ev); err != nil {
						t.Errorf("from the event loop: %v", err)
					}
				}
			}()
		}
		col.waitFor(t, "every step", done)
		p, ok := c.Player()
		if !ok {
			t.Fatal("no player")
		}
		c.Close()
		return col.end(t), p.Attrs
	}
	channel, viewC := run(false)
	handler, viewH := run(true)
	if n := count[client.AttrChanged](channel); n < steps {
		t.Fatalf("%d AttrChanged events for %d steps: %s", n, steps, describe(channel))
	}
	sameEvents(t, channel, handler)
	deepEqual(t, "the views", viewH, viewC)
	if d, ok := handler[len(handler)-1].(client.Disconnected); !ok || !errors.Is(d.Err, client.ErrClosed) {
		t.Fatalf("the last event: %#v", handler[len(handler)-1])
	}
}

// TestRequestFromOnEvent: through a real cluster, a Request made from
// the handler returns ErrRequestInHandler at once (it does not wait for
// its context: the answer could never be read), RequestAs as well; a
// RequestAsync made from the handler gets its answer, on the handler's
// goroutine; and a Request made from another goroutine meanwhile is not
// refused.
func TestRequestFromOnEvent(t *testing.T) {
	r := entity.NewRegistry()
	if err := r.Register("RqPlayer", &RqPlayer{}); err != nil {
		t.Fatal(err)
	}
	cl := cluster.Start(t, cluster.Options{Registry: r, BootEntity: "RqPlayer"})
	type outcome struct {
		syncErr, asErr error
		waited         time.Duration
	}
	outcomes := make(chan outcome, 1)
	answers := make(chan any, 1)
	ready := make(chan struct{})
	var c *client.Client
	var handlerG atomic.Bool // set while the handler runs
	c, err := client.Dial(cl.GateAddr(0), client.Options{OnEvent: func(ev client.Event) {
		<-ready
		handlerG.Store(true)
		defer handlerG.Store(false)
		created, ok := ev.(client.EntityCreated)
		if !ok || !created.IsPlayer {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		start := time.Now()
		_, syncErr := c.Request(ctx, "Double", 1)
		_, asErr := client.RequestAs[int](ctx, c, "Double", 2)
		outcomes <- outcome{syncErr, asErr, time.Since(start)}
		err := c.RequestAsync(created.ID, "Double", []any{21}, func(result any, err error) {
			if !handlerG.Load() {
				// Not inside an OnEvent call, but on its goroutine: the
				// reader's. A Request here would be refused as well.
				_, rerr := c.Request(context.Background(), "Double", 0)
				if !errors.Is(rerr, client.ErrRequestInHandler) {
					t.Errorf("Request from RequestAsync's done: %v", rerr)
				}
			}
			if err != nil {
				answers <- err
				return
			}
			answers <- result
		})
		if err != nil {
			t.Errorf("RequestAsync from OnEvent: %v", err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	defer c.Close()
	var o outcome
	select {
	case o = <-outcomes:
	case <-time.After(eventTimeout):
		t.Fatal("no player")
	}
	if !errors.Is(o.syncErr, client.ErrRequestInHandler) || !errors.Is(o.asErr, client.ErrRequestInHandler) {
		t.Fatalf("Request from OnEvent: %v; RequestAs: %v; want ErrRequestInHandler", o.syncErr, o.asErr)
	}
	if o.waited >= eventTimeout {
		t.Fatalf("the refused requests took %v", o.waited)
	}
	select {
	case a := <-answers:
		if a != int64(42) {
			t.Fatalf("RequestAsync from OnEvent: %#v, want 42", a)
		}
	case <-time.After(eventTimeout):
		t.Fatal("no answer to RequestAsync")
	}
	if v, err := request(t, c, "Double", 5); err != nil || v != int64(10) {
		t.Fatalf("Request from the test's goroutine: %v, %v", v, err)
	}
}

// TestCloseWhileOnEventRuns: Close from another goroutine waits for the
// handler in progress (it does not return while the handler is held),
// then the handler gets Disconnected, before Close returns, and nothing
// after it; calls made before Close reach the gate.
func TestCloseWhileOnEventRuns(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	opts, col := withHandler(t, quiet)
	record := opts.OnEvent
	opts.OnEvent = func(ev client.Event) {
		record(ev)
		if c, ok := ev.(client.Call); ok && c.Method == "Hold" {
			close(entered)
			<-release
		}
	}
	c, p := dialFake(t, opts)
	id := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, id, true, "Avatar", nil))
	received := readCalls(p)
	p.send(rpc.MsgCallClient, callBody(t, id, "Hold"))
	select {
	case <-entered:
	case <-time.After(eventTimeout):
		t.Fatal("the handler did not get Hold")
	}
	const n = 20
	for i := range n {
		if err := c.CallPlayer("Move", i, ""); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	// What is under test is that Close does not return meanwhile.
	select {
	case <-closed:
		t.Fatal("Close returned while the handler ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(eventTimeout):
		t.Fatal("Close did not return after the handler did")
	}
	col.mu.Lock()
	evs := col.events
	col.mu.Unlock()
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "closed by the client" {
		t.Fatalf("events when Close returned: %s", describe(evs))
	}
	checkCalls(t, <-received, n)
}

// TestCloseFromOnEvent: Close called from the handler returns at once
// (it would otherwise wait for its own goroutine), the calls made before
// it from the handler reach the gate, the handler then gets
// Disconnected ("closed by the client") and nothing after it; a later
// Close returns; a call after it fails with ErrClosed.
func TestCloseFromOnEvent(t *testing.T) {
	const n = 20
	closeErr := make(chan error, 1)
	opts, col := withHandler(t, quiet)
	record := opts.OnEvent
	ready := make(chan struct{})
	var c *client.Client
	opts.OnEvent = func(ev client.Event) {
		<-ready
		record(ev)
		if call, ok := ev.(client.Call); ok && call.Method == "Quit" {
			for i := range n {
				if err := c.CallPlayer("Move", i, ""); err != nil {
					t.Errorf("a call from OnEvent: %v", err)
				}
			}
			closeErr <- c.Close()
		}
	}
	c, p := dialFake(t, opts)
	close(ready)
	id := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, id, true, "Avatar", nil))
	received := readCalls(p)
	p.send(rpc.MsgCallClient, callBody(t, id, "Quit"))
	p.send(rpc.MsgCallClient, callBody(t, id, "After")) // may or may not be read before the close
	select {
	case err := <-closeErr:
		if err != nil {
			t.Fatalf("Close from OnEvent: %v", err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("Close from OnEvent did not return")
	}
	evs := col.end(t)
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "closed by the client" || !errors.Is(d.Err, client.ErrClosed) {
		t.Fatalf("events: %s", describe(evs))
	}
	checkCalls(t, <-received, n)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.CallPlayer("Move", 0); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a call after Close: %v", err)
	}
}

// TestOnEventPanic: a handler that panics ends the session as a
// malformed frame does, without taking the process down: Disconnected
// (to the same handler) wraps ErrHandlerPanic, and a resumable session
// does not reconnect.
func TestOnEventPanic(t *testing.T) {
	for _, resume := range []bool{false, true} {
		t.Run(fmt.Sprint("resume=", resume), func(t *testing.T) {
			g := newSessionGate(t, 10*time.Second)
			opts := resumeOpts
			opts.Resume = resume
			opts, col := withHandler(t, opts)
			record := opts.OnEvent
			opts.OnEvent = func(ev client.Event) {
				record(ev)
				if call, ok := ev.(client.Call); ok && call.Method == "Boom" {
					panic("boom")
				}
			}
			c, err := client.Dial(g.addr(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			g.waitFor("the hello", func() bool { return g.cur != nil })
			player := rpc.NewEntityID()
			g.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
			g.send(rpc.MsgCallClient, callBody(t, player, "Boom"))
			evs := col.end(t)
			d, ok := evs[len(evs)-1].(client.Disconnected)
			if !ok || !errors.Is(d.Err, client.ErrHandlerPanic) || d.Reason != "the event handler panicked" || count[client.Reconnecting](evs) != 0 {
				t.Fatalf("events: %s", describe(evs))
			}
		})
	}
}

// TestOnEventResume: a resumable session with OnEvent across drops
// (TestResumeAcrossDrops's, smaller): the handler gets every server call
// exactly once and in order, Reconnecting before each Resumed, one
// Resumed per drop; Close from the handler of Resumed ends the session
// with Disconnected last; the gate gets the client's goodbye.
func TestOnEventResume(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	opts, col := withHandler(t, resumeOpts)
	record := opts.OnEvent
	ready := make(chan struct{})
	var c *client.Client
	var resumes atomic.Int32
	const drops = 3
	opts.OnEvent = func(ev client.Event) {
		<-ready
		record(ev)
		if _, ok := ev.(client.Resumed); ok && resumes.Add(1) == drops+1 {
			c.Close()
		}
	}
	c, err := client.Dial(g.addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	defer c.Close()
	g.waitFor("the hello", func() bool { return g.cur != nil })
	player := rpc.NewEntityID()
	g.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
	const n = 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			g.send(rpc.MsgCallClient, callBody(t, player, "OnN", i))
		}
	}()
	for d := range drops {
		col.waitFor(t, "traffic", func(evs []client.Event, _ bool) bool {
			return len(clientCalls(evs, "OnN")) >= (d+1)*n/(drops+1) || len(clientCalls(evs, "OnN")) == n
		})
		for !g.drop(d%2 == 1) {
			g.waitFor("a connection", func() bool { return g.cur != nil })
		}
		col.waitFor(t, "the resume", func(evs []client.Event, _ bool) bool { return count[client.Resumed](evs) == d+1 })
	}
	wg.Wait()
	evs := col.waitFor(t, "every call", func(evs []client.Event, _ bool) bool { return len(clientCalls(evs, "OnN")) == n })
	checkSequence(t, "server calls received through OnEvent", clientCalls(evs, "OnN"), n)
	// One more drop: the handler of its Resumed closes the client.
	for !g.drop(false) {
		g.waitFor("a connection", func() bool { return g.cur != nil })
	}
	evs = col.end(t)
	attempt := 0
	for _, ev := range evs {
		switch ev := ev.(type) {
		case client.Reconnecting:
			if ev.Attempt != attempt+1 {
				t.Fatalf("Reconnecting %+v after attempt %d: %s", ev, attempt, describe(evs))
			}
			attempt = ev.Attempt
		case client.Resumed:
			if attempt == 0 {
				t.Fatalf("Resumed without Reconnecting: %s", describe(evs))
			}
			attempt = 0
		}
	}
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "closed by the client" || count[client.Resumed](evs) != drops+1 {
		t.Fatalf("events: %s", describe(evs))
	}
	g.waitFor("the goodbye", func() bool { return g.byes == 1 })
}
