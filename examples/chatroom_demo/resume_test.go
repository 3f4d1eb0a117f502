package main

// Issue 17's end-to-end tests of resumable sessions: the chat demo's real
// servers, the real client package with Options.Resume, and real network
// faults between them: a toxiproxy (reset_peer, or timeout until the
// toxic is removed, which then closes the connection) for TCP and
// WebSocket, and a UDP relay that forgets its mappings for KCP.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/udprelay"
	"github.com/goworld-engine/goworld/rpc"
)

// Heartbeats of the resume tests' gates: clients take a silent gate as
// gone after min(4 intervals, timeout) = 1 s, and the gate a silent
// client after 1.5 s, so that a black hole is noticed quickly.
const (
	resumeHBInterval = 250 * time.Millisecond
	resumeHBTimeout  = 1500 * time.Millisecond
)

// resumeOptions are the options of the tests' resumable clients: quick
// retries (the defaults start at 200 ms and double up to 5 s), and an
// answer to a resume within 3 s.
func resumeOptions(kcp bool) client.Options {
	return client.Options{Resume: true, KCP: kcp, DialTimeout: 3 * time.Second,
		ReconnectDelay: 20 * time.Millisecond, ReconnectDelayMax: 300 * time.Millisecond}
}

// dialOpts is dial with options of the caller's.
func dialOpts(t testing.TB, addr, name string, opts client.Options) *chatter {
	t.Helper()
	c, err := client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &chatter{t: t, name: name, c: c}
}

