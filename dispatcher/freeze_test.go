package dispatcher_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// freeze sends MsgFreezeGame from g and returns the frames g received
// before the acknowledgement.
func freeze(t *testing.T, g *peer) []frame {
	t.Helper()
	g.send(t, rpc.MsgFreezeGame, nil)
	var before []frame
	for {
		f := g.next(t)
		if f.t == rpc.MsgFreezeAck {
			if len(f.body) != 0 {
				t.Fatalf("%s: FreezeAck with a %d-byte body", g.name, len(f.body))
			}
			return before
		}
		before = append(before, f)
	}
}

// routed proves that everything gw sent so far has been routed: gw's
// frames are routed in order on one goroutine, so once a call gw sends to
// other's entity own arrives at other, the frames before it were handled.
func routed(t *testing.T, gw *peer, other *peer, own rpc.EntityID) {
	t.Helper()
	b := clientCallBody(own, 0, 0, "routed", gw.name)
	gw.send(t, rpc.MsgClientCall, b)
	other.expectFrame(t, rpc.MsgClientCall, b)
}

// routedByLog proves that everything gw sent so far has been routed, when
// there is no other game to bounce a call off: a call to an unknown
// entity is dropped with a debug log naming it.
func routedByLog(t *testing.T, s *server, gw *peer) {
	t.Helper()
	id := rpc.NewEntityID()
	gw.send(t, rpc.MsgClientCall, clientCallBody(id, 1, 0, "probe"))
	s.logs.wait(t, "drop of "+string(id), func(l logEntry) bool {
		return strings.Contains(l.msg, "unknown entity") && strings.Contains(l.msg, string(id))
	})
}

// expectFrames checks that the next frames are exactly want, in order.
func (p *peer) expectFrames(t *testing.T, want []frame) {
	t.Helper()
	for i, w := range want {
		f := p.next(t)
		if f.t != w.t || !bytes.Equal(f.body, w.body) {
			t.Fatalf("%s: frame %d of %d is %v %x, want %v %x", p.name, i, len(want), f.t, f.body, w.t, w.body)
		}
	}
}

// expectNothingBefore checks that the next frame is want: nothing came
// before it.
func (p *peer) expectNothingBefore(t *testing.T, want frame) {
	t.Helper()
	p.expectFrames(t, []frame{want})
}

func TestFreezeAckComesAfterEverythingForwarded(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	e := rpc.NewEntityID()
	register(t, g, e)

	for i := 0; i < 50; i++ {
		b := clientCallBody(e, 1, 1, "Before", i)
		gw.send(t, rpc.MsgClientCall, b)
		g.expectFrame(t, rpc.MsgClientCall, b)
	}
	// The game's own call and its freeze in one write: the call is routed
	// (to the game itself) before the freeze, so it comes before the ack.
	own := callBody(e, "own")
	g.sendRaw(t, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgCallEntityMethod, own), rpc.MsgFreezeGame, nil))
	g.expectFrame(t, rpc.MsgCallEntityMethod, own)
	g.expectFrame(t, rpc.MsgFreezeAck, nil)
	// After the ack, the same call is queued.
	g.send(t, rpc.MsgCallEntityMethod, own)
	g.send(t, rpc.MsgUnfreezeGame, nil)
	g.expectFrame(t, rpc.MsgCallEntityMethod, own)
	barrier(t, g, e)
}

// A stream of calls racing with a freeze: each call arrives exactly once,
// in order, either before the ack or after the unfreeze.
func TestFreezeRacingAStreamLosesAndReordersNothing(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	e := rpc.NewEntityID()
	register(t, g, e)
	call := func(i int) []byte { return clientCallBody(e, 1, 1, "Seq", i) }

	// The gate streams calls in chunks until the game has its ack, and
	// some more after: those are routed after the freeze.
	acked := make(chan struct{})
	total := make(chan int, 1)
	go func() {
		n, after := 0, 0
		for after < 20 {
			select {
			case <-acked:
				after++
			default:
			}
			var chunk []byte
			for k := 0; k < 50; k++ {
				chunk = rpc.AppendFrame(chunk, rpc.MsgClientCall, call(n))
				n++
			}
			gw.nc.SetWriteDeadline(time.Now().Add(waitLimit))
			if _, err := gw.nc.Write(chunk); err != nil {
				break
			}
		}
		total <- n
	}()
	got := 0
	check := func(f frame) {
		t.Helper()
		if f.t != rpc.MsgClientCall || !bytes.Equal(f.body, call(got)) {
			t.Fatalf("frame %d: %v %x, want call %d", got, f.t, f.body, got)
		}
		got++
	}
	for got < 10 {
		check(g.next(t))
	}
	for _, f := range freeze(t, g) {
		check(f)
	}
	beforeAck := got
	close(acked)
	n := <-total
	if n-beforeAck < 20*50 {
		t.Fatalf("only %d of %d calls after the ack", n-beforeAck, n)
	}
	g.send(t, rpc.MsgUnfreezeGame, nil)
	for got < n {
		check(g.next(t))
	}
	t.Logf("%d calls before the ack, %d queued", beforeAck, n-beforeAck)
	// Nothing more, and traffic flows normally.
	last := clientCallBody(e, 1, 1, "Last")
	gw.send(t, rpc.MsgClientCall, last)
	g.expectNothingBefore(t, frame{rpc.MsgClientCall, last})
}

