package gate_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Resumer is the boot entity of the resume tests: it echoes, answers
// requests, floods its client on demand (also when its client is away),
// and reports its client hooks on resumerEvents.
type Resumer struct {
	entity.Entity
	floodN, floodSize int // FloodWhenAway's
}

func (r *Resumer) DescribeEntityType(d *entity.TypeDesc) {
	d.ExposeToClient("Echo", "Ask", "Flood", "FloodWhenAway", "KickMe")
}
func (r *Resumer) Echo(s string)                { r.CallClient("OnEcho", s) }
func (r *Resumer) Ask(s string) (string, error) { return "re:" + s, nil }
func (r *Resumer) KickMe(reason string)         { r.Kick(reason) }
func (r *Resumer) FloodWhenAway(n, size int)    { r.floodN, r.floodSize = n, size }
func (r *Resumer) Flood(n, size int) {
	blob := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		r.CallClient("OnFlood", i, blob)
	}
}
func (r *Resumer) OnClientAway() {
	noteResumer(r.ID(), "away")
	if r.floodN > 0 {
		r.Flood(r.floodN, r.floodSize)
	}
}
func (r *Resumer) OnClientBack() { noteResumer(r.ID(), "back") }
func (r *Resumer) OnClientDisconnected() {
	noteResumer(r.ID(), "gone")
	r.Destroy()
}

// resumerEvent is a Resumer's client hook that ran.
type resumerEvent struct {
	id   rpc.EntityID
	what string // away, back, gone
}

var resumerEvents = make(chan resumerEvent, 1024)

func noteResumer(id rpc.EntityID, what string) {
	select {
	case resumerEvents <- resumerEvent{id, what}:
	default:
	}
}

// awaitHook waits up to 10 s for entity id's hook what, failing on any
// other hook of id's meanwhile.
func awaitHook(t *testing.T, id rpc.EntityID, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-resumerEvents:
			if ev.id != id {
				continue
			}
			if ev.what != what {
				t.Fatalf("entity %s: hook %s, want %s", id, ev.what, what)
			}
			return
		case <-deadline:
			t.Fatalf("entity %s: no %s within 10s", id, what)
		}
	}
}

// noHook checks that no hook of id's has run (or runs within a short
// look at the queue: what has run is there already).
func noHook(t *testing.T, id rpc.EntityID) {
	t.Helper()
	for {
		select {
		case ev := <-resumerEvents:
			if ev.id == id {
				t.Fatalf("entity %s: hook %s, want none", id, ev.what)
			}
		default:
			return
		}
	}
}

// startResumers starts a cluster whose boot entity is a Resumer, with the
// gate settings in lim (ResumeWindow etc.) and the transports in o.
func startResumers(t testing.TB, o cluster.Options, lim gate.Config) *cluster.Cluster {
	r := entity.NewRegistry()
	if err := r.Register("Resumer", &Resumer{}); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	o.Registry, o.BootEntity, o.Logger, o.GateLimits = r, "Resumer", log, &lim
	o.ClientStringLimit = config.Unlimited
	for len(resumerEvents) > 0 {
		<-resumerEvents
	}
	return cluster.Start(t, o)
}

// frame is one frame a raw session read; end marks a connection's end.
type frame struct {
	t    rpc.MsgType
	body []byte
	end  error
}

// dialer opens a connection of one transport, and returns it with a
// function that cuts it abruptly (no goodbye of any layer).
type dialer func(t testing.TB) (net.Conn, func())

func tcpDialer(addr string) dialer {
	return func(t testing.TB) (net.Conn, func()) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return nc, func() { nc.(*net.TCPConn).SetLinger(0); nc.Close() } // a reset
	}
}

func kcpDialer(addr string) dialer {
	return func(t testing.TB) (net.Conn, func()) {
		s := rawKCP(t, addr)
		return s, func() { s.Close() } // KCP says nothing: the gate does not notice
	}
}

func wsDialer(url string) dialer {
	return func(t testing.TB) (net.Conn, func()) {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return wsconn.New(ws), func() { ws.NetConn().Close() } // no close message
	}
}