// awaitCond polls cond every 10 ms until it holds, failing t after
// within.
func awaitCond(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cutter cuts and heals the network between some clients and a gate.
// cut makes every connection through it fail; until heal, new ones fail
// too. Each cut it makes alternates its way of failing, where it has
// more than one.
type cutter interface {
	addr() string // what the clients dial
	cut()
	heal()
}

// toxiCutter is a toxiproxy between TCP or WebSocket clients and the
// gate. Odd cuts reset every connection (reset_peer: the next bytes
// either way end it with a RST, losing what was in flight; healing
// removes the toxic); even cuts are a black hole (timeout: every byte
// either way is lost, and the ends notice only by their heartbeats;
// healing stops the proxy, which closes every connection, and starts it
// again on the same address without the toxic). Toxiproxy v2.5.0 leaves
// a goroutine behind for a connection that a toxic ended while bytes
// were coming (TestMain ignores it).
type toxiCutter struct {
	t         testing.TB
	p         *toxiproxy.Proxy
	url       string // "ws://…/" for WebSocket clients
	n         int
	toxic     string
	resetOnly bool // every cut is a reset
}

func newToxiCutter(t testing.TB, name, upstream string, ws bool) *toxiCutter {
	t.Helper()
	p, err := startToxiProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	tc := &toxiCutter{t: t, p: p, url: p.Listen}
	if ws {
		tc.url = "ws://" + p.Listen + "/"
	}
	return tc
}

func (tc *toxiCutter) addr() string { return tc.url }

func (tc *toxiCutter) cut() {
	tc.t.Helper()
	tc.n++
	typ := "reset_peer"
	if tc.n%2 == 0 && !tc.resetOnly {
		typ = "timeout"
	}
	if err := addToxic(tc.p, typ, `{"timeout":0}`); err != nil {
		tc.t.Fatal(err)
	}
	tc.toxic = typ
}

func (tc *toxiCutter) heal() {
	tc.t.Helper()
	if tc.toxic == "timeout" {
		tc.p.Stop()
	}
	for _, stream := range []string{"upstream", "downstream"} {
		if err := tc.p.Toxics.RemoveToxic(tc.t.Context(), tc.toxic+"_"+stream); err != nil {
			tc.t.Fatalf("remove %s_%s: %v", tc.toxic, stream, err)
		}
	}
	if tc.toxic == "timeout" {
		if err := tc.p.Start(); err != nil {
			tc.t.Fatalf("toxiproxy on %s again: %v", tc.p.Listen, err)
		}
	}
}

// udpRelay stands between KCP clients and the gate (udprelay: a socket
// of its own to the gate per client address, as a NAT would). cut
// forgets every mapping and drops everything until heal: the clients and
// the gate notice only by their heartbeats, as when a phone changes
// networks. A client that dials again comes from a new address and gets
// a new mapping.
type udpRelay struct{ *udprelay.Relay }

func newUDPRelay(t testing.TB, upstream string) udpRelay {
	t.Helper()
	return udpRelay{udprelay.New(t, upstream, udprelay.Options{})}
}

func (r udpRelay) addr() string { return r.Addr() }
func (r udpRelay) cut()         { r.SetDown(true); r.Forget() }
func (r udpRelay) heal()        { r.SetDown(false) }

// member is a chatter whose events a goroutine reads: it checks each chat
// line as it comes (every sender's lines, "NAME N" with perhaps padding
// after, numbered from 1,
// exactly once and in order) and counts the reconnections.
type member struct {
	*chatter
	mu         sync.Mutex
	heard      map[string]int // sender → the last line heard
	reconnects int            // Reconnecting events with Attempt 1: drops noticed
	resumes    int
	left       []string // OnLeft names heard
	errs       []string
	end        *client.Disconnected
	done       chan struct{}
}

// listen starts reading ch's events into a member, until they end.
func listen(ch *chatter) *member {
	m := &member{chatter: ch, heard: map[string]int{}, done: make(chan struct{})}
	go m.read()
	return m
}

func (m *member) fail(format string, a ...any) {
	if len(m.errs) < 10 {
		m.errs = append(m.errs, m.name+": "+fmt.Sprintf(format, a...))
	}
}

func (m *member) read() {
	defer close(m.done)
	for ev := range m.c.Events() {
		m.mu.Lock()
		switch ev := ev.(type) {
		case client.Reconnecting:
			if ev.Attempt == 1 {
				m.reconnects++
			}
		case client.Resumed:
			m.resumes++
		case client.Disconnected:
			m.end = &ev
		case client.Call:
			switch ev.Method {
			case "OnError", "OnLoginFailed":
				m.fail("%s%v", ev.Method, ev.Args)
			case "OnLeft":
				m.left = append(m.left, fmt.Sprint(ev.Args[1]))
			case "OnChat":
				sender, text := fmt.Sprint(ev.Args[1]), fmt.Sprint(ev.Args[2])
				num, _, _ := strings.Cut(strings.TrimPrefix(text, sender+" "), " ") // "NAME N[ PADDING]"
				n, err := strconv.Atoi(num)
				if want := m.heard[sender] + 1; err != nil || n != want {
					m.fail("heard %.40q from %s, want line %d (lost, duplicated or reordered)", text, sender, want)
				} else {
					m.heard[sender] = n
				}
			}
		}
		m.mu.Unlock()
	}
}

// state returns a snapshot of what m counted, under its lock.
func (m *member) state(f func(m *member) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}

// group is the members of one room and the lines each has said.
type group struct {
	t       testing.TB
	members []*member
	said    map[string]int
}

// say has every member say k more numbered lines.
func (g *group) say(k int) {
	g.t.Helper()
	for range k {
		for _, m := range g.members {
			if err := m.c.CallPlayer("Say", fmt.Sprintf("%s %d", m.name, g.said[m.name]+1)); err != nil {
				g.t.Fatalf("%s: Say: %v", m.name, err)
			}
			g.said[m.name]++
		}
	}
}

// await waits until cond holds for every member, failing at the first
// error a member found.
func (g *group) await(within time.Duration, what string, cond func(m *member) bool) {
	g.t.Helper()
	awaitCond(g.t, within, what, func() bool {
		all := true
		for _, m := range g.members {
			m.mu.Lock()
			errs, end := m.errs, m.end
			ok := cond(m)
			m.mu.Unlock()
			if len(errs) > 0 {
				g.t.Fatal(strings.Join(errs, "\n"))
			}
			if end != nil {
				g.t.Fatalf("%s: disconnected: %s (%v)", m.name, end.Reason, end.Err)
			}
			all = all && ok
		}
		return all
	})
}

// heardAll waits until every member has heard every line said.
func (g *group) heardAll() {
	g.t.Helper()
	g.await(30*time.Second, fmt.Sprintf("not every line said (%v) heard by everyone", g.said), func(m *member) bool {
		for name, n := range g.said {
			if m.heard[name] != n {
				return false
			}
		}
		return true
	})
}

// TestChatThroughRepeatedDrops: three players of one room, with
// resumable sessions, keep chatting while the network between them and
// the gate is cut four times (over TCP and WebSocket: a reset, then a
// black hole, and again; over KCP, the relay forgets its mappings and
// goes dark). Lines are said before each cut, between the cut and the
// moment every client has noticed it (in flight when the network went:
// lost with the connection and resent), while the clients are
// reconnecting (kept by the client), and after. Every player hears
// every line of every player exactly once and in order, nobody is told
// disconnected, the room never hears that anyone left, and the gate
// still has the three clients and no held session.
func TestChatThroughRepeatedDrops(t *testing.T) {
	for _, transport := range []string{"tcp", "ws", "kcp"} {
		t.Run(transport, func(t *testing.T) {
			c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: t.TempDir(),
				KCP: transport == "kcp", WebSocket: transport == "ws",
				HeartbeatInterval: resumeHBInterval, HeartbeatTimeout: resumeHBTimeout})
			var cu cutter
			switch transport {
			case "tcp":
				cu = newToxiCutter(t, "clients", c.GateAddr(0), false)
			case "ws":
				cu = newToxiCutter(t, "clients", strings.TrimSuffix(strings.TrimPrefix(c.GateWSURL(0), "ws://"), "/"), true)
			case "kcp":
				cu = newUDPRelay(t, c.GateAddr(0))
			}
			g := &group{t: t, said: map[string]int{}}
			for i := range 3 {
				ch := dialOpts(t, cu.addr(), fmt.Sprintf("%s%d", transport, i), resumeOptions(transport == "kcp"))
				ch.register("pw", "drops")
				g.members = append(g.members, listen(ch))
			}
			// The registrations' OnEntered and OnMembers are behind each
			// member's own OnJoined, and its own first line behind those.
			g.say(3)
			g.heardAll()
			const cuts = 4
			for n := 1; n <= cuts; n++ {
				g.say(5)
				cu.cut()
				g.say(5)
				g.await(20*time.Second, fmt.Sprintf("cut %d not noticed by every client", n),
					func(m *member) bool { return m.reconnects >= n })
				g.say(5)
				cu.heal()
				g.await(20*time.Second, fmt.Sprintf("not every client resumed after cut %d", n),
					func(m *member) bool { return m.resumes >= n })
			}
			g.say(5)
			g.heardAll()
			for _, m := range g.members {
				if m.state(func(m *member) bool { return len(m.left) > 0 }) {
					t.Errorf("%s heard %v leave the room: an avatar was told its client had gone", m.name, m.left)
				}
			}
			gt := c.Gates[0]
			awaitCond(t, 10*time.Second, "held sessions left on the gate", func() bool { return gt.HeldSessions() == 0 })
			if n := gt.NumClients(); n != len(g.members) {
				t.Errorf("the gate has %d clients, want the %d sessions it started with", n, len(g.members))
			}
			total := 0
			for _, n := range g.said {
				total += n
			}
			t.Logf("%d lines said by %d players through %d cuts, each heard by all of them once and in order", total, len(g.members), cuts)
		})
	}
}