func TestFrozenGameQueuesAndTheRestoredProcessGetsTheQueue(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	gw2 := connect(t, s, rpc.RoleGate, 2)
	e, f, e2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g1, f)
	register(t, g2, e2)

	if before := freeze(t, g1); len(before) != 0 {
		t.Fatalf("frames before the ack: %v", before)
	}
	s.logs.wait(t, "freeze logged", func(l logEntry) bool { return strings.Contains(l.msg, "queueing its packets") })

	// Everything for game 1 is queued, from every source, in order.
	var queued []frame
	add := func(t rpc.MsgType, b []byte) { queued = append(queued, frame{t, b}) }

	cc := clientCallBody(e, 1, 11, "ClientCall", 1)
	gw.send(t, rpc.MsgClientCall, cc)
	add(rpc.MsgClientCall, cc)
	routed(t, gw, g2, e2)

	call := callBody(f, "FromGame2", 2)
	g2.send(t, rpc.MsgCallEntityMethod, call)
	add(rpc.MsgCallEntityMethod, call)
	barrier(t, g2, e2)

	self := callBody(e, "FromItself", 3) // a frozen game's calls to itself queue too
	g1.send(t, rpc.MsgCallEntityMethod, self)
	add(rpc.MsgCallEntityMethod, self)
	out := callBody(e2, "FromFrozen") // and its calls to others flow
	g1.send(t, rpc.MsgCallEntityMethod, out)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, out)

	gw2.close() // a gate leaving: the frozen game hears of it after the reload
	g2.expectPeerGone(t, rpc.RoleGate, 2)
	gw.expectPeerGone(t, rpc.RoleGate, 2)
	add(rpc.MsgPeerGone, helloBody(rpc.RoleGate, 2))

	disc := clientBody(e, 1, 11)
	gw.send(t, rpc.MsgClientDisconnected, disc)
	add(rpc.MsgClientDisconnected, disc)
	routed(t, gw, g2, e2)

	// The game's own traffic to others still flows while it is frozen
	// (its last replies, calls made by OnFreeze hooks).
	toc := toClientBody(1, 11, rpc.MsgCallClient, []byte("reply"))
	g1.send(t, rpc.MsgToClient, toc)
	gw.expectFrame(t, rpc.MsgToClient, toc)

	// The frozen process exits. Nobody is told game 1 is gone.
	g1.close()
	s.logs.wait(t, "frozen game disconnected", func(l logEntry) bool { return strings.Contains(l.msg, "frozen game disconnected") })
	fromG2 := toClientBody(1, 11, rpc.MsgCallClient, []byte("after"))
	g2.send(t, rpc.MsgToClient, fromG2)
	gw.expectNothingBefore(t, frame{rpc.MsgToClient, fromG2}) // no PeerGone(game 1) first
	barrier(t, g2, e2)                                        // no PeerGone(game 1) for game 2 either

	// Its entities are kept: calls to them still queue.
	cc2 := clientCallBody(f, 1, 12, "WhileAway", 4)
	gw.send(t, rpc.MsgClientCall, cc2)
	add(rpc.MsgClientCall, cc2)
	routed(t, gw, g2, e2)
	call2 := callBody(e, "WhileAway", 5)
	g2.send(t, rpc.MsgCallEntityMethod, call2)
	add(rpc.MsgCallEntityMethod, call2)
	barrier(t, g2, e2)

	// The restored process: HelloAck, then exactly the queue, then new
	// traffic.
	g1b := connect(t, s, rpc.RoleGame, 1) // checks HelloAck is the first frame
	g1b.expectFrames(t, queued)
	fresh := clientCallBody(e, 1, 13, "Fresh")
	gw.send(t, rpc.MsgClientCall, fresh)
	g1b.expectNothingBefore(t, frame{rpc.MsgClientCall, fresh})
	call3 := callBody(f, "Fresh")
	g2.send(t, rpc.MsgCallEntityMethod, call3)
	g1b.expectNothingBefore(t, frame{rpc.MsgCallEntityMethod, call3})
	barrier(t, g1b, e)
	s.logs.wait(t, "back logged", func(l logEntry) bool {
		return l.level == logrus.InfoLevel && strings.Contains(l.msg, "frozen game is back")
	})

	// Once it says it serves, it is an ordinary game again: leaving now is
	// announced.
	g1b.send(t, rpc.MsgRestored, nil)
	s.logs.wait(t, "restored logged", func(l logEntry) bool { return strings.Contains(l.msg, "hot reload done") })
	g1b.close()
	gw.expectPeerGone(t, rpc.RoleGame, 1)
	g2.expectPeerGone(t, rpc.RoleGame, 1)
}

