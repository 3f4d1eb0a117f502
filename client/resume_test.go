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

// TestResumeRefused: a gate that refuses the resume (its reason in a
// kick) ends the session: Disconnected with the reason and
// ErrResumeRefused, a request that was waiting gets ErrClosed, and the
// client tries no more.
func TestResumeRefused(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	g.deferReplies = true
	c, col, _ := startSession(t, g, g.addr(), resumeOpts)
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), "Never")
		waiting <- err
	}()
	g.waitFor("the request", func() bool { return len(g.in) == 1 })
	g.mu.Lock()
	g.refuse = "resume refused: the session ended: kicked"
	g.mu.Unlock()
	g.drop(false)
	evs := col.end(t)
	d, ok := evs[len(evs)-1].(client.Disconnected)
	if !ok || d.Reason != "resume refused: the session ended: kicked" ||
		!errors.Is(d.Err, client.ErrResumeRefused) || !errors.Is(d.Err, client.ErrKicked) {
		t.Fatalf("last event %#v, want Disconnected with the refusal", evs[len(evs)-1])
	}
	if n := count[client.Reconnecting](evs); n != 1 || count[client.Resumed](evs) != 0 {
		t.Fatalf("events: %s", describe(evs))
	}
	if err := <-waiting; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("the waiting request: %v, want ErrClosed", err)
	}
	if err := c.CallPlayer("Move", 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a call after the refusal: %v, want ErrClosed", err)
	}
	g.mu.Lock()
	accepts := len(g.accepts)
	g.mu.Unlock()
	if accepts != 2 {
		t.Fatalf("%d connections, want the session's and the refused resume's", accepts)
	}
}

// TestKickDoesNotReconnect: a kick ends a resumable session as any other:
// Disconnected with the reason, no attempt to reconnect.
func TestKickDoesNotReconnect(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	_, col, _ := startSession(t, g, g.addr(), resumeOpts)
	g.kick("the game hosting your entity stopped (game1); please reconnect")
	evs := col.end(t)
	d, ok := evs[len(evs)-1].(client.Disconnected)
	if !ok || d.Reason != "the game hosting your entity stopped (game1); please reconnect" || !errors.Is(d.Err, client.ErrKicked) {
		t.Fatalf("last event %#v", evs[len(evs)-1])
	}
	if n := count[client.Reconnecting](evs); n != 0 {
		t.Fatalf("events after a kick: %s", describe(evs))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.accepts) != 1 {
		t.Fatalf("%d connections after a kick, want 1", len(g.accepts))
	}
}

// TestGateByeDoesNotReconnect: the gate's MsgBye, unasked, ends the
// session (the server closed it); no reconnect.
func TestGateByeDoesNotReconnect(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	_, col, _ := startSession(t, g, g.addr(), resumeOpts)
	g.mu.Lock()
	g.cur.write(rpc.AppendFrame(nil, rpc.MsgBye, nil))
	g.mu.Unlock()
	evs := col.end(t)
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "the server closed the connection" || count[client.Reconnecting](evs) != 0 {
		t.Fatalf("events: %s", describe(evs))
	}
}

