package game_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// ---------------------------------------------------------------------------
// Entity types

// FzPlayer is the boot entity of the hot-reload tests. The client tags it
// with its test's sink, then pushes numbered calls; the entity records
// them in "seq" (server only) and "count" (synced), and answers Pushed.
type FzPlayer struct{ entity.Entity }

func (p *FzPlayer) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("tag", 0)
	d.DefineAttr("seq", 0).Default([]any{})
	d.DefineAttr("count", entity.AttrOwnClient).Default(0)
	d.DefineAttr("restores", 0).Default(0)
	d.ExposeToClient("SetTag", "Push")
}

func (p *FzPlayer) OnCreated() { report(&p.Entity, "created") }
func (p *FzPlayer) OnFreeze()  { report(&p.Entity, "OnFreeze") }
func (p *FzPlayer) OnRestore() {
	p.Attrs.Set("restores", p.Attrs.GetInt("restores")+1)
	report(&p.Entity, "OnRestore")
}
func (p *FzPlayer) Tick(n int) { report(&p.Entity, "Tick", n) }
func (p *FzPlayer) Bump()      { p.Attrs.Set("count", p.Attrs.GetInt("count")+1) }
func (p *FzPlayer) SetTag(s string) {
	p.Attrs.Set("tag", s)
	report(&p.Entity, "tagged")
}

func (p *FzPlayer) Push(n int) {
	p.Attrs.GetList("seq").Append(n)
	p.Attrs.Set("count", n)
	report(&p.Entity, "Push", n)
	p.CallClient("Pushed", n)
}

// FzBomb's OnFreeze waits for its test to release it (through holds, by
// its tag), then panics while "boom" is set.
type FzBomb struct{ entity.Entity }

var holds sync.Map // tag → chan struct{}

func (b *FzBomb) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("tag", 0)
	d.DefineAttr("boom", 0)
}

func (b *FzBomb) OnFreeze() {
	report(&b.Entity, "OnFreeze")
	if ch, ok := holds.Load(b.Attrs.GetString("tag")); ok {
		<-ch.(chan struct{})
	}
	if b.Attrs.GetBool("boom") {
		panic("kaboom in OnFreeze")
	}
}
func (b *FzBomb) Disarm() { b.Attrs.Set("boom", false) }

// FzBig's OnFreeze sends a large call to an entity elsewhere: the last
// thing the frozen process sends.
type FzBig struct{ entity.Entity }

func (b *FzBig) DescribeEntityType(d *entity.TypeDesc) { d.DefineAttr("to", 0) }
func (b *FzBig) OnFreeze() {
	b.Call(rpc.EntityID(b.Attrs.GetString("to")), "Big", strings.Repeat("x", bigCallSize))
}

// bigCallSize is more than loopback sockets hold while the peer reads
// nothing (Linux's send buffer grows to tcp_wmem's 4 MiB; the receiver's
// stays near its 128 KiB start until it reads), and no more: under -race
// on a busy machine, 48 MiB took over 10 s to encode, copy and collect.
const bigCallSize = 12 << 20

func freezeRegistry(t testing.TB) *entity.Registry {
	r := registry(t)
	for name, proto := range map[string]any{"FzPlayer": &FzPlayer{}, "FzBomb": &FzBomb{}, "FzBig": &FzBig{}} {
		if err := r.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// ---------------------------------------------------------------------------
// Servers and clients

// wait waits for Run to return (after a freeze) and returns its result.
func (n *gameNode) wait(t *testing.T) error {
	t.Helper()
	n.once.Do(func() {
		select {
		case n.err = <-n.runErr:
		case <-time.After(waitLimit):
			t.Fatal("game Run did not return")
		}
	})
	return n.err
}

// running fails the test if Run has returned.
func (n *gameNode) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-n.runErr:
		n.once.Do(func() { n.err = err })
		t.Fatalf("Run returned %v", err)
	default:
	}
}

type gateNode struct {
	g      *gate.Gate
	runErr chan error
}

