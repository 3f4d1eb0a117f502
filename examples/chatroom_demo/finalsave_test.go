package main

// A logout's final save and the next login, on two games sharing Redis:
// the login must load what the final save stored, even when that save is
// slow or being retried (the store down) and the login is placed through
// the other game.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// heldStore is a real backend whose saves can be held back, as a slow
// store holds them, or made to fail, as a store that went away does.
type heldStore struct {
	storage.Backend
	mu   sync.Mutex
	gate chan struct{} // while non-nil, SaveEntities waits for it to close
	down bool          // SaveEntities fails
}

// errInjectedDown is what a heldStore's saves fail with while down: an
// error that may pass, so the game retries.
var errInjectedDown = errors.New("storage unreachable (injected by the test)")

func (h *heldStore) SaveEntities(recs []storage.EntityRecord) error {
	h.mu.Lock()
	g, down := h.gate, h.down
	h.mu.Unlock()
	if g != nil {
		<-g
	}
	if down {
		return errInjectedDown
	}
	return h.Backend.SaveEntities(recs)
}

func (h *heldStore) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate == nil {
		h.gate = make(chan struct{})
	}
}

func (h *heldStore) setDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

func (h *heldStore) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate != nil {
		close(h.gate)
		h.gate = nil
	}
}

// finalSaveSetup is two games on one Redis, each through a heldStore, and
// one gate; erin registered, said two lines in the lobby while fault(her
// game's store) held her saves back, and quit: her avatar is destroyed,
// its final save pending. Then the other game is made the least loaded:
// boot entities of six connections spread over both games, those on the
// other game go.
type finalSaveSetup struct {
	c      *cluster.Cluster
	gate   string
	store  *heldStore // erin's game's
	a      int        // erin's game, 1-based
	avatar rpc.EntityID
}