// TestReconnectBackoff: while the gate does not answer, the attempts
// come further and further apart (ReconnectDelay doubling to
// ReconnectDelayMax, each within ±50%), measured by the gate's accept
// times; then the gate answers and the session resumes.
func TestReconnectBackoff(t *testing.T) {
	g := newSessionGate(t, 30*time.Second)
	opts := resumeOpts
	opts.ReconnectDelay, opts.ReconnectDelayMax = 20*time.Millisecond, 160*time.Millisecond
	const muted = 7
	_, col, _ := startSession(t, g, g.addr(), opts)
	g.mu.Lock()
	g.mute = muted
	g.mu.Unlock()
	g.drop(false)
	evs := col.waitFor(t, "the resume", func(evs []client.Event, _ bool) bool { return count[client.Resumed](evs) == 1 })
	if n := count[client.Reconnecting](evs); n != muted+1 {
		t.Fatalf("%d attempts, want %d: %s", n, muted+1, describe(evs))
	}
	g.mu.Lock()
	accepts := append([]time.Time(nil), g.accepts[1:]...) // the attempts
	g.mu.Unlock()
	if len(accepts) != muted+1 {
		t.Fatalf("%d attempts reached the gate, want %d", len(accepts), muted+1)
	}
	// The wait before attempt n+1 is at least half its delay; the gap
	// between attempts adds the failed attempt's time, so only the lower
	// bound and a generous upper bound hold under load.
	var gaps []time.Duration
	for i := 1; i < len(accepts); i++ {
		gap := accepts[i].Sub(accepts[i-1])
		delay := min(opts.ReconnectDelay<<i, opts.ReconnectDelayMax)
		if gap < delay/2 {
			t.Fatalf("attempt %d came %v after the previous one, less than half its delay %v", i+1, gap, delay)
		}
		if gap > 3*delay/2+2*time.Second {
			t.Fatalf("attempt %d came %v after the previous one, far more than its delay %v", i+1, gap, delay)
		}
		gaps = append(gaps, gap)
	}
	// Growing: the last two gaps (delays of 160ms: at least 80ms each)
	// against the first two (20 and 40ms ±50%: at most 90ms together).
	if first, last := gaps[0]+gaps[1], gaps[len(gaps)-2]+gaps[len(gaps)-1]; last <= first {
		t.Fatalf("gaps %v do not grow", gaps)
	}
}

// TestReconnectGivesUp: a gate that never answers: the client gives up
// after the resume window the gate announced (ReconnectMax 0), with
// Disconnected "could not reconnect within …" and ErrReconnectFailed;
// with ReconnectMax set, after that.
func TestReconnectGivesUp(t *testing.T) {
	for _, tc := range []struct {
		window, max time.Duration
		want        string
	}{
		{300 * time.Millisecond, 0, "could not reconnect within 300ms"},
		{time.Minute, 200 * time.Millisecond, "could not reconnect within 200ms"},
	} {
		g := newSessionGate(t, tc.window)
		opts := resumeOpts
		opts.ReconnectMax = tc.max
		_, col, _ := startSession(t, g, g.addr(), opts)
		g.mu.Lock()
		g.mute = -1
		g.mu.Unlock()
		began := time.Now()
		g.drop(true)
		evs := col.end(t)
		d, ok := evs[len(evs)-1].(client.Disconnected)
		if !ok || d.Reason != tc.want || !errors.Is(d.Err, client.ErrReconnectFailed) {
			t.Fatalf("last event %#v, want Disconnected %q", evs[len(evs)-1], tc.want)
		}
		limit := tc.max
		if limit == 0 {
			limit = tc.window
		}
		if waited := time.Since(began); waited < limit {
			t.Fatalf("gave up after %v, before %v", waited, limit)
		}
		if n := count[client.Reconnecting](evs); n < 2 {
			t.Fatalf("%d attempts: %s", n, describe(evs))
		}
	}
}

// TestCloseSaysBye: a resumable client's Close says goodbye (MsgBye) over
// TCP and WebSocket, and the gate's answer ends the connection: the gate
// ends the session at once instead of holding it. A client without
// Resume sends no MsgBye over TCP, as before.
func TestCloseSaysBye(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ws     bool
		resume bool
		byes   int
	}{
		{"tcp", false, true, 1},
		{"websocket", true, true, 1},
		{"tcp without Resume", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newSessionGate(t, 10*time.Second)
			addr := g.addr()
			if tc.ws {
				addr = g.wsURL()
			}
			opts := resumeOpts
			opts.Resume = tc.resume
			c, col, _ := startSession(t, g, addr, opts)
			if err := c.CallPlayer("Move", 0); err != nil {
				t.Fatal(err)
			}
			c.Close()
			evs := col.end(t)
			if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "closed by the client" {
				t.Fatalf("events: %s", describe(evs))
			}
			g.waitFor("the connection's end", func() bool { return len(g.conns) == 0 })
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.byes != tc.byes {
				t.Fatalf("%d MsgBye received, want %d", g.byes, tc.byes)
			}
			if checkSequence(t, "calls", callArgs(g.in, "Move"), 1); len(g.accepts) != 1 {
				t.Fatalf("%d connections, want 1", len(g.accepts))
			}
		})
	}
}

