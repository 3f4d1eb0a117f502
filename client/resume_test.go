package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// resumeOpts: a resumable session without heartbeats (the fake gate sees
// only what the test makes the client send, and acks), reconnecting
// quickly.
var resumeOpts = client.Options{
	Resume: true, HeartbeatInterval: -1,
	ReconnectDelay: 5 * time.Millisecond, ReconnectDelayMax: 40 * time.Millisecond,
}

// collector reads a client's events on its own goroutine, so that a test
// can wait for them while it does other things.
type collector struct {
	mu      sync.Mutex
	changed chan struct{}
	events  []client.Event
	closed  bool
	done    chan struct{}
}

func collect(c *client.Client) *collector {
	col := &collector{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for ev := range c.Events() {
			col.mu.Lock()
			col.events = append(col.events, ev)
			close(col.changed)
			col.changed = make(chan struct{})
			col.mu.Unlock()
		}
		col.mu.Lock()
		col.closed = true
		close(col.changed)
		col.changed = make(chan struct{})
		col.mu.Unlock()
	}()
	return col
}

// waitFor waits until cond holds for the events so far.
func (col *collector) waitFor(t *testing.T, what string, cond func(evs []client.Event, closed bool) bool) []client.Event {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		col.mu.Lock()
		evs, closed, ch := col.events, col.closed, col.changed
		ok := cond(evs, closed)
		col.mu.Unlock()
		if ok {
			return evs
		}
		if closed {
			t.Fatalf("events closed while waiting for %s: %s", what, describe(evs))
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited in vain for %s: %s", what, describe(evs))
		}
	}
}

// end waits for the events channel to close and returns every event.
func (col *collector) end(t *testing.T) []client.Event {
	t.Helper()
	select {
	case <-col.done:
	case <-time.After(eventTimeout):
		t.Fatal("the events channel was not closed")
	}
	return col.events
}

// describe sums events up for a failure message.
func describe(evs []client.Event) string {
	var b strings.Builder
	calls := 0
	for _, ev := range evs {
		switch ev := ev.(type) {
		case client.Call:
			calls++
		case client.Reconnecting:
			fmt.Fprintf(&b, "Reconnecting(%d, %v) ", ev.Attempt, ev.Err)
		case client.Disconnected:
			fmt.Fprintf(&b, "Disconnected(%q, %v) ", ev.Reason, ev.Err)
		default:
			fmt.Fprintf(&b, "%T ", ev)
		}
	}
	return fmt.Sprintf("%sand %d calls", b.String(), calls)
}

func count[T client.Event](evs []client.Event) int {
	n := 0
	for _, ev := range evs {
		if _, ok := ev.(T); ok {
			n++
		}
	}
	return n
}

// clientCalls returns the first argument of the calls of method among evs.
func clientCalls(evs []client.Event, method string) []int64 {
	var got []int64
	for _, ev := range evs {
		if c, ok := ev.(client.Call); ok && c.Method == method {
			n, _ := c.Args[0].(int64)
			got = append(got, n)
		}
	}
	return got
}

// startSession dials g with opts and waits for the player the gate
// creates; the client is closed when the test ends.
func startSession(t *testing.T, g *sessionGate, addr string, opts client.Options) (*client.Client, *collector, rpc.EntityID) {
	t.Helper()
	c, err := client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	col := collect(c)
	t.Cleanup(func() {
		c.Close()
		<-col.done
	})
	g.waitFor("the hello", func() bool { return g.cur != nil })
	player := rpc.NewEntityID()
	g.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
	col.waitFor(t, "the player", func(evs []client.Event, _ bool) bool { return count[client.EntityCreated](evs) == 1 })
	return c, col, player
}