func startGate(t *testing.T, dispatchers []string, log logrus.FieldLogger) *gateNode {
	t.Helper()
	g, err := gate.New(gate.Config{ID: 1, ListenAddr: "127.0.0.1:0", Dispatchers: dispatchers, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	n := &gateNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() {
		g.Close()
		select {
		case <-n.runErr:
		case <-time.After(waitLimit):
			t.Error("gate Run did not return after Close")
		}
	})
	select {
	case <-g.Ready():
	case err := <-n.runErr:
		t.Fatalf("gate stopped: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("gate not ready")
	}
	return n
}

// player is a real client whose player entity reports to a sink.
type player struct {
	c  *client.Client
	id rpc.EntityID
	sk *sink
}

// connectPlayer connects a client through gw and tags its player.
func connectPlayer(t *testing.T, gw *gateNode) *player {
	t.Helper()
	c, err := client.Dial(gw.g.Addr().String(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &player{c: c, sk: newSink(t)}
	for p.id == "" {
		switch ev := p.nextEvent(t).(type) {
		case client.EntityCreated:
			if ev.IsPlayer {
				p.id = ev.ID
			}
		}
	}
	if err := c.CallPlayer("SetTag", p.sk.tag); err != nil {
		t.Fatal(err)
	}
	p.sk.expect(t, "tagged")
	return p
}

func (p *player) nextEvent(t *testing.T) client.Event {
	t.Helper()
	select {
	case ev, ok := <-p.c.Events():
		if !ok {
			t.Fatal("client events closed")
		}
		if d, ok := ev.(client.Disconnected); ok {
			t.Fatalf("client disconnected: %q %v", d.Reason, d.Err)
		}
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("no client event after %v", waitLimit)
	}
	return nil
}

// push calls Push(from..to) on the player.
func (p *player) push(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := p.c.CallPlayer("Push", i); err != nil {
			t.Fatal(err)
		}
	}
}

// expectPushes checks that the next Push reports are from..to in order;
// other reports (hooks, timers) are returned.
func (p *player) expectPushes(t *testing.T, from, to int) (others []event) {
	t.Helper()
	for want := from; want <= to; {
		ev := p.sk.next(t)
		if ev.what != "Push" {
			others = append(others, ev)
			continue
		}
		if ev.args[0] != want || ev.id != p.id {
			t.Fatalf("Push(%v) on %s, want Push(%d) on %s", ev.args[0], ev.id, want, p.id)
		}
		want++
	}
	return others
}

// expectPushed checks that the client hears Pushed(from..to) in order
// and that it stays connected.
func (p *player) expectPushed(t *testing.T, from, to int) {
	t.Helper()
	for want := from; want <= to; {
		ev, ok := p.nextEvent(t).(client.Call)
		if !ok {
			continue // attribute changes
		}
		if ev.Method != "Pushed" || ev.EntityID != p.id || len(ev.Args) != 1 || ev.Args[0] != int64(want) {
			t.Fatalf("client call %s%v on %s, want Pushed(%d)", ev.Method, ev.Args, ev.EntityID, want)
		}
		want++
	}
}

// routedByDispatcher proves that what the client sent so far has been
// routed by the dispatcher: a call to an unknown entity, sent after it,
// is dropped with a debug log naming the entity.
func (p *player) routedByDispatcher(t *testing.T, dlogs *logHook) {
	t.Helper()
	probe := rpc.NewEntityID()
	if err := p.c.Call(probe, "Probe"); err != nil {
		t.Fatal(err)
	}
	dlogs.wait(t, "unknown entity", string(probe))
}

// readResult reads game id's freeze result from dir.
func readResult(t *testing.T, dir string, id int) game.FreezeResult {
	t.Helper()
	data, err := os.ReadFile(game.ResultPath(dir, id))
	if err != nil {
		t.Fatal(err)
	}
	var r game.FreezeResult
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("result %s: %v", data, err)
	}
	return r
}

// waitResult waits for game id's freeze result to appear in dir (a failed
// freeze writes it after telling the dispatchers to resume).
func waitResult(t *testing.T, dir string, id int) game.FreezeResult {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Stat(game.ResultPath(dir, id)); err == nil {
			return readResult(t, dir, id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no freeze result after %v", waitLimit)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// reloadEnv is a dispatcher and a gate for hot-reload tests; games come
// and go.
type reloadEnv struct {
	dir    string
	reg    *entity.Registry
	d      *dispatcherNode
	dlogs  *logHook
	gw     *gateNode
	log    *logrus.Logger
	glogs  *logHook
	gameID int
}

func newReloadEnv(t *testing.T) *reloadEnv {
	t.Helper()
	dl, dlogs := newLogger()
	gl, glogs := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", dl)
	return &reloadEnv{
		dir: t.TempDir(), reg: freezeRegistry(t), d: d, dlogs: dlogs,
		gw: startGate(t, []string{d.addr}, gl), log: gl, glogs: glogs, gameID: 1,
	}
}

func (r *reloadEnv) config(restore *entity.Frozen) game.Config {
	return game.Config{ID: r.gameID, Dispatchers: []string{r.d.addr}, BootEntity: "FzPlayer", Registry: r.reg,
		GameTuning: config.GameTuning{FreezeDir: r.dir},
		Restore:    restore, Logger: r.log}
}

// freeze asks g to freeze, expects Run to return ErrFrozen and returns
// the result and the file's contents.
func (r *reloadEnv) freeze(t *testing.T, g *gameNode) (game.FreezeResult, *entity.Frozen) {
	t.Helper()
	g.g.RequestFreeze()
	if err := g.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v, want ErrFrozen", err)
	}
	res := readResult(t, r.dir, r.gameID)
	if !res.OK || res.Error != "" {
		t.Fatalf("freeze result %+v", res)
	}
	f, err := game.LoadFreezeFile(res.File, r.gameID)
	if err != nil {
		t.Fatal(err)
	}
	return res, f
}

// ---------------------------------------------------------------------------
// Tests

func TestHotReloadInProcess(t *testing.T) {
	r := newReloadEnv(t)
	g1 := startGame(t, r.config(nil))
	p := connectPlayer(t, r.gw)

	// A second entity with attributes and a timer, and a timer on the
	// player that is due after the reload.
	probeSink := newSink(t)
	probe := createLocally(t, g1.g, "Probe", map[string]any{"tag": probeSink.tag})
	probeSink.expect(t, "created")
	onLoopErr(t, g1.g, func() error {
		_, err := g1.g.World().Entity(probe).AddTimer(20*time.Millisecond, "Tick", 1)
		if err == nil {
			_, err = g1.g.World().Entity(p.id).AddCallback(time.Second, "Tick", 2)
		}
		return err
	})
	probeSink.expect(t, "Tick")

	// Calls flow, then the game freezes while more are on their way.
	p.push(t, 1, 100)
	p.expectPushes(t, 1, 50)
	began := time.Now()
	res, f := r.freeze(t, g1)

	if res.Entities != 2 || len(f.Entities) != 2 || res.Bytes == 0 || res.SignalAt < began.UnixNano() || res.FreezeMS <= 0 {
		t.Fatalf("result %+v (%d entities in the file)", res, len(f.Entities))
	}
	if filepath.Dir(res.File) != r.dir || !strings.HasPrefix(filepath.Base(res.File), game.FreezeFilePrefix(1)) {
		t.Fatalf("file %s not in %s", res.File, r.dir)
	}
	if st, err := os.Stat(res.File); err != nil || st.Size() != int64(res.Bytes) {
		t.Fatalf("file %s: %v (result says %d bytes)", res.File, err, res.Bytes)
	}
	if f.GameID != 1 || f.SignalAt != res.SignalAt {
		t.Fatalf("file: game %d signal_at %d", f.GameID, f.SignalAt)
	}
	var fp entity.FrozenEntity
	for _, fe := range f.Entities {
		if fe.ID == string(p.id) {
			fp = fe
		}
	}
	if fp.Type != "FzPlayer" || fp.Client == nil || fp.Client.Gate != 1 || fp.Attrs.Get("tag") != p.sk.tag {
		t.Fatalf("frozen player %+v", fp)
	}
	handledBefore := fp.Attrs.GetList("seq").Len()
	if handledBefore < 50 || handledBefore > 100 {
		t.Fatalf("%d calls in the file", handledBefore)
	}
	timerInFile := len(fp.Timers) == 1 // unless the machine took over a second to get here

	// While no game process is there, the client goes on calling; the
	// dispatcher queues the calls.
	p.push(t, 101, 200)
	p.routedByDispatcher(t, r.dlogs)

	// The new process restores and connects; the queued calls follow.
	g2 := startGame(t, r.config(f))
	if g2.g.Pause() <= 0 || g2.g.Pause() > time.Since(began) {
		t.Fatalf("Pause() = %v after a restore", g2.g.Pause())
	}
	p.push(t, 201, 300)

	// Every call is handled once, in order, by one process or the other:
	// those before the ack by the old one (they are in the file), the rest
	// by the new one, after OnRestore.
	var evs []string
	pushed, tick := 50, -1
	for pushed < 300 || tick < 0 {
		ev := p.sk.next(t)
		switch ev.what {
		case "Push":
			if ev.args[0] != pushed+1 {
				t.Fatalf("Push%v after Push(%d); reports so far %v", ev.args, pushed, evs)
			}
			pushed++
			if pushed == handledBefore+1 {
				evs = append(evs, "first after")
			}
			continue
		case "Tick":
			tick = len(evs)
		}
		evs = append(evs, ev.what)
	}
	if timerInFile {
		if tick < 2 {
			t.Fatalf("the timer fired before the restore: %v", evs)
		}
		evs = slices.Delete(evs, tick, tick+1)
	}
	if want := []string{"OnFreeze", "OnRestore", "first after"}; !slices.Equal(evs, want) && !(handledBefore == 100 && slices.Equal(evs, want[:2])) {
		t.Fatalf("reports around the reload %v, want %v", evs, want)
	}

	// The client was never disconnected and heard every answer once, in
	// order, from both processes.
	p.expectPushed(t, 1, 300)

	// The state came across: the calls of both processes are in seq, and
	// the probe's timer keeps ticking.
	var seq []any
	onLoop(t, g2.g, func() { seq = g2.g.World().Entity(p.id).Attrs.GetList("seq").ToList() })
	if len(seq) != 300 {
		t.Fatalf("seq has %d entries", len(seq))
	}
	for i, v := range seq {
		if v != int64(i+1) {
			t.Fatalf("seq[%d] = %v", i, v)
		}
	}
	drain(probeSink)
	probeSink.expect(t, "Tick")
	var restores, count int64
	onLoop(t, g2.g, func() {
		e := g2.g.World().Entity(p.id)
		restores, count = e.Attrs.GetInt("restores"), e.Attrs.GetInt("count")
	})
	if restores != 1 || count != 300 {
		t.Fatalf("restores %d count %d", restores, count)
	}
	if pl, ok := p.c.Player(); !ok || pl.ID != p.id || pl.Attrs["count"] != int64(300) {
		t.Fatalf("client's player %+v %v", pl, ok)
	}
	if n := r.gw.g.NumClients(); n != 1 {
		t.Fatalf("gate has %d clients", n)
	}
	if err := g2.stop(t); err != nil {
		t.Fatalf("the restored game's shutdown: %v", err)
	}
}

// drain returns the reports waiting in s.
func drain(s *sink) []event {
	var out []event
	for {
		select {
		case ev := <-s.ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestFailedFreezeKeepsServing(t *testing.T) {
	r := newReloadEnv(t)
	g := startGame(t, r.config(nil))
	p := connectPlayer(t, r.gw)
	bombSink := newSink(t)
	hold := make(chan struct{})
	holds.Store(bombSink.tag, hold)
	t.Cleanup(func() { holds.Delete(bombSink.tag) })
	bomb := createLocally(t, g.g, "FzBomb", map[string]any{"tag": bombSink.tag, "boom": true})

	p.push(t, 1, 20)
	p.expectPushes(t, 1, 20)

	// The freeze gets as far as OnFreeze, which holds the loop: the
	// dispatcher queues for the game. The client's calls meanwhile wait
	// in that queue.
	g.g.RequestFreeze()
	bombSink.expect(t, "OnFreeze")
	p.push(t, 21, 40)
	p.routedByDispatcher(t, r.dlogs)
	close(hold) // OnFreeze panics: the freeze fails

	r.glogs.wait(t, "freeze failed; the game keeps serving")
	others := p.expectPushes(t, 21, 40)
	for _, ev := range others {
		if ev.what != "OnFreeze" {
			t.Fatalf("report %s%v", ev.what, ev.args)
		}
	}
	p.push(t, 41, 60)
	p.expectPushes(t, 41, 60)
	p.expectPushed(t, 1, 60)
	g.running(t)

	res := waitResult(t, r.dir, 1)
	if res.OK || !strings.Contains(res.Error, "OnFreeze") || !strings.Contains(res.Error, "kaboom") || res.File != "" || res.SignalAt == 0 {
		t.Fatalf("result %+v", res)
	}
	if files, err := game.FreezeFiles(r.dir, 1); err != nil || len(files) != 0 {
		t.Fatalf("freeze files after a failed freeze: %v %v", files, err)
	}
	r.dlogs.wait(t, "freeze failed; it resumes with its queued packets")

	// Fixed, the next freeze succeeds, with everything handled so far.
	onLoop(t, g.g, func() { g.g.World().Entity(bomb).Attrs.Set("boom", false) })
	_, f := r.freeze(t, g)
	if len(f.Entities) != 2 {
		t.Fatalf("%d entities frozen", len(f.Entities))
	}
	for _, fe := range f.Entities {
		if fe.ID == string(p.id) && fe.Attrs.GetList("seq").Len() != 60 {
			t.Fatalf("seq in the file: %v", fe.Attrs.ToMap()["seq"])
		}
	}
}

func TestKeepFreezeFiles(t *testing.T) {
	r := newReloadEnv(t)
	var f *entity.Frozen
	var id rpc.EntityID
	var files []string
	for i := 1; i <= 7; i++ {
		g := startGame(t, r.config(f))
		if i == 1 {
			id = createLocally(t, g.g, "FzPlayer", nil)
		}
		onLoop(t, g.g, func() { g.g.World().Call(id, "Bump") })
		var res game.FreezeResult
		res, f = r.freeze(t, g)
		files = append(files, res.File)
		if i > 1 && !(res.File > files[i-2]) {
			t.Fatalf("freeze file %s does not sort after %s", res.File, files[i-2])
		}
	}
	got, err := game.FreezeFiles(r.dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, files[2:]) {
		t.Fatalf("files kept:\n %v\nwant the newest five:\n %v", got, files[2:])
	}
	entries, _ := os.ReadDir(r.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// Every cycle carried the state on.
	g := startGame(t, r.config(f))
	var count, restores int64
	onLoop(t, g.g, func() {
		e := g.g.World().Entity(id)
		count, restores = e.Attrs.GetInt("count"), e.Attrs.GetInt("restores")
	})
	if count != 7 || restores != 7 {
		t.Fatalf("after 7 reloads: count %d, restores %d", count, restores)
	}
	// Another game's files are not touched, and a file of game 1 is not
	// accepted for game 2.
	if _, err := game.LoadFreezeFile(files[6], 2); !errors.Is(err, entity.ErrFreezeFile) {
		t.Fatalf("game 1's file loaded for game 2: %v", err)
	}
}

// ---------------------------------------------------------------------------
// A fake dispatcher, for what a real one never does.

type fakeDispatcher struct {
	ln    net.Listener
	addr  string
	conns chan net.Conn
}

func startFakeDispatcher(t *testing.T) *fakeDispatcher {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd := &fakeDispatcher{ln: ln, addr: ln.Addr().String(), conns: make(chan net.Conn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fd.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(fd.conns)
		for c := range fd.conns {
			c.Close()
		}
	})
	return fd
}

// fakeConn is one game connection to the fake dispatcher.
type fakeConn struct {
	nc  net.Conn
	hdr [rpc.HeaderSize]byte
}

// accept takes the next connection and answers its hello.
func (fd *fakeDispatcher) accept(t *testing.T) *fakeConn {
	t.Helper()
	var nc net.Conn
	select {
	case nc = <-fd.conns:
	case <-time.After(waitLimit):
		t.Fatal("no connection to the fake dispatcher")
	}
	t.Cleanup(func() { nc.Close() })
	c := &fakeConn{nc: nc}
	if ty, _ := c.read(t); ty != rpc.MsgHello {
		t.Fatalf("first frame %v", ty)
	}
	c.send(t, rpc.MsgHelloAck, rpc.AppendUint16(nil, 9))
	return c
}

func (c *fakeConn) read(t *testing.T) (rpc.MsgType, []byte) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(waitLimit))
	ty, body, err := rpc.ReadFrame(c.nc, c.hdr[:], 64<<20)
	if err != nil {
		t.Fatalf("fake dispatcher: read: %v", err)
	}
	return ty, body
}

// until reads frames until one of type want, skipping the others.
func (c *fakeConn) until(t *testing.T, want rpc.MsgType) []byte {
	t.Helper()
	for {
		if ty, body := c.read(t); ty == want {
			return body
		}
	}
}

func (c *fakeConn) send(t *testing.T, ty rpc.MsgType, body []byte) {
	t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := c.nc.Write(rpc.AppendFrame(nil, ty, body)); err != nil {
		t.Fatalf("fake dispatcher: write: %v", err)
	}
}

func fakeCall(id rpc.EntityID, method string, args ...any) []byte {
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		panic(err)
	}
	return b
}

func TestFreezeTimesOutWhenADispatcherNeverAcks(t *testing.T) {
	l, logs := newLogger()
	dl, dlogs := newLogger()
	real := startDispatcher(t, "127.0.0.1:0", dl)
	fake := startFakeDispatcher(t)
	dir := t.TempDir()
	const timeout = 200 * time.Millisecond
	cfg := game.Config{ID: 1, Dispatchers: []string{real.addr, fake.addr}, BootEntity: "Probe", Registry: freezeRegistry(t),
		GameTuning: config.GameTuning{FreezeDir: dir, FreezeTimeout: timeout},
		Logger:     l}
	g, err := game.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	fc := fake.accept(t)
	select {
	case <-g.Ready():
	case <-time.After(waitLimit):
		t.Fatal("not ready")
	}
	sk := newSink(t)
	id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
	sk.expect(t, "created")

	began := time.Now()
	g.RequestFreeze()
	fc.until(t, rpc.MsgFreezeGame)
	// The real dispatcher acknowledges, the fake never does: after the
	// timeout the game tells both to resume.
	fc.until(t, rpc.MsgUnfreezeGame)
	if el := time.Since(began); el < timeout {
		t.Fatalf("gave up after %v, before the %v timeout", el, timeout)
	}
	logs.wait(t, "freeze failed")
	res := waitResult(t, dir, 1)
	if res.OK || !strings.Contains(res.Error, "timed out after 200ms") || !strings.Contains(res.Error, "1 of 2 dispatchers acknowledged") {
		t.Fatalf("result %+v", res)
	}
	dlogs.wait(t, "freeze failed; it resumes")
	n.running(t)

	// Still serving, through both dispatchers.
	fc.send(t, rpc.MsgCallEntityMethod, fakeCall(id, "Ping", 1))
	if ev := sk.expect(t, "Ping"); ev.args[0] != 1 {
		t.Fatalf("Ping%v", ev.args)
	}
	if files, _ := game.FreezeFiles(dir, 1); len(files) != 0 {
		t.Fatalf("files %v", files)
	}
}

// An acknowledgement that arrives late, after its freeze timed out and a
// new freeze began, must not count for the new one: the old dispatcher
// connection delivers the packets it queued during the first attempt
// after that ack (the unfreeze), and a game freezing on the stale ack
// would take them to its grave.
func TestLateAckIsNotCountedForTheNextFreeze(t *testing.T) {
	l, _ := newLogger()
	fake := startFakeDispatcher(t)
	dir := t.TempDir()
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{fake.addr}, BootEntity: "Probe", Registry: freezeRegistry(t),
		GameTuning: config.GameTuning{FreezeDir: dir, FreezeTimeout: 100 * time.Millisecond},
		Logger:     l})
	if err != nil {
		t.Fatal(err)
	}
	n := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	fc := fake.accept(t)
	<-g.Ready()
	sk := newSink(t)
	id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
	sk.expect(t, "created")

	g.RequestFreeze()
	fc.until(t, rpc.MsgFreezeGame)
	fc.until(t, rpc.MsgUnfreezeGame) // timed out
	g.RequestFreeze()
	fc.until(t, rpc.MsgFreezeGame)
	// Now the first ack arrives, followed by the packets the dispatcher
	// queued during the first attempt and flushed at the unfreeze.
	fc.send(t, rpc.MsgFreezeAck, nil)
	fc.send(t, rpc.MsgCallEntityMethod, fakeCall(id, "Ping", 1))
	select {
	case ev := <-sk.ch:
		if ev.what != "Ping" {
			t.Fatalf("report %s", ev.what)
		}
	case err := <-n.runErr:
		n.once.Do(func() { n.err = err })
		t.Fatalf("the game froze on the first freeze's late ack (Run: %v); the call queued during that freeze is lost", err)
	case <-time.After(waitLimit):
		t.Fatal("the call was not handled")
	}
	// The second ack completes the second freeze.
	fc.send(t, rpc.MsgFreezeAck, nil)
	if err := n.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v", err)
	}
}

// What the frozen process sent last (answers to the last calls, what
// OnFreeze hooks sent) must reach the dispatcher before the process lets
// go of its connections.
func TestFrozenGameFlushesItsLastPackets(t *testing.T) {
	l, logs := newLogger()
	fake := startFakeDispatcher(t)
	dir := t.TempDir()
	// The fake dispatcher takes frames this large; a game sends none over
	// its max_packet_size.
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{fake.addr}, BootEntity: "Probe", Registry: freezeRegistry(t),
		GameTuning: config.GameTuning{FreezeDir: dir, MaxPacketSize: 2 * bigCallSize},
		Logger:     l})
	if err != nil {
		t.Fatal(err)
	}
	n := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	fc := fake.accept(t)
	<-g.Ready()
	remote := rpc.NewEntityID()
	createLocally(t, g, "FzBig", map[string]any{"to": string(remote)})

	g.RequestFreeze()
	fc.until(t, rpc.MsgFreezeGame)
	fc.send(t, rpc.MsgFreezeAck, nil)
	// OnFreeze sends a call larger than the socket buffers; the fake
	// dispatcher reads only once the game has decided to exit.
	logs.wait(t, "frozen; exiting")
	body := fc.until(t, rpc.MsgCallEntityMethod)
	if want := fakeCall(remote, "Big", strings.Repeat("x", bigCallSize)); string(body) != string(want) {
		t.Fatalf("the last call arrived with %d of %d bytes", len(body), len(want))
	}
	if err := n.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v", err)
	}
}