// TestResumeAfterTheWindowIsRefused: with resume_window = 500ms, a
// player whose network stays down for longer is gone: its room hears it
// leave when the window ends, and its client's resume, once the network
// is back, is refused with the gate's reason (Disconnected,
// ErrResumeRefused). The line it said into the dead connection is never
// delivered. A fresh login to the same account then works: the room
// hears the player's next line, once.
func TestResumeAfterTheWindowIsRefused(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: t.TempDir(),
		GateLimits: &gate.Config{GateTuning: config.GateTuning{ResumeWindow: 500 * time.Millisecond}}})
	cu := newToxiCutter(t, "alice", c.GateAddr(0), false)
	opts := resumeOptions(false)
	opts.ReconnectMax = time.Minute // past the window: the gate, not the client, gives up
	ach := dialOpts(t, cu.addr(), "alice", opts)
	ach.register("pw", "lobby")
	bch := dialOpts(t, c.GateAddr(0), "bob", client.Options{})
	bch.register("pw", "lobby")
	alice, bob := listen(ach), listen(bch)
	g := &group{t: t, members: []*member{alice, bob}, said: map[string]int{}}
	g.say(1)
	g.heardAll()

	cu.cut() // reset_peer: the next bytes either way end the connection
	if err := ach.c.CallPlayer("Say", "alice 2"); err != nil {
		t.Fatal(err)
	}
	awaitCond(t, 10*time.Second, "alice's client did not notice the cut", func() bool {
		return alice.state(func(m *member) bool { return m.reconnects >= 1 })
	})
	awaitCond(t, 10*time.Second, "the window ended and bob did not hear alice leave", func() bool {
		return bob.state(func(m *member) bool { return len(m.left) == 1 && m.left[0] == "alice" })
	})
	if n, held := c.Gates[0].NumClients(), c.Gates[0].HeldSessions(); n != 1 || held != 0 {
		t.Fatalf("after the window: %d clients, %d held; want bob alone", n, held)
	}
	cu.heal()
	<-alice.done
	end := alice.end
	if end == nil || end.Reason != "resume refused: unknown or expired session" || !errors.Is(end.Err, client.ErrResumeRefused) {
		t.Fatalf("alice's client ended with %+v, want the refusal of an expired session", end)
	}
	if got := bob.state(func(m *member) bool { return m.heard["alice"] == 1 }); !got {
		t.Fatalf("bob heard alice's line said into the cut")
	}

	// A fresh session: log in again, the room hears the next line once.
	ach2 := dialOpts(t, cu.addr(), "alice", resumeOptions(false))
	ach2.login("pw", "lobby")
	g.said["alice"] = 1 // alice's line 2 went with the session: said again
	alice2 := listen(ach2)
	alice2.mu.Lock()
	maps.Copy(alice2.heard, g.said) // the new session hears from here on
	alice2.mu.Unlock()
	g.members[0] = alice2
	g.say(2)
	g.heardAll()
}