// rawSession is a hand-written resumable client: it counts the session
// frames it receives, keeps those it sends, and resumes.
type rawSession struct {
	t       testing.TB
	dial    dialer
	autoAck bool

	wmu  sync.Mutex
	nc   net.Conn
	cut  func()
	done chan struct{} // the current connection's reader stopped

	in       chan frame    // every frame of every connection, in order
	got      atomic.Uint64 // session frames received
	token    rpc.ResumeToken
	sent     [][]byte // session frames sent (frame i is number i+1)
	player   rpc.EntityID
	gateAcks []uint64 // MsgAcks from the gate, as read by next
	pending  []frame  // frames of a dropped connection, still to be read by next
}

func newRawSession(t testing.TB, d dialer) *rawSession {
	r := &rawSession{t: t, dial: d, autoAck: true, in: make(chan frame, 1<<14)}
	t.Cleanup(func() { r.drop() })
	return r
}

// connect opens a connection and starts its reader.
func (r *rawSession) connect() {
	nc, cut := r.dial(r.t)
	done := make(chan struct{})
	r.wmu.Lock()
	r.nc, r.cut, r.done = nc, cut, done
	r.wmu.Unlock()
	go r.read(nc, done)
}

func (r *rawSession) read(nc net.Conn, done chan struct{}) {
	defer close(done)
	var hdr [rpc.HeaderSize]byte
	for {
		t, body, err := rpc.ReadFrame(nc, hdr[:], 16<<20)
		if err != nil {
			r.in <- frame{end: err}
			return
		}
		if rpc.IsSessionFrame(t) {
			if n := r.got.Add(1); r.autoAck && n%8 == 0 {
				r.write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, n)))
			}
		}
		r.in <- frame{t: t, body: body}
	}
}

// write writes bytes on the current connection (errors: it dropped).
func (r *rawSession) write(b []byte) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.nc != nil {
		r.nc.Write(b)
	}
}

// send sends a session frame and keeps it for a resend.
func (r *rawSession) send(t rpc.MsgType, body []byte) {
	f := rpc.AppendFrame(nil, t, body)
	r.sent = append(r.sent, f)
	r.write(f)
}

// sendAll sends session frames in one write.
func (r *rawSession) sendAll(frames ...[]byte) {
	var all []byte
	for _, f := range frames {
		r.sent = append(r.sent, f)
		all = append(all, f...)
	}
	r.write(all)
}

// drop cuts the connection abruptly and waits for its reader.
func (r *rawSession) drop() {
	r.wmu.Lock()
	cut, done := r.cut, r.done
	r.nc, r.cut = nil, nil
	r.wmu.Unlock()
	if cut != nil {
		cut()
		<-done
	}
}

// next returns the next frame that is not a heartbeat's answer or an
// ack (acks are recorded), within 10 s; a connection's end is returned.
func (r *rawSession) next() frame {
	r.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		var f frame
		if len(r.pending) > 0 {
			f, r.pending = r.pending[0], r.pending[1:]
		} else {
			select {
			case f = <-r.in:
			case <-timeout:
				r.t.Fatal("no frame within 10s")
			}
		}
		{
			switch f.t {
			case rpc.MsgHeartbeatAck:
				continue
			case rpc.MsgAck:
				n, err := rpc.DecodeAck(f.body)
				if err != nil {
					r.t.Fatalf("gate's Ack: %v", err)
				}
				r.gateAcks = append(r.gateAcks, n)
				continue
			}
			return f
		}
	}
}

// nextLive is next, skipping the ends of dropped connections.
func (r *rawSession) nextLive() frame {
	r.t.Helper()
	for {
		if f := r.next(); f.end == nil {
			return f
		}
	}
}

// start connects and says hello asking for a resumable session: the
// first frame must be MsgSession, then the player comes.
func (r *rawSession) start() {
	r.t.Helper()
	r.connect()
	r.write(rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendClientHelloFlags(nil, rpc.ProtocolVersion, rpc.HelloResume)))
	f := r.next()
	if f.t != rpc.MsgSession {
		r.t.Fatalf("first frame %v (%v), want MsgSession", f.t, f.end)
	}
	s, err := rpc.DecodeSession(f.body)
	if err != nil {
		r.t.Fatal(err)
	}
	r.token = s.Token
	for r.player == "" {
		f := r.nextLive()
		if f.t == rpc.MsgCreateEntity {
			rd := rpc.NewReader(f.body)
			id := rd.EntityID()
			if rd.Uint8() == 1 {
				r.player = id
			}
		}
	}
}