// A restored process that dies before it serves (before MsgRestored)
// leaves everything for the next one: the queue and what was delivered to
// it since, in order, and nobody hears the game is gone.
func TestRestoringProcessThatDiesLeavesTheQueueForTheNext(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	e := rpc.NewEntityID()
	g1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	barrier(t, g1, e)
	g1.send(t, rpc.MsgFreezeGame, nil)
	g1.expectFrame(t, rpc.MsgFreezeAck, nil)
	before := clientCallBody(e, 1, 11, "Before")
	gw.send(t, rpc.MsgClientCall, before)
	g1.close()
	s.logs.wait(t, "frozen game disconnected", func(l logEntry) bool { return strings.Contains(l.msg, "frozen game disconnected") })

	bad := connect(t, s, rpc.RoleGame, 1) // a new binary that will crash
	bad.expectFrame(t, rpc.MsgClientCall, before)
	during := clientCallBody(e, 1, 11, "During")
	gw.send(t, rpc.MsgClientCall, during)
	bad.expectFrame(t, rpc.MsgClientCall, during)
	bad.close()
	s.logs.wait(t, "died logged", func(l logEntry) bool { return strings.Contains(l.msg, "left before it was serving") })
	after := clientCallBody(e, 1, 11, "After")
	gw.send(t, rpc.MsgClientCall, after)

	good := connect(t, s, rpc.RoleGame, 1) // the rollback
	good.expectFrames(t, []frame{{rpc.MsgClientCall, before}, {rpc.MsgClientCall, during}, {rpc.MsgClientCall, after}})
	good.send(t, rpc.MsgRestored, nil)
	s.logs.wait(t, "restored logged", func(l logEntry) bool { return strings.Contains(l.msg, "hot reload done") })
	fresh := clientCallBody(e, 1, 11, "Fresh")
	gw.send(t, rpc.MsgClientCall, fresh)
	good.expectNothingBefore(t, frame{rpc.MsgClientCall, fresh})
	toc := toClientBody(1, 11, rpc.MsgCallClient, []byte("x"))
	good.send(t, rpc.MsgToClient, toc)
	gw.expectNothingBefore(t, frame{rpc.MsgToClient, toc}) // no PeerGone(game 1) reached the gate
}

func TestUnfreezeFlushesTheQueueToTheSameConnection(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	e, e2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g2, e2)

	freeze(t, g1)
	var queued []frame
	for i := 0; i < 20; i++ {
		b := clientCallBody(e, 1, 1, "Queued", i)
		gw.send(t, rpc.MsgClientCall, b)
		queued = append(queued, frame{rpc.MsgClientCall, b})
	}
	routed(t, gw, g2, e2)
	g1.send(t, rpc.MsgUnfreezeGame, nil)
	g1.expectFrames(t, queued)
	after := clientCallBody(e, 1, 1, "After")
	gw.send(t, rpc.MsgClientCall, after)
	g1.expectNothingBefore(t, frame{rpc.MsgClientCall, after})
	s.logs.wait(t, "unfreeze logged", func(l logEntry) bool {
		return strings.Contains(l.msg, "resumes with its queued packets") && l.fields["queued_bytes"] != 0
	})

	// Unfreezing a game that is not frozen does nothing; freezing twice
	// acknowledges twice; a gate may not freeze.
	g1.send(t, rpc.MsgUnfreezeGame, nil)
	barrier(t, g1, e)
	freeze(t, g1)
	freeze(t, g1)
	g1.send(t, rpc.MsgUnfreezeGame, nil)
	barrier(t, g1, e)
	// Leaving after an unfreeze is announced as usual.
	g1.close()
	gw.expectPeerGone(t, rpc.RoleGame, 1)

	gw.send(t, rpc.MsgFreezeGame, nil)
	gw.expectClosed(t)
}