// tokenTap is a TCP relay between resumable clients and the gate that
// reads the gate's side of the stream as an eavesdropper would, and
// keeps every resume token it sees (MsgSession's, then MsgResumed's).
// cut resets every connection through it; while it is down, it resets
// new ones at once.
type tokenTap struct {
	t        testing.TB
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	down     bool
	conns    map[net.Conn]bool
	tokens   []rpc.ResumeToken
	wg       sync.WaitGroup
}

func newTokenTap(t testing.TB, upstream string) *tokenTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tokenTap{t: t, ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	tp.wg.Add(1)
	go tp.serve()
	t.Cleanup(func() {
		ln.Close()
		tp.cut()
		tp.wg.Wait()
	})
	return tp
}

func (tp *tokenTap) serve() {
	defer tp.wg.Done()
	for {
		nc, err := tp.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", tp.upstream)
		tp.mu.Lock()
		if err != nil || tp.down {
			tp.mu.Unlock()
			reset(nc)
			if up != nil {
				up.Close()
			}
			continue
		}
		tp.conns[nc], tp.conns[up] = true, true
		tp.mu.Unlock()
		tp.wg.Add(2)
		go func() {
			defer tp.wg.Done()
			io.Copy(up, nc)
			tp.drop(nc, up)
		}()
		go func() {
			defer tp.wg.Done()
			tp.sniff(io.TeeReader(up, nc))
			tp.drop(nc, up)
		}()
	}
}

// sniff reads the gate's frames and keeps the tokens, until r fails.
func (tp *tokenTap) sniff(r io.Reader) {
	var hdr [rpc.HeaderSize]byte
	for {
		typ, body, err := rpc.ReadFrame(r, hdr[:], 16<<20)
		if err != nil {
			return
		}
		var tok rpc.ResumeToken
		switch typ {
		case rpc.MsgSession:
			s, err := rpc.DecodeSession(body)
			if err != nil {
				continue
			}
			tok = s.Token
		case rpc.MsgResumed:
			s, err := rpc.DecodeResumed(body)
			if err != nil {
				continue
			}
			tok = s.Token
		default:
			continue
		}
		tp.mu.Lock()
		tp.tokens = append(tp.tokens, tok)
		tp.mu.Unlock()
	}
}