func setupFinalSave(t *testing.T, fault func(*heldStore)) *finalSaveSetup {
	t.Helper()
	srv := redistest.Start(t)
	stores := make([]*heldStore, 2)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", Games: 2,
		OpenStorage: func(i int) (storage.Backend, error) {
			b, err := storage.OpenRedis(&storage.RedisOptions{Addr: srv.Addr, KeyPrefix: "final:"})
			if err != nil {
				return nil, err
			}
			stores[i-1] = &heldStore{Backend: b}
			return stores[i-1], nil
		}})
	t.Cleanup(func() {
		for _, s := range stores {
			s.setDown(false)
			s.release()
		}
	})
	s := &finalSaveSetup{c: c, gate: c.GateAddr(0)}
	erin := dial(t, s.gate, "erin", false)
	erin.register("pw", "lobby")
	s.avatar = erin.playerID()
	s.a = gameOf(t, c, s.avatar)
	s.store = stores[s.a-1]
	for deadline := time.Now().Add(waitFor); s.inFlight(t) != 0; { // the first save is done
		if time.Now().After(deadline) {
			t.Fatal("the avatar's first save did not complete")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fault(s.store)
	erin.say("one")
	erin.expectChat("[lobby] erin: one")
	erin.say("two")
	erin.expectChat("[lobby] erin: two")
	erin.c.Close() // the avatar is destroyed; its final save waits

	// Ballast: boot entities on erin's game (at least 2), so that the
	// dispatcher places the next ones on the other game. Those placed on
	// the other game meanwhile stay open until then (closing them would
	// leave the loads as they were, and the next ones would go there
	// again: the games' entity counts differ by the services' shards
	// when one game started a service_grace before the other), then go.
	kept := 0
	type placed struct {
		ch *chatter
		id rpc.EntityID
		on int
	}
	var elsewhere []placed
	for batch := 0; kept < 2; batch++ {
		if batch == 5 {
			t.Fatalf("%d of %d boot entities on game%d", kept, 6*batch, s.a)
		}
		var chs []*chatter
		for i := range 6 {
			chs = append(chs, dial(t, s.gate, fmt.Sprintf("ballast%d", 6*batch+i), false))
		}
		for _, ch := range chs {
			id := ch.bootEntity()
			if on := gameOf(t, c, id); on == s.a {
				kept++
			} else {
				elsewhere = append(elsewhere, placed{ch, id, on})
			}
		}
	}
	for _, p := range elsewhere {
		id, on := p.id, p.on
		p.ch.c.Close()
		other := c.Games[on-1]
		for deadline := time.Now().Add(waitFor); ; {
			gone := make(chan bool, 1)
			other.Post(func() { gone <- other.World().Entity(id) == nil })
			if <-gone {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a closed connection's boot entity stayed")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return s
}

// inFlight returns the storage operations in flight on erin's game.
func (s *finalSaveSetup) inFlight(t *testing.T) int {
	t.Helper()
	g := s.c.Games[s.a-1]
	n := make(chan int, 1)
	g.Post(func() { n <- g.World().StorageInFlight() })
	select {
	case v := <-n:
		return v
	case <-time.After(waitFor):
		t.Fatal("game loop did not answer")
	}
	return 0
}

// checkErin checks what erin logged in to: both lines said before she
// quit, on the game where her final save was.
func (s *finalSaveSetup) checkErin(t *testing.T, ch *chatter) {
	t.Helper()
	if p, _ := ch.c.Player(); p.Attrs["said"] != int64(2) {
		t.Fatalf("erin logged in again with said=%v, want 2: her final save was lost", p.Attrs["said"])
	}
	if got := gameOf(t, s.c, s.avatar); got != s.a {
		t.Errorf("the avatar was loaded on game%d, want game%d, where its final save was", got, s.a)
	}
}

// TestReloginWaitsForTheFinalSave: erin quits while her game's saves are
// held back (a slow store) and logs in again at once, through a boot
// entity on the other game, the least loaded. Her avatar comes back with
// both lines she said: its load goes to the game whose final save is
// pending and waits behind it there. (Unregistered at once, the avatar
// would be loaded on the other game from what Redis held before the
// final save: said unset, two acknowledged lines lost.)
func TestReloginWaitsForTheFinalSave(t *testing.T) {
	s := setupFinalSave(t, (*heldStore).hold)
	again := dial(t, s.gate, "erin", false)
	again.call("Login", "pw")
	// Either the login completes (from the other game: stale), or the
	// load waits on erin's game behind the final save; then the save is
	// let through.
	deadline := time.After(waitFor)
	for released := false; ; {
		if !released && s.inFlight(t) >= 2 {
			s.store.release()
			released = true
		}
		select {
		case ev := <-again.c.Events():
			if call, ok := ev.(client.Call); ok && call.Method == "OnLogin" {
				s.checkErin(t, again)
				return
			}
			if d, ok := ev.(client.Disconnected); ok {
				t.Fatalf("disconnected: %s", d.Reason)
			}
		case <-deadline:
			t.Fatalf("no OnLogin within %v (released=%v)", waitFor, released)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestReloginWhileTheFinalSaveIsRetried: erin quits while her game's
// store is down, so her final save is retried with backoff. Logins
// meanwhile are refused with the demo's reason, every one of them, not
// only the first (whose load failed on her game): a failed load must not
// let the next one be placed on the other game, which would load what
// Redis held before. Once the store is back and the save has gone
// through, she logs in to both lines.
func TestReloginWhileTheFinalSaveIsRetried(t *testing.T) {
	s := setupFinalSave(t, func(h *heldStore) { h.setDown(true) })
	for i := range 2 {
		if r := dial(t, s.gate, "erin", false).refused("Login", "pw"); r != msgStoreDown {
			t.Fatalf("login %d while the final save is retried: %q, want %q", i+1, r, msgStoreDown)
		}
	}
	s.store.setDown(false)
	for deadline := time.Now().Add(waitFor); s.inFlight(t) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the final save did not complete once the store was back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	again := dial(t, s.gate, "erin", false)
	again.login("pw", "")
	s.checkErin(t, again)
}

// TestCallerlessLoadWaitsForTheFinalSave: erin quits while her game's
// saves are held back, and the other game loads her avatar with
// World.LoadEntitySomewhere, which names no caller. The dispatcher still
// has the avatar registered on erin's game (its final save is pending)
// and forwards the load there, where it waits behind the save: once the
// save goes through, the avatar is live on that game with both lines.
// (The dispatcher used to drop a caller-less load of an entity it saw
// live, so the avatar was never loaded.)
func TestCallerlessLoadWaitsForTheFinalSave(t *testing.T) {
	s := setupFinalSave(t, (*heldStore).hold)
	other := s.c.Games[2-s.a] // the game erin's avatar is not on
	other.Post(func() {
		if err := other.World().LoadEntitySomewhere("Avatar", s.avatar); err != nil {
			t.Errorf("LoadEntitySomewhere: %v", err)
		}
	})
	for deadline := time.Now().Add(waitFor); s.inFlight(t) < 2; { // the final save, then the load behind it
		if time.Now().After(deadline) {
			t.Fatalf("the load did not reach game%d, where the final save is pending (in flight: %d)", s.a, s.inFlight(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.store.release()
	g := s.c.Games[s.a-1]
	for deadline := time.Now().Add(waitFor); ; {
		said := make(chan any, 1)
		g.Post(func() {
			if e := g.World().Entity(s.avatar); e != nil {
				said <- e.Attrs.GetInt("said")
				return
			}
			said <- nil
		})
		if v := <-said; v != nil {
			if v != int64(2) {
				t.Fatalf("the avatar was loaded with said=%v, want 2", v)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the avatar is not live on game%d after its final save", s.a)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