// resume connects again and resumes: MsgResumed must come first; then
// the frames the gate did not receive are resent. It returns what the
// gate had received.
func (r *rawSession) resume() uint64 {
	r.t.Helper()
	// What the dropped connection brought stays for next; the new
	// connection's frames come after its end.
	for ended := false; !ended; {
		select {
		case f := <-r.in:
			if ended = f.end != nil; !ended {
				r.pending = append(r.pending, f)
			}
		case <-time.After(10 * time.Second):
			r.t.Fatal("the dropped connection's reader did not end")
		}
	}
	r.connect()
	r.write(rpc.AppendFrame(nil, rpc.MsgResume, rpc.AppendResume(nil, rpc.Resume{
		Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: r.token, Received: r.got.Load()})))
	var f frame
	select {
	case f = <-r.in:
	case <-time.After(10 * time.Second):
		r.t.Fatal("no answer to the resume within 10s")
	}
	if f.t != rpc.MsgResumed {
		if f.t == rpc.MsgKick {
			r.t.Fatalf("resume refused: %q", rpc.NewReader(f.body).String())
		}
		r.t.Fatalf("first frame after resume %v, want MsgResumed", f.t)
	}
	rd, err := rpc.DecodeResumed(f.body)
	if err != nil {
		r.t.Fatal(err)
	}
	if rd.Token == r.token {
		r.t.Fatal("the token did not change")
	}
	if rd.Received > uint64(len(r.sent)) {
		r.t.Fatalf("gate received %d frames, %d were sent", rd.Received, len(r.sent))
	}
	r.token = rd.Token
	var all []byte
	for _, f := range r.sent[rd.Received:] {
		all = append(all, f...)
	}
	r.write(all)
	return rd.Received
}

// echoFrame is a session frame calling id's Echo(s).
func echoFrame(id rpc.EntityID, s string) []byte {
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), "Echo")
	b, _ = rpc.AppendArgs(b, []any{s})
	return rpc.AppendFrame(nil, rpc.MsgCallEntity, b)
}

// askFrame is a session frame requesting id's Ask(s) as request reqID.
func askFrame(id rpc.EntityID, reqID uint32, s string) []byte {
	args, _ := rpc.AppendArgs(nil, []any{s})
	return rpc.AppendFrame(nil, rpc.MsgRequest, rpc.AppendClientRequest(nil, id, reqID, "Ask", args))
}

// callOf decodes a MsgCallClient body: its method and arguments.
func callOf(t testing.TB, body []byte) (string, []any) {
	rd := rpc.NewReader(body)
	rd.EntityID()
	m := rd.String()
	args, err := rpc.DecodeAnyArgs(rd.Rest())
	if err != nil || rd.Err() != nil {
		t.Fatalf("CallClient: %v %v", err, rd.Err())
	}
	return m, args
}

// kickReason reads a raw connection's frames until a kick and the end of
// the stream, and returns the kick's reason.
func kickReason(t testing.TB, nc net.Conn) string {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [rpc.HeaderSize]byte
	reason := ""
	for {
		typ, body, err := rpc.ReadFrame(nc, hdr[:], 16<<20)
		if err != nil {
			if reason == "" {
				t.Fatalf("no kick before %v", err)
			}
			return reason
		}
		if typ == rpc.MsgKick {
			reason = rpc.NewReader(body).String()
		}
	}
}

// tryResume sends a MsgResume body as a new connection's first frame and
// returns the kick it gets (the connection must then end).
func tryResume(t testing.TB, d dialer, body []byte) string {
	t.Helper()
	nc, cut := d(t)
	defer cut()
	nc.Write(rpc.AppendFrame(nil, rpc.MsgResume, body))
	return kickReason(t, nc)
}