// drop resets both ends of a connection through the tap.
func (tp *tokenTap) drop(ends ...net.Conn) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, nc := range ends {
		if tp.conns[nc] {
			delete(tp.conns, nc)
			reset(nc)
		}
	}
}

func (tp *tokenTap) cut() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for nc := range tp.conns {
		reset(nc)
		delete(tp.conns, nc)
	}
}

func (tp *tokenTap) setDown(down bool) {
	tp.mu.Lock()
	tp.down = down
	tp.mu.Unlock()
}

// token returns the n-th token seen (from 0), waiting for it.
func (tp *tokenTap) token(n int) rpc.ResumeToken {
	tp.t.Helper()
	var tok rpc.ResumeToken
	awaitCond(tp.t, 10*time.Second, fmt.Sprintf("no token %d on the wire", n), func() bool {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		if len(tp.tokens) > n {
			tok = tp.tokens[n]
			return true
		}
		return false
	})
	return tok
}

// reset closes nc with a RST, losing what it had not sent.
func reset(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

// stealResume resumes with tok (claiming received frames) on a
// connection of its own to the gate at addr, and returns the reason of
// the kick that refuses it; it fails t if the gate accepts.
func stealResume(t testing.TB, addr string, tok rpc.ResumeToken, received uint64) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := rpc.AppendResume(nil, rpc.Resume{Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: tok, Received: received})
	if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgResume, body)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [rpc.HeaderSize]byte
	for {
		typ, body, err := rpc.ReadFrame(nc, hdr[:], 16<<20)
		if err != nil {
			t.Fatalf("no answer to a resume with a stolen token: %v", err)
		}
		switch typ {
		case rpc.MsgKick:
			return rpc.NewReader(body).String()
		case rpc.MsgResumed:
			t.Fatalf("the gate resumed a session for a token %x it had voided or never given", tok[:10])
		}
	}
}

// forge returns tok with its secret part (after the gate's and client's
// IDs) replaced by random bytes: a guess at the session tok names.
func forge(tok rpc.ResumeToken) rpc.ResumeToken {
	rand.Read(tok[10:])
	return tok
}

// TestStolenTokensAreRefused: an eavesdropper between a resumable
// player and the gate sees every token. A guess at the player's session
// (its IDs, another secret) is refused while the player is connected and
// while its session is held; the token it used to resume, replayed, is
// refused (a token is good for one resume), and so is the one after
// that, once used. Every refusal is "resume refused: unknown or expired
// session" and harms nothing: the player resumes when its network is
// back, and every line either way arrives once, in order, held lines
// included.
func TestStolenTokensAreRefused(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: t.TempDir()})
	gt := c.GateAddr(0)
	tap := newTokenTap(t, gt)
	ach := dialOpts(t, tap.ln.Addr().String(), "alice", resumeOptions(false))
	ach.register("pw", "lobby")
	bch := dialOpts(t, gt, "bob", client.Options{})
	bch.register("pw", "lobby")
	alice, bob := listen(ach), listen(bch)
	g := &group{t: t, members: []*member{alice, bob}, said: map[string]int{}}
	const refused = "resume refused: unknown or expired session"
	steal := func(what string, tok rpc.ResumeToken) {
		t.Helper()
		if got := stealResume(t, gt, tok, 0); got != refused {
			t.Fatalf("%s: refused with %q, want %q", what, got, refused)
		}
	}

	first := tap.token(0)
	steal("a guess while the player is connected", forge(first))
	g.say(3)
	g.heardAll()

	tap.cut() // the player resumes with first, and gets second
	awaitCond(t, 10*time.Second, "alice did not resume", func() bool { return alice.state(func(m *member) bool { return m.resumes >= 1 }) })
	second := tap.token(1)
	steal("the first token, replayed after its resume", first)
	g.say(3)
	g.heardAll()

	// The player's network goes and stays down: its session is held.
	tap.setDown(true)
	tap.cut()
	awaitCond(t, 10*time.Second, "alice's session not held", func() bool { return c.Gates[0].HeldSessions() == 1 })
	steal("the first token, while the session is held", first)
	steal("a guess while the session is held", forge(second))
	g.say(3) // bob's lines are held for alice, alice's kept by her client
	if n := c.Gates[0].HeldSessions(); n != 1 {
		t.Fatalf("%d held sessions after the refusals, want alice's", n)
	}
	tap.setDown(false)
	awaitCond(t, 20*time.Second, "alice did not resume after the refusals", func() bool {
		return alice.state(func(m *member) bool { return m.resumes >= 2 })
	})
	steal("the second token, replayed after its resume", second)
	g.say(3)
	g.heardAll()
	if bob.state(func(m *member) bool { return len(m.left) > 0 }) {
		t.Error("bob heard alice leave: the refusals ended her session")
	}
	if n := c.Gates[0].NumClients(); n != 2 {
		t.Errorf("the gate has %d clients, want alice's and bob's sessions", n)
	}
}