func TestFreezeQueueLimit(t *testing.T) {
	const limit = 2000
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{FreezeQueueLimit: limit}})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	e, e2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g2, e2)

	freeze(t, g1)
	g1.close() // the frozen process exits
	s.logs.wait(t, "frozen game disconnected", func(l logEntry) bool { return strings.Contains(l.msg, "frozen game disconnected") })

	pad := strings.Repeat("x", 100)
	const n = 40
	var calls [][]byte
	size := 0
	for i := 0; i < n; i++ {
		b := clientCallBody(e, 1, 1, "Call", i, pad)
		calls = append(calls, b)
		gw.send(t, rpc.MsgClientCall, b)
		size = rpc.HeaderSize + len(b)
	}
	routed(t, gw, g2, e2)
	keep := limit / size // every frame has the same size
	if keep == 0 || keep >= n {
		t.Fatalf("test setup: %d of %d frames fit", keep, n)
	}
	s.logs.wait(t, "queue full logged", func(l logEntry) bool {
		return l.level == logrus.ErrorLevel && strings.Contains(l.msg, "queue is full") && strings.Contains(l.msg, "1 packets dropped")
	})

	g1b := connect(t, s, rpc.RoleGame, 1)
	for i := 0; i < keep; i++ {
		g1b.expectFrame(t, rpc.MsgClientCall, calls[i])
	}
	fresh := clientCallBody(e, 1, 1, "Fresh", pad)
	gw.send(t, rpc.MsgClientCall, fresh)
	g1b.expectNothingBefore(t, frame{rpc.MsgClientCall, fresh})
	s.logs.wait(t, "drops reported on return", func(l logEntry) bool {
		return l.level == logrus.ErrorLevel && strings.Contains(l.msg, fmt.Sprintf("%d packets over freeze_queue_limit were dropped", n-keep))
	})

	// The limit applies per freeze: a second one queues afresh.
	freeze(t, g1b)
	var again [][]byte
	for i := 0; i < keep; i++ {
		b := clientCallBody(e, 1, 1, "Back", i, pad) // the same size as before
		again = append(again, b)
		gw.send(t, rpc.MsgClientCall, b)
	}
	routed(t, gw, g2, e2)
	g1b.send(t, rpc.MsgUnfreezeGame, nil)
	for _, b := range again {
		g1b.expectFrame(t, rpc.MsgClientCall, b)
	}
}

func TestRestoreTimeoutGivesUpOnTheFrozenGame(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{RestoreTimeout: 100 * time.Millisecond}})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	e, e2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g1, rpc.NewEntityID())
	register(t, g2, e2)
	freeze(t, g1)
	queuedCall := clientCallBody(e, 1, 1, "Queued")
	gw.send(t, rpc.MsgClientCall, queuedCall)
	routed(t, gw, g2, e2)
	g1.close()

	// After the timeout, everyone hears that game 1 is gone.
	gw.expectPeerGone(t, rpc.RoleGame, 1)
	g2.expectPeerGone(t, rpc.RoleGame, 1)
	s.logs.wait(t, "give-up logged", func(l logEntry) bool {
		return l.level == logrus.ErrorLevel && strings.Contains(l.msg, "did not come back")
	})

	// Its entities are forgotten: calls to them are dropped, and a game 1
	// coming back late gets neither the queue nor calls to its old
	// entities.
	gw.send(t, rpc.MsgClientCall, clientCallBody(e, 1, 1, "Stale"))
	routed(t, gw, g2, e2)
	g1b := connect(t, s, rpc.RoleGame, 1)
	g2.send(t, rpc.MsgCallEntityMethod, callBody(e, "Stale"))
	barrier(t, g2, e2)
	fresh := rpc.NewEntityID()
	register(t, g1b, fresh) // the first frame g1b gets is its own
	// Its load was forgotten too: 1 entity (fresh) against game 2's 1, so
	// the lower ID wins.
	gw.send(t, rpc.MsgClientConnected, clientBody("", 1, 5))
	g1b.expect(t, rpc.MsgClientConnected)
}