// TestResumeLosesNothingOverEachTransport: a resumable client sends
// bursts of calls and requests and cuts its connection at once after
// each burst, with frames in flight both ways (over TCP a reset; over
// KCP a silent close, which the gate does not notice before the resume,
// so the resume closes the old session itself; over WebSocket a close
// without a close message), then resumes. Every echo comes back exactly
// once and in order, every request gets exactly one answer, and the
// gate's count of the client's frames is exactly what the client sent.
func TestResumeLosesNothingOverEachTransport(t *testing.T) {
	c := startResumers(t, cluster.Options{KCP: true, WebSocket: true}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second}})
	for _, tr := range []struct {
		name string
		d    dialer
	}{{"tcp", tcpDialer(c.GateAddr(0))}, {"kcp", kcpDialer(c.GateAddr(0))}, {"websocket", wsDialer(c.GateWSURL(0))}} {
		t.Run(tr.name, func(t *testing.T) {
			r := newRawSession(t, tr.d)
			r.start()
			var want []string
			reqID := uint32(0)
			const rounds, burst = 4, 40
			for round := 0; round < rounds; round++ {
				var frames [][]byte
				for i := 0; i < burst; i++ {
					s := fmt.Sprintf("r%d-%d", round, i)
					want = append(want, s)
					frames = append(frames, echoFrame(r.player, s))
					if i%10 == 9 {
						reqID++
						frames = append(frames, askFrame(r.player, reqID, s))
					}
				}
				r.sendAll(frames...)
				r.drop()
				had := r.got.Load()
				gateHad := r.resume()
				t.Logf("round %d: the client resent %d of %d frames, after %d received from the gate", round, len(r.sent)-int(gateHad), len(r.sent), had)
			}
			want = append(want, "end")
			r.send(rpc.MsgCallEntity, echoFrame(r.player, "end")[rpc.HeaderSize:])
			var echoes []string
			answers := map[uint32]int{}
			lastAnswer := uint32(0)
			for len(echoes) == 0 || echoes[len(echoes)-1] != "end" {
				f := r.nextLive()
				switch f.t {
				case rpc.MsgCallClient:
					m, args := callOf(t, f.body)
					if m == "OnEcho" {
						echoes = append(echoes, args[0].(string))
					}
				case rpc.MsgReply:
					rd := rpc.NewReader(f.body)
					id := rd.Uint32()
					answers[id]++
					if id <= lastAnswer {
						t.Fatalf("answer to request %d after request %d's", id, lastAnswer)
					}
					lastAnswer = id
				case rpc.MsgKick:
					t.Fatalf("kicked: %q", rpc.NewReader(f.body).String())
				}
			}
			if strings.Join(echoes, " ") != strings.Join(want, " ") {
				t.Fatalf("echoes (%d):\n%v\nwant (%d):\n%v", len(echoes), echoes, len(want), want)
			}
			for id := uint32(1); id <= reqID; id++ {
				if answers[id] != 1 {
					t.Fatalf("request %d answered %d times, want once", id, answers[id])
				}
			}
			// A heartbeat brings the gate's ack of everything: exactly
			// the frames sent, none counted twice or missed.
			r.write(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil))
			deadline := time.Now().Add(10 * time.Second)
			for len(r.gateAcks) == 0 || r.gateAcks[len(r.gateAcks)-1] != uint64(len(r.sent)) {
				if time.Now().After(deadline) {
					t.Fatalf("gate acks %v, want the last to be %d", r.gateAcks, len(r.sent))
				}
				select {
				case f := <-r.in:
					if f.t == rpc.MsgAck {
						n, _ := rpc.DecodeAck(f.body)
						r.gateAcks = append(r.gateAcks, n)
					}
				case <-time.After(100 * time.Millisecond):
				}
			}
			if n, _ := gateMetrics(t, c.Gates[0]).Sum("goworld_gate_resumes_total", "result", "ok"); n < rounds {
				t.Fatalf("resumes ok: %v, want at least %d", n, rounds)
			}
		})
	}
}

// expectEcho waits for OnEcho(s) on a raw session, failing on a kick.
func (r *rawSession) expectEcho(s string) {
	r.t.Helper()
	for {
		f := r.nextLive()
		switch f.t {
		case rpc.MsgCallClient:
			if m, args := callOf(r.t, f.body); m == "OnEcho" && args[0] == s {
				return
			}
		case rpc.MsgKick:
			r.t.Fatalf("kicked waiting for %q: %q", s, rpc.NewReader(f.body).String())
		}
	}
}

// expectKick waits for a kick on a raw session and returns its reason.
func (r *rawSession) expectKick() string {
	r.t.Helper()
	for {
		if f := r.nextLive(); f.t == rpc.MsgKick {
			return rpc.NewReader(f.body).String()
		}
	}
}

// resumeBody is a MsgResume body with token and received.
func resumeBody(tok rpc.ResumeToken, received uint64) []byte {
	return rpc.AppendResume(nil, rpc.Resume{Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: tok, Received: received})
}