// TestResumeAcrossDrops: calls one way and the server's calls the other
// flow at once while the fake gate cuts the connection again and again
// (ends of stream and resets, each with frames in flight both ways):
// every call arrives exactly once and in order, both ways; each drop
// costs one Resumed, with Reconnecting before it; the view survives.
func TestResumeAcrossDrops(t *testing.T) {
	for _, tr := range []string{"tcp", "websocket"} {
		t.Run(tr, func(t *testing.T) {
			g := newSessionGate(t, 10*time.Second)
			addr := g.addr()
			if tr == "websocket" {
				addr = g.wsURL()
			}
			c, col, player := startSession(t, g, addr, resumeOpts)
			const n = 3000
			const drops = 6
			pad := strings.Repeat("p", 200)
			var wg sync.WaitGroup
			wg.Add(3)
			errs := make(chan error, 2)
			go func() { // the client's calls
				defer wg.Done()
				for i := range n {
					if err := c.CallPlayer("Move", i, pad); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() { // the server's calls
				defer wg.Done()
				for i := range n {
					g.send(rpc.MsgCallClient, callBody(t, player, "OnN", i, pad))
				}
			}()
			go func() { // the network
				defer wg.Done()
				for d := 0; d < drops; {
					// Cut when both directions have moved on since the
					// last cut (and so are in flight), as far as they go.
					g.waitFor("traffic", func() bool {
						return g.cur != nil && (len(g.in) >= (d+1)*n/(drops+1) || len(g.in) == n) &&
							(g.acked >= uint64((d+1)*n/(drops+1)) || int(g.acked) >= len(g.out)-1)
					})
					if g.drop(d%2 == 1) {
						d++
					}
				}
			}()
			wg.Wait()
			select {
			case err := <-errs:
				t.Fatalf("a call failed: %v", err)
			default:
			}
			g.waitFor("every call", func() bool { return len(callArgs(g.in, "Move")) >= n })
			evs := col.waitFor(t, "every server call and a resume per drop", func(evs []client.Event, _ bool) bool {
				return len(clientCalls(evs, "OnN")) >= n && count[client.Resumed](evs) >= drops
			})
			checkSequence(t, "calls received by the gate", g.calls("Move"), n)
			checkSequence(t, "server calls received by the client", clientCalls(evs, "OnN"), n)
			if r := count[client.Resumed](evs); r != drops {
				t.Fatalf("%d Resumed events for %d drops: %s", r, drops, describe(evs))
			}
			// Each Resumed follows at least one Reconnecting, numbered from 1.
			attempt := 0
			for _, ev := range evs {
				switch ev := ev.(type) {
				case client.Reconnecting:
					if ev.Attempt != attempt+1 || ev.Err == nil {
						t.Fatalf("Reconnecting %+v after attempt %d", ev, attempt)
					}
					attempt = ev.Attempt
				case client.Resumed:
					if attempt == 0 {
						t.Fatal("Resumed without Reconnecting")
					}
					attempt = 0
				case client.Disconnected, client.EntityDestroyed:
					t.Fatalf("event %#v", ev)
				}
			}
			if p, ok := c.Player(); !ok || p.ID != player {
				t.Fatalf("Player() after the resumes: %+v, %v", p, ok)
			}
			g.mu.Lock()
			resumes, sessions := g.resumes, g.sessions
			g.mu.Unlock()
			if resumes != drops || sessions != 1 {
				t.Fatalf("the gate took %d resumes and %d sessions, want %d and 1", resumes, sessions, drops)
			}
		})
	}
}

// TestAcksFollowThePolicy: the client acknowledges what it received,
// after a short while rather than frame by frame: a burst of 200 small
// frames is acknowledged, completely, with a few acks.
func TestAcksFollowThePolicy(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	_, col, player := startSession(t, g, g.addr(), resumeOpts)
	g.waitFor("the player's ack", func() bool { return g.acked == 1 })
	const n = 200
	for i := range n {
		g.send(rpc.MsgCallClient, callBody(t, player, "OnN", i))
	}
	col.waitFor(t, "the burst", func(evs []client.Event, _ bool) bool { return len(clientCalls(evs, "OnN")) == n })
	g.waitFor("the burst's ack", func() bool { return g.acked == n+1 })
	g.mu.Lock()
	acks := g.acks
	g.mu.Unlock()
	if acks > 6 {
		t.Fatalf("%d acks for %d small frames, want a few", acks, n+1)
	}
}

// TestResumeBufferBound: a gate that never acknowledges lets the client
// keep at most ResumeBuffer bytes of calls: past it calls fail with
// ErrResumeBufferFull and send nothing; once the gate acknowledges, they
// go through again.
func TestResumeBufferBound(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	g.ackN = 0
	opts := resumeOpts
	opts.ResumeBuffer = 8 << 10
	c, _, player := startSession(t, g, g.addr(), opts)
	frame := len(rpc.AppendFrame(nil, rpc.MsgCallEntity, callBody(t, player, "Move", 0, strings.Repeat("p", 100))))
	sent := 0
	for ; sent < 1000; sent++ {
		err := c.CallPlayer("Move", sent, strings.Repeat("p", 100))
		if errors.Is(err, client.ErrResumeBufferFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := opts.ResumeBuffer / frame; sent != want {
		t.Fatalf("%d calls of %d bytes kept before ErrResumeBufferFull, want %d (ResumeBuffer %d)", sent, frame, want, opts.ResumeBuffer)
	}
	if _, err := c.Request(context.Background(), "Who"); !errors.Is(err, client.ErrResumeBufferFull) {
		t.Fatalf("a request past the bound: %v", err)
	}
	g.waitFor("the calls", func() bool { return len(g.in) == sent })
	g.mu.Lock()
	g.cur.write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, uint64(sent))))
	g.mu.Unlock()
	deadline := time.Now().Add(eventTimeout)
	for {
		err := c.CallPlayer("Move", sent, strings.Repeat("p", 100))
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrResumeBufferFull) || time.Now().After(deadline) {
			t.Fatalf("a call after the ack: %v", err)
		}
		time.Sleep(time.Millisecond) // polls until the client has read the ack
	}
	g.waitFor("the call after the ack", func() bool { return len(g.in) == sent+1 })
	checkSequence(t, "calls", g.calls("Move"), sent+1)
}