// A game restoring a file from another build: the types that are gone
// are skipped and the game serves the rest.
func TestRestoreSkipsUnknownTypes(t *testing.T) {
	r := newReloadEnv(t)
	id, gone := rpc.NewEntityID(), rpc.NewEntityID()
	f := &entity.Frozen{Version: entity.FreezeVersion, GameID: 1, SignalAt: time.Now().UnixNano(), Entities: []entity.FrozenEntity{
		{Type: "FzPlayer", ID: string(id), Attrs: entity.NewMapAttrFrom(map[string]any{"count": 5})},
		{Type: "Dragon", ID: string(gone)},
	}}
	g := startGame(t, r.config(f))
	r.glogs.wait(t, "world restored", "skipped=1")
	var count int64
	var n int
	onLoop(t, g.g, func() {
		count = g.g.World().Entity(id).Attrs.GetInt("count")
		n = g.g.World().NumEntities()
	})
	if count != 5 || n != 1 {
		t.Fatalf("count %d, %d entities", count, n)
	}
	// A world that cannot be restored stops Run with the reason.
	bad := *f
	bad.Version = entity.FreezeVersion + 1
	r.gameID = 2
	g2, err := game.New(r.config(&bad))
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Run(context.Background()); !errors.Is(err, entity.ErrFreezeFile) || !strings.Contains(err.Error(), "game2") {
		t.Fatalf("Run with a bad Frozen returned %v", err)
	}
}