// TestResumeHooksAndTheEntityBinding, through a real game: a client's
// drop runs its entity's OnClientAway (not OnClientDisconnected); what
// the entity sends while it is away arrives after the resume, with
// OnClientBack; the entity is still the client's (its calls work); a
// resume while the old connection is still open closes that one without
// a frame and runs neither hook; a bye then ends the session at once.
func TestResumeHooksAndTheEntityBinding(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second}})
	r := newRawSession(t, tcpDialer(c.GateAddr(0)))
	r.start()
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "before")[rpc.HeaderSize:])
	r.expectEcho("before")
	// FloodWhenAway: 5 frames of 100 bytes sent while away.
	b := rpc.AppendString(rpc.AppendEntityID(nil, r.player), "FloodWhenAway")
	b, _ = rpc.AppendArgs(b, []any{5, 100})
	r.send(rpc.MsgCallEntity, b)
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "armed")[rpc.HeaderSize:])
	r.expectEcho("armed")
	r.drop()
	awaitHook(t, r.player, "away")
	waitFor(t, "the session held", func() bool { return c.Gates[0].HeldSessions() == 1 && c.Gates[0].NumClients() == 1 })
	r.resume()
	awaitHook(t, r.player, "back")
	for i := 0; i < 5; i++ {
		f := r.nextLive()
		if m, args := callOf(t, f.body); f.t != rpc.MsgCallClient || m != "OnFlood" || args[0] != int64(i) {
			t.Fatalf("frame %d after the resume: %v %s %v, want OnFlood(%d)", i, f.t, m, args, i)
		}
	}
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "after")[rpc.HeaderSize:])
	r.expectEcho("after")
	if c.Gates[0].HeldSessions() != 0 {
		t.Fatalf("%d sessions held after the resume", c.Gates[0].HeldSessions())
	}

	// A resume while the old connection is open: it is closed without a
	// frame.
	old := r.nc
	oldDone := r.done
	r.wmu.Lock()
	r.nc, r.cut = nil, nil // keep the old one open; resume dials anew
	r.wmu.Unlock()
	gotBefore := r.got.Load()
	r.connect()
	r.write(rpc.AppendFrame(nil, rpc.MsgResume, resumeBody(r.token, gotBefore)))
	select {
	case <-oldDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the old connection was not closed")
	}
	old.Close()
	// The old connection ends with no frame; the new one's first is
	// MsgResumed (both readers feed r.in: either may come first).
	for oldEnded, resumed := false, false; !oldEnded || !resumed; {
		switch f := r.next(); {
		case f.end != nil:
			oldEnded = true
		case f.t == rpc.MsgResumed && !resumed:
			rd, _ := rpc.DecodeResumed(f.body)
			r.token, resumed = rd.Token, true
		default:
			t.Fatalf("frame %v (%q) while resuming over an open connection", f.t, f.body)
		}
	}
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "open")[rpc.HeaderSize:])
	r.expectEcho("open")
	noHook(t, r.player)

	// A bye ends it at once; the token then says why.
	tok := r.token
	r.write(rpc.AppendFrame(nil, rpc.MsgBye, nil))
	if f := r.nextLive(); f.t != rpc.MsgBye {
		t.Fatalf("answer to the bye: %v", f.t)
	}
	awaitHook(t, r.player, "gone")
	if got, want := tryResume(t, tcpDialer(c.GateAddr(0)), resumeBody(tok, r.got.Load())), "resume refused: the session ended: the client said goodbye"; got != want {
		t.Fatalf("resume after the bye: %q, want %q", got, want)
	}
	waitFor(t, "no client", func() bool { return c.Gates[0].NumClients() == 0 })
}