// TestCallsWhileReconnecting: calls and requests made while the client
// reconnects are kept and delivered after the resume, in order after
// those made before; a request made before the drop is answered after
// it, on the new connection.
func TestCallsWhileReconnecting(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	g.deferReplies = true
	c, col, _ := startSession(t, g, g.addr(), resumeOpts)
	for i := range 5 {
		if err := c.CallPlayer("Move", i); err != nil {
			t.Fatal(err)
		}
	}
	request := func(method string, arg int) chan error {
		ch := make(chan error, 1)
		go func() {
			v, err := c.Request(context.Background(), method, arg)
			if err == nil && v != method {
				err = fmt.Errorf("answer %v", v)
			}
			ch <- err
		}()
		return ch
	}
	early := request("Early", 5)
	g.waitFor("the calls and the request", func() bool { return len(g.in) == 6 })
	hold := make(chan struct{})
	g.mu.Lock()
	g.hold = hold // resumes wait
	g.mu.Unlock()
	g.drop(false)
	col.waitFor(t, "Reconnecting", func(evs []client.Event, _ bool) bool { return count[client.Reconnecting](evs) > 0 })
	// Meanwhile: calls, and a request.
	for i := 6; i < 10; i++ {
		if err := c.CallPlayer("Move", i); err != nil {
			t.Fatalf("a call while reconnecting: %v", err)
		}
	}
	late := request("Late", 10) // sent before or after the resume: after the calls either way
	g.mu.Lock()
	g.hold = nil
	g.mu.Unlock()
	close(hold)
	col.waitFor(t, "Resumed", func(evs []client.Event, _ bool) bool { return count[client.Resumed](evs) == 1 })
	g.waitFor("every call", func() bool { return len(g.in) == 11 })
	g.answerRequests()
	for name, ch := range map[string]chan error{"early": early, "late": late} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("the %s request: %v", name, err)
			}
		case <-time.After(eventTimeout):
			t.Fatalf("the %s request was not answered", name)
		}
	}
	g.mu.Lock()
	in := g.in
	g.mu.Unlock()
	if got, want := fmt.Sprint(callArgs(in, "Move")), fmt.Sprint([]int64{0, 1, 2, 3, 4, 6, 7, 8, 9}); got != want {
		t.Fatalf("calls received: %v, want %v", got, want)
	}
	if e := callArgs(in[5:6], "Early"); len(e) != 1 || e[0] != 5 {
		t.Fatalf("the sixth frame is not the early request: %v", e)
	}
	if l := callArgs(in[10:], "Late"); len(l) != 1 || l[0] != 10 {
		t.Fatalf("the last frame is not the late request: %v", l)
	}
}