// A freeze whose file cannot be written aborts like any other failure.
func TestFreezeThatCannotWriteItsFileKeepsServing(t *testing.T) {
	r := newReloadEnv(t)
	blocker := filepath.Join(r.dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := r.config(nil)
	cfg.FreezeDir = filepath.Join(blocker, "freeze")
	g := startGame(t, cfg)
	p := connectPlayer(t, r.gw)
	g.g.RequestFreeze()
	r.glogs.wait(t, "freeze failed; the game keeps serving", "not a directory")
	p.push(t, 1, 10)
	p.expectPushes(t, 1, 10)
	p.expectPushed(t, 1, 10)
	g.running(t)
	r.dlogs.wait(t, "freeze failed; it resumes")
}

// Shutting down while a freeze waits for its acknowledgements aborts it:
// the dispatchers resume, and Run ends as after any shutdown.
func TestCloseDuringAFreeze(t *testing.T) {
	l, _ := newLogger()
	fake := startFakeDispatcher(t)
	dir := t.TempDir()
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{fake.addr}, BootEntity: "Probe", Registry: freezeRegistry(t),
		GameTuning: config.GameTuning{FreezeDir: dir, FreezeTimeout: time.Hour},
		Logger:     l})
	if err != nil {
		t.Fatal(err)
	}
	n := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	fc := fake.accept(t)
	<-g.Ready()
	g.RequestFreeze()
	g.RequestFreeze() // a second request while one is pending changes nothing
	fc.until(t, rpc.MsgFreezeGame)
	go g.Close() // it waits for Run, which waits for the fake dispatcher
	fc.until(t, rpc.MsgUnfreezeGame)
	if err := n.wait(t); !errors.Is(err, game.ErrServerClosed) {
		t.Fatalf("Run returned %v, want game.ErrServerClosed", err)
	}
	if res := readResult(t, dir, 1); res.OK || !strings.Contains(res.Error, "shutting down") {
		t.Fatalf("result %+v", res)
	}
	if files, _ := game.FreezeFiles(dir, 1); len(files) != 0 {
		t.Fatalf("files %v", files)
	}
}

func TestLoadFreezeFileRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := game.LoadFreezeFile(filepath.Join(dir, "missing.freeze"), 1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	good, err := entity.EncodeFrozen(&entity.Frozen{Version: entity.FreezeVersion, GameID: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "game1-x.freeze")
	for _, b := range [][]byte{nil, good[:len(good)-1], append([]byte("GWFREEZX"), good[8:]...)} {
		os.WriteFile(path, b, 0o644)
		if _, err := game.LoadFreezeFile(path, 1); !errors.Is(err, entity.ErrFreezeFile) || !strings.Contains(err.Error(), path) {
			t.Fatalf("bad file: %v", err)
		}
	}
	os.WriteFile(path, good, 0o644)
	if f, err := game.LoadFreezeFile(path, 1); err != nil || f.GameID != 1 {
		t.Fatalf("good file: %v", err)
	}
	if _, err := game.LoadFreezeFile(path, 3); !errors.Is(err, entity.ErrFreezeFile) || !strings.Contains(err.Error(), "game1") {
		t.Fatalf("another game's file: %v", err)
	}
}

// A restored game tells its dispatchers where its entities are: here the
// dispatcher restarted (its table empty) while the game was away, and a
// call from another game must still reach the restored entity.
func TestRestoredGameReregisters(t *testing.T) {
	r := newReloadEnv(t)
	g1 := startGame(t, r.config(nil))
	id := createLocally(t, g1.g, "FzPlayer", nil)
	_, f := r.freeze(t, g1)

	r.d.stop(t)
	dl, _ := newLogger()
	r.d = startDispatcher(t, r.d.addr, dl)

	g2 := startGame(t, r.config(f))
	other := r.config(nil)
	other.ID = 2
	g3 := startGame(t, other)
	deadline := time.Now().Add(waitLimit)
	for {
		onLoop(t, g3.g, func() { g3.g.World().Call(id, "Bump") })
		var count int64
		onLoop(t, g2.g, func() { count = g2.g.World().Entity(id).Attrs.GetInt("count") })
		if count > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a call routed by the new dispatcher never reached the restored entity")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}