// TestResumeRefusals: a wrong secret, a replayed token, a token of
// another gate, a count beyond what was sent and a malformed resume are
// each refused with their reason, and the session they name, held or
// connected, is unharmed (it resumes, and chats, afterwards); a client
// that never asked for a session cannot send an Ack, and a session's
// Ack beyond what was sent is a protocol error.
func TestResumeRefusals(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second}})
	d := tcpDialer(c.GateAddr(0))
	r := newRawSession(t, d)
	r.start()
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "one")[rpc.HeaderSize:])
	r.expectEcho("one")
	r.drop()
	awaitHook(t, r.player, "away")
	used := r.token
	r.resume()
	awaitHook(t, r.player, "back")
	r.drop() // held again, with a new token
	awaitHook(t, r.player, "away")

	wrong := r.token
	wrong[len(wrong)-1] ^= 1
	other := r.token
	other[0] ^= 1 // another gate's number
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"wrong secret", resumeBody(wrong, r.got.Load()), "resume refused: unknown or expired session"},
		{"replayed token", resumeBody(used, r.got.Load()), "resume refused: unknown or expired session"},
		{"another gate's", resumeBody(other, r.got.Load()), "resume refused: unknown or expired session"},
		{"counts too much", resumeBody(r.token, r.got.Load()+5), fmt.Sprintf("protocol error: Resume that counts %d frames, but %d were sent", r.got.Load()+5, r.got.Load())},
		{"malformed", resumeBody(r.token, 0)[:10], "protocol error: malformed Resume (10 bytes)"},
		{"another version", rpc.AppendResume(nil, rpc.Resume{Version: 99, Token: r.token}), "unsupported protocol version 99: this gate speaks protocol version 1; update the client (docs/protocol.md, Versioning)"},
	} {
		if got := tryResume(t, d, tc.body); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if n := c.Gates[0].HeldSessions(); n != 1 {
		t.Fatalf("%d sessions held after the refusals, want 1", n)
	}
	r.resume()
	awaitHook(t, r.player, "back")
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "two")[rpc.HeaderSize:])
	r.expectEcho("two")
	// Refusals of a connected session's token leave it connected.
	if got := tryResume(t, d, resumeBody(wrong, 0)); got != "resume refused: unknown or expired session" {
		t.Fatalf("wrong secret while connected: %q", got)
	}
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "three")[rpc.HeaderSize:])
	r.expectEcho("three")
	noHook(t, r.player)
	ss := gateMetrics(t, c.Gates[0])
	for result, want := range map[string]float64{"ok": 2, "unknown": 4, "protocol_error": 3} {
		if n, _ := ss.Sum("goworld_gate_resumes_total", "result", result); n != want {
			t.Errorf("resumes %s: %v, want %v", result, n, want)
		}
	}

	// An Ack beyond what was sent ends the session (a protocol error).
	r.write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, 1000)))
	if got, want := r.expectKick(), fmt.Sprintf("protocol error: Ack of 1000 frames, but %d were sent", r.got.Load()); got != want {
		t.Fatalf("bad ack: %q, want %q", got, want)
	}
	awaitHook(t, r.player, "gone")

	// A client without a session may not send an Ack.
	nc, cut := d(t)
	defer cut()
	nc.Write(append(helloFrame(), rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, 0))...))
	if got := kickReason(t, nc); got != "protocol error: unexpected message type 9" {
		t.Fatalf("Ack without a session: %q", got)
	}
}

// TestResumeWindowEnds: a session not resumed within resume_window
// ends: the entity is told its client left (after OnClientAway), the
// gate forgets the client, and a resume is refused as expired; a fresh
// login works.
func TestResumeWindowEnds(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 300 * time.Millisecond}})
	r := newRawSession(t, tcpDialer(c.GateAddr(0)))
	r.start()
	r.drop()
	awaitHook(t, r.player, "away")
	awaitHook(t, r.player, "gone")
	waitFor(t, "no client", func() bool { return c.Gates[0].NumClients() == 0 && c.Gates[0].HeldSessions() == 0 })
	if got := tryResume(t, tcpDialer(c.GateAddr(0)), resumeBody(r.token, r.got.Load())); got != "resume refused: unknown or expired session" {
		t.Fatalf("resume after the window: %q", got)
	}
	if n, _ := gateMetrics(t, c.Gates[0]).Sum("goworld_gate_sessions_ended_held_total", "reason", "window"); n != 1 {
		t.Fatalf("held sessions ended by the window: %v, want 1", n)
	}
	fresh := newRawSession(t, tcpDialer(c.GateAddr(0)))
	fresh.start()
	fresh.send(rpc.MsgCallEntity, echoFrame(fresh.player, "hi")[rpc.HeaderSize:])
	fresh.expectEcho("hi")
}