func TestNewClientGoesToAFrozenGameOnlyWhenThereIsNoOther(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	for i := 0; i < 5; i++ { // game 2 is much busier
		register(t, g2, rpc.NewEntityID())
	}
	e2 := rpc.NewEntityID()
	register(t, g2, e2)
	freeze(t, g1)

	// Game 1 is idle but frozen: new clients go to game 2.
	for c := uint64(1); c <= 3; c++ {
		gw.send(t, rpc.MsgClientConnected, clientBody("", 1, c))
		body := g2.expect(t, rpc.MsgClientConnected)
		if !bytes.Equal(body[rpc.EntityIDLength:], clientBody("", 1, c)[rpc.EntityIDLength:]) {
			t.Fatalf("ClientConnected body %x", body)
		}
	}
	// Entities created somewhere avoid it too.
	created := rpc.NewEntityID()
	g2.send(t, rpc.MsgCreateEntitySomewhere, createBody(created, "Monster", map[string]any{}))
	g2.expectFrame(t, rpc.MsgCreateEntitySomewhere, createBody(created, "Monster", map[string]any{}))

	// Without game 2, the frozen game is the only choice: the client
	// waits in its queue, also while the process is away.
	g2.close()
	gw.expectPeerGone(t, rpc.RoleGame, 2)
	gw.send(t, rpc.MsgClientConnected, clientBody("", 1, 10))
	routedByLog(t, s, gw)
	g1.close()
	s.logs.wait(t, "frozen game disconnected", func(l logEntry) bool { return strings.Contains(l.msg, "frozen game disconnected") })
	gw.send(t, rpc.MsgClientConnected, clientBody("", 1, 11))
	routedByLog(t, s, gw)
	loaded := rpc.NewEntityID()
	g1b := connect(t, s, rpc.RoleGame, 1)
	g1b.expectPeerGone(t, rpc.RoleGame, 2) // queued when game 2 left
	var boot []rpc.EntityID
	for _, c := range []uint64{10, 11} {
		body := g1b.expect(t, rpc.MsgClientConnected)
		if !bytes.Equal(body[rpc.EntityIDLength:], clientBody("", 1, c)[rpc.EntityIDLength:]) {
			t.Fatalf("queued ClientConnected body %x, want client %d", body, c)
		}
		boot = append(boot, rpc.EntityID(body[:rpc.EntityIDLength]))
	}
	// The boot entities were recorded on game 1: their calls reach it.
	for i, id := range boot {
		b := clientCallBody(id, 1, uint64(10+i), "Login")
		gw.send(t, rpc.MsgClientCall, b)
		g1b.expectFrame(t, rpc.MsgClientCall, b)
	}
	g1b.send(t, rpc.MsgLoadEntitySomewhere, loadBody(loaded, "Hero"))
	g1b.expectFrame(t, rpc.MsgLoadEntitySomewhere, loadBody(loaded, "Hero"))
}

// A frozen game that reconnects while its old connection is still open
// (the new process started before the old one's socket closed) gets the
// queue on the new connection; the old one is closed.
func TestRestoredProcessReplacesTheFrozenConnection(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	e, e2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g2, e2)
	freeze(t, g1)
	q := clientCallBody(e, 1, 1, "Queued")
	gw.send(t, rpc.MsgClientCall, q)
	routed(t, gw, g2, e2)

	g1b := connect(t, s, rpc.RoleGame, 1)
	g1b.expectFrame(t, rpc.MsgClientCall, q)
	g1.expectClosed(t)
	fresh := clientCallBody(e, 1, 1, "Fresh")
	gw.send(t, rpc.MsgClientCall, fresh)
	g1b.expectNothingBefore(t, frame{rpc.MsgClientCall, fresh})
	// The old connection's close did not announce game 1 as gone.
	toc := toClientBody(1, 1, rpc.MsgCallClient, nil)
	g2.send(t, rpc.MsgToClient, toc)
	gw.expectNothingBefore(t, frame{rpc.MsgToClient, toc})
}

// Closing the dispatcher while a frozen game is away stops its restore
// timer (goleak in TestMain checks nothing is left running).
func TestCloseWithAFrozenGameAway(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{RestoreTimeout: time.Hour}})
	g1 := connect(t, s, rpc.RoleGame, 1)
	freeze(t, g1)
	g1.close()
	s.logs.wait(t, "frozen game disconnected", func(l logEntry) bool { return strings.Contains(l.msg, "frozen game disconnected") })
	if err := s.stop(t); err != dispatcher.ErrServerClosed {
		t.Fatalf("Run returned %v", err)
	}
}