// TestResumeAfterSilence: a gate that stops answering (heartbeats
// included) while its connection stays open is taken as gone after the
// heartbeat timeout; the client reconnects, and the gate closes the old
// connection, then resumes: the server's calls sent meanwhile arrive.
func TestResumeAfterSilence(t *testing.T) {
	g := newSessionGate(t, 10*time.Second)
	opts := resumeOpts
	opts.HeartbeatInterval, opts.HeartbeatTimeout = 100*time.Millisecond, 300*time.Millisecond
	_, col, player := startSession(t, g, g.addr(), opts)
	g.mu.Lock()
	g.cur.silent = true // the gate hears the client, but the client hears nothing
	g.mu.Unlock()
	g.send(rpc.MsgCallClient, callBody(t, player, "OnN", 0))
	evs := col.waitFor(t, "the resume", func(evs []client.Event, _ bool) bool { return len(clientCalls(evs, "OnN")) == 1 })
	var r client.Reconnecting
	for _, ev := range evs {
		if rc, ok := ev.(client.Reconnecting); ok {
			r = rc
			break
		}
	}
	if !errors.Is(r.Err, rpc.ErrIdleTimeout) || count[client.Resumed](evs) != 1 {
		t.Fatalf("events: %s", describe(evs))
	}
}

// TestNotResumable: a gate that sends no MsgSession (resume_window = off,
// or older) leaves the session not resumable: the client sends no acks,
// and a drop ends it as without Resume.
func TestNotResumable(t *testing.T) {
	g := newSessionGate(t, 0)
	c, col, player := startSession(t, g, g.addr(), resumeOpts)
	for i := range 3 {
		g.send(rpc.MsgCallClient, callBody(t, player, "OnN", i))
		if err := c.CallPlayer("Move", i); err != nil {
			t.Fatal(err)
		}
	}
	g.waitFor("the calls", func() bool { return len(g.in) == 3 })
	col.waitFor(t, "the server's calls", func(evs []client.Event, _ bool) bool { return len(clientCalls(evs, "OnN")) == 3 })
	g.drop(false)
	evs := col.end(t)
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "the server closed the connection" || count[client.Reconnecting](evs) != 0 {
		t.Fatalf("events: %s", describe(evs))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.acks != 0 || len(g.accepts) != 1 {
		t.Fatalf("%d acks and %d connections, want none and 1", g.acks, len(g.accepts))
	}
}

// TestCloseWhileReconnecting: Close during the attempts stops them at
// once and ends with "closed by the client"; the goroutines end (goleak).
func TestCloseWhileReconnecting(t *testing.T) {
	g := newSessionGate(t, time.Minute)
	opts := resumeOpts
	opts.ReconnectDelay = time.Hour // the first attempt waits: Close must cut the wait
	opts.ReconnectDelayMax = time.Hour
	c, col, _ := startSession(t, g, g.addr(), opts)
	g.drop(false)
	col.waitFor(t, "Reconnecting", func(evs []client.Event, _ bool) bool { return count[client.Reconnecting](evs) == 1 })
	if err := c.CallPlayer("Move", 1); err != nil {
		t.Fatalf("a call while reconnecting: %v", err)
	}
	c.Close()
	evs := col.end(t)
	if d, ok := evs[len(evs)-1].(client.Disconnected); !ok || d.Reason != "closed by the client" || !errors.Is(d.Err, client.ErrClosed) {
		t.Fatalf("events: %s", describe(evs))
	}
	if err := c.CallPlayer("Move", 2); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a call after Close: %v", err)
	}
}