// TestHeldSessionOverItsLimit: what a held session keeps is bounded by
// resume_limit, and measured: 5 frames of 4 KB sent while away are
// kept (the gate's journal holds them, within the limit) and arrive
// after the resume; 40 more (160 KB, over the 64 KiB limit) end the
// session, whose entity is told its client left, and whose token then
// says why; the journal's bytes are then freed.
func TestHeldSessionOverItsLimit(t *testing.T) {
	const limit = gate.MinResumeLimit
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second, ResumeLimit: limit}})
	g := c.Gates[0]
	journal := func() float64 { n, _ := gateMetrics(t, g).Sum("goworld_gate_session_journal_bytes"); return n }
	r := newRawSession(t, tcpDialer(c.GateAddr(0)))
	r.start()
	flood := func(n, size int) {
		b := rpc.AppendString(rpc.AppendEntityID(nil, r.player), "FloodWhenAway")
		b, _ = rpc.AppendArgs(b, []any{n, size})
		r.send(rpc.MsgCallEntity, b)
		r.send(rpc.MsgCallEntity, echoFrame(r.player, "armed")[rpc.HeaderSize:])
		r.expectEcho("armed")
	}
	flood(5, 4000)
	// The client acks every 8 frames; a heartbeat makes sure its last
	// frames are acknowledged (and the journal emptied of them) first.
	r.write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, r.got.Load())))
	waitFor(t, "the journal emptied by the ack", func() bool { return journal() == 0 })
	r.drop()
	awaitHook(t, r.player, "away")
	waitFor(t, "5 floods kept", func() bool { n := journal(); return n > 5*4000 && n <= limit })
	r.resume()
	awaitHook(t, r.player, "back")
	for i := 0; i < 5; i++ {
		if f := r.nextLive(); f.t != rpc.MsgCallClient {
			t.Fatalf("frame %d after the resume: %v", i, f.t)
		}
	}
	flood(40, 4000)
	r.drop()
	awaitHook(t, r.player, "away")
	awaitHook(t, r.player, "gone")
	waitFor(t, "no client and an empty journal", func() bool { return g.NumClients() == 0 && journal() == 0 })
	want := "resume refused: the session ended: more than resume_limit was sent to it while it was away"
	if got := tryResume(t, tcpDialer(c.GateAddr(0)), resumeBody(r.token, r.got.Load())); got != want {
		t.Fatalf("resume: %q, want %q", got, want)
	}
	if n, _ := gateMetrics(t, g).Sum("goworld_gate_sessions_ended_held_total", "reason", "limit"); n != 1 {
		t.Fatalf("held sessions ended over the limit: %v, want 1", n)
	}
}

// TestResumeAfterForgottenFrames: a client that does not acknowledge
// has its oldest frames forgotten past resume_limit while connected (the
// connection goes on); a resume that would need them is refused, and
// one that does not is accepted.
func TestResumeAfterForgottenFrames(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second, ResumeLimit: gate.MinResumeLimit}})
	r := newRawSession(t, tcpDialer(c.GateAddr(0)))
	r.autoAck = false
	r.start()
	b := rpc.AppendString(rpc.AppendEntityID(nil, r.player), "Flood")
	b, _ = rpc.AppendArgs(b, []any{40, 4000})
	r.send(rpc.MsgCallEntity, b)
	for i := 0; i < 40; i++ {
		r.nextLive()
	}
	r.drop()
	awaitHook(t, r.player, "away")
	got := tryResume(t, tcpDialer(c.GateAddr(0)), resumeBody(r.token, 0))
	if !strings.HasPrefix(got, "resume refused: ") || !strings.HasSuffix(got, " frames you missed are no longer held") {
		t.Fatalf("resume from 0: %q", got)
	}
	r.resume()
	awaitHook(t, r.player, "back")
	r.send(rpc.MsgCallEntity, echoFrame(r.player, "still here")[rpc.HeaderSize:])
	r.expectEcho("still here")
}

// TestKickEndsAResumableSession: a kick (the game's) ends a resumable
// session at once, as before: no OnClientAway, the entity is told its
// client left, and the token says why.
func TestKickEndsAResumableSession(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second}})
	r := newRawSession(t, tcpDialer(c.GateAddr(0)))
	r.start()
	b := rpc.AppendString(rpc.AppendEntityID(nil, r.player), "KickMe")
	b, _ = rpc.AppendArgs(b, []any{"go away"})
	r.send(rpc.MsgCallEntity, b)
	if got := r.expectKick(); got != "go away" {
		t.Fatalf("kick %q", got)
	}
	awaitHook(t, r.player, "gone")
	if got, want := tryResume(t, tcpDialer(c.GateAddr(0)), resumeBody(r.token, r.got.Load())), "resume refused: the session ended: go away"; got != want {
		t.Fatalf("resume after the kick: %q, want %q", got, want)
	}
}