// BenchmarkResumeLatency measures the time from the network coming back
// to the first chat line delivered after the resume (ms/resume), for a
// resumable client behind a fault, over each transport, on an
// in-process cluster (the resume tests' heartbeats). Each round: the
// network is cut (over TCP and WebSocket, toxiproxy's reset_peer, which
// the client notices at once; over KCP, the relay goes dark, which the
// client notices by its heartbeats within a second), another player says
// a line, the network stays down for 1 s after the client noticed, then
// comes back: the clock runs from then until the line arrives. What it
// includes: the wait until the client's next attempt (its backoff; a
// KCP attempt under way resends its hello every 250 ms), the
// dial, the resume and the resent line. "default" is the client's
// default backoff (200 ms doubling to 5 s, times 0.5 to 1.5); "quick"
// the tests' (20 ms doubling to 300 ms).
//
//	go test ./examples/chatroom_demo/ -run '^$' -bench ResumeLatency -benchtime 10x
func BenchmarkResumeLatency(b *testing.B) {
	for _, transport := range []string{"tcp", "ws", "kcp"} {
		for _, backoff := range []string{"default", "quick"} {
			b.Run(transport+"/"+backoff, func(b *testing.B) {
				c := cluster.Start(b, cluster.Options{Registry: registry(b), BootEntity: "Account", StorageDir: b.TempDir(),
					KCP: transport == "kcp", WebSocket: transport == "ws",
					HeartbeatInterval: resumeHBInterval, HeartbeatTimeout: resumeHBTimeout})
				var cu cutter
				switch transport {
				case "tcp":
					tc := newToxiCutter(b, "bench", c.GateAddr(0), false)
					tc.resetOnly, cu = true, tc
				case "ws":
					tc := newToxiCutter(b, "bench", strings.TrimSuffix(strings.TrimPrefix(c.GateWSURL(0), "ws://"), "/"), true)
					tc.resetOnly, cu = true, tc
				case "kcp":
					cu = newUDPRelay(b, c.GateAddr(0))
				}
				opts := client.Options{Resume: true, KCP: transport == "kcp"}
				if backoff == "quick" {
					opts = resumeOptions(transport == "kcp")
				}
				rch := dialOpts(b, cu.addr(), "receiver", opts)
				rch.register("pw", "bench")
				sch := dialOpts(b, c.GateAddr(0), "sender", client.Options{})
				sch.register("pw", "bench")
				listen(sch) // its events are read, and checked
				var total time.Duration
				b.ResetTimer()
				for i := range b.N {
					cu.cut()
					line := fmt.Sprintf("sender %d", i+1)
					if err := sch.c.CallPlayer("Say", line); err != nil {
						b.Fatal(err)
					}
					// Until the client notices, then 1 s of outage.
					for {
						if ev, ok := rch.next().(client.Reconnecting); ok && ev.Attempt == 1 {
							break
						}
					}
					time.Sleep(time.Second)
					cu.heal()
					began := time.Now()
					resumed, got := false, false
					for !got {
						switch ev := rch.next().(type) {
						case client.Resumed:
							resumed = true
						case client.Call:
							if ev.Method == "OnChat" && fmt.Sprint(ev.Args[2]) == line {
								if !resumed {
									b.Fatalf("%q arrived before the resume", line)
								}
								total += time.Since(began)
								got = true
							} else if ev.Method == "OnChat" {
								b.Fatalf("heard %q, want %q", ev.Args[2], line)
							}
						case client.Disconnected:
							b.Fatalf("disconnected: %s", ev.Reason)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/resume")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