// TestHeldSessionsCountAgainstMaxClients: with max_clients = 2, a held
// session keeps its place: a new client is refused "server full", and
// the held session resumes although the gate is full. A gate with
// resumes off answers the hello's flag with no MsgSession.
func TestHeldSessionsCountAgainstMaxClients(t *testing.T) {
	c := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: 30 * time.Second, MaxClients: 2}})
	d := tcpDialer(c.GateAddr(0))
	a, b := newRawSession(t, d), newRawSession(t, d)
	a.start()
	b.start()
	a.drop()
	awaitHook(t, a.player, "away")
	if n := c.Gates[0].NumClients(); n != 2 {
		t.Fatalf("%d clients with one held, want 2", n)
	}
	nc, cut := d(t)
	nc.Write(helloFrame())
	if got := kickReason(t, nc); got != "server full" {
		t.Fatalf("a third client: %q, want server full", got)
	}
	cut()
	// The third client held a place beyond max_clients (admitted in case
	// it resumed) until the gate has seen its connection end: only then
	// is the held session's place free for its resume.
	waitFor(t, "the third client gone", func() bool { return c.Gates[0].NumClients() == 2 })
	a.resume()
	awaitHook(t, a.player, "back")
	a.send(rpc.MsgCallEntity, echoFrame(a.player, "back in")[rpc.HeaderSize:])
	a.expectEcho("back in")
	waitFor(t, "two clients", func() bool { return c.Gates[0].NumClients() == 2 })

	off := startResumers(t, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: config.Off}})
	nc, cut = tcpDialer(off.GateAddr(0))(t)
	defer cut()
	nc.Write(rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendClientHelloFlags(nil, rpc.ProtocolVersion, rpc.HelloResume)))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [rpc.HeaderSize]byte
	if typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<20); err != nil || typ != rpc.MsgCreateEntity {
		t.Fatalf("first frame with resumes off: %v %v, want the player's CreateEntity", typ, err)
	}
}

// BenchmarkHeldSessionMemory measures the heap held per client of an
// in-process cluster (gate, dispatcher and the game's boot entity) with
// 200 resumable clients connected, then held after their connections
// dropped: B/connected and B/held are over the heap before they came
// (after a GC each time). With away > 0, each entity sends that many
// 1000-byte frames to its client while it is away, which the gate keeps
// (the journal): B/held grows by about that much, up to resume_limit.
// Run once: -bench HeldSessionMemory -benchtime 1x.
func BenchmarkHeldSessionMemory(b *testing.B) {
	for _, away := range []int{0, 10} {
		b.Run(fmt.Sprintf("away=%dKB", away), func(b *testing.B) {
			for range b.N {
				const k = 200
				c := startResumers(b, cluster.Options{}, gate.Config{GateTuning: config.GateTuning{ResumeWindow: time.Minute}})
				heap := func() float64 {
					var m runtime.MemStats
					runtime.GC()
					runtime.GC()
					runtime.ReadMemStats(&m)
					return float64(m.HeapAlloc)
				}
				base := heap()
				rs := make([]*rawSession, k)
				for i := range rs {
					rs[i] = newRawSession(b, tcpDialer(c.GateAddr(0)))
					rs[i].in = make(chan frame, 64) // the test client's own, kept small
					rs[i].start()
					if away > 0 {
						body := rpc.AppendString(rpc.AppendEntityID(nil, rs[i].player), "FloodWhenAway")
						body, _ = rpc.AppendArgs(body, []any{away, 1000})
						rs[i].send(rpc.MsgCallEntity, body)
						rs[i].send(rpc.MsgCallEntity, echoFrame(rs[i].player, "armed")[rpc.HeaderSize:])
						rs[i].expectEcho("armed")
						rs[i].write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, rs[i].got.Load())))
					}
				}
				connected := heap()
				for _, r := range rs {
					r.drop()
					r.in, r.sent, r.pending = nil, nil, nil // the test client's own state goes
				}
				for deadline := time.Now().Add(time.Minute); c.Gates[0].HeldSessions() < k; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("%d sessions held, want %d", c.Gates[0].HeldSessions(), k)
					}
				}
				if away > 0 {
					want := float64(k * away * 1000)
					for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
						if n, _ := gateMetrics(b, c.Gates[0]).Sum("goworld_gate_session_journal_bytes"); n >= want {
							break
						}
						if time.Now().After(deadline) {
							b.Fatal("the journals did not fill")
						}
					}
				}
				held := heap()
				b.ReportMetric((connected-base)/k, "B/connected")
				b.ReportMetric((held-base)/k, "B/held")
			}
		})
	}
}
