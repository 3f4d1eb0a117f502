package game_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

func TestKVStoreCallbacksRunOnTheLoop(t *testing.T) {
	c, _ := startCluster(t, cluster.Options{StorageDir: t.TempDir()})
	g := c.Games[0]
	type result struct {
		what   string
		stored bool
		value  []byte
		err    error
		onLoop bool
	}
	results := make(chan result, 8)
	var loopID uint64
	onLoop(t, g, func() {
		loopID = goid.Current()
		w := g.World()
		w.KVPutIfAbsent("account:alice", []byte("avatar1"), func(stored bool, existing []byte, err error) {
			results <- result{"first put-if-absent", stored, existing, err, goid.Current() == loopID}
			w.KVPutIfAbsent("account:alice", []byte("avatar2"), func(stored bool, existing []byte, err error) {
				results <- result{"second put-if-absent", stored, existing, err, goid.Current() == loopID}
				w.KVPut("account:alice", []byte("avatar3"), nil)
				w.KVPut("account:bob", []byte("avatar4"), func(err error) {
					results <- result{"put", false, nil, err, goid.Current() == loopID}
					w.KVGet("account:alice", func(v []byte, err error) {
						results <- result{"get", false, v, err, goid.Current() == loopID}
					})
				})
			})
		})
	})
	for _, want := range []result{
		{what: "first put-if-absent", stored: true},
		{what: "second put-if-absent", value: []byte("avatar1")},
		{what: "put"},
		{what: "get", value: []byte("avatar3")},
	} {
		var got result
		select {
		case got = <-results:
		case <-time.After(waitLimit):
			t.Fatalf("no %s result", want.what)
		}
		if got.what != want.what || got.stored != want.stored || string(got.value) != string(want.value) || got.err != nil || !got.onLoop {
			t.Fatalf("got %+v, want %+v on the loop", got, want)
		}
	}
}

func TestLoadingAMissingEntityFailsCleanly(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{StorageDir: t.TempDir()})
	g := c.Games[0]
	missing := rpc.NewEntityID()
	failed := "loading Hero<" + string(missing) + "> failed"
	onLoopErr(t, g, func() error {
		if err := g.World().LoadEntitySomewhere("Hero", missing); err != nil {
			return err
		}
		// Dropped, with the load or (if the load fails first) on arrival.
		g.World().Call(missing, "Ping", 1)
		return nil
	})
	logs.wait(t, failed)
	// The game told the dispatcher to forget the entity: a second load is
	// forwarded and fails again, rather than being taken as live.
	onLoopErr(t, g, func() error { return g.World().LoadEntitySomewhere("Hero", missing) })
	logs.waitCount(t, 2, failed)
	var n int
	onLoop(t, g, func() { n = g.World().NumEntities() })
	if n != 0 {
		t.Fatalf("%d entities after failed loads", n)
	}
}

func TestLoadWithoutStorageFails(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{})
	g := c.Games[0]
	id := rpc.NewEntityID()
	onLoopErr(t, g, func() error { return g.World().LoadEntitySomewhere("Hero", id) })
	logs.wait(t, "cannot load "+string(id), "no storage")
	// Entities are still created and saved nowhere, without errors.
	sk := newSink(t)
	onLoopErr(t, g, func() error {
		_, err := g.World().CreateEntitySomewhere("Hero", map[string]any{"tag": sk.tag, "level": 1})
		return err
	})
	sk.expect(t, "created")
}

// blockingBackend blocks SaveEntities while blocked is set.
type blockingBackend struct {
	*recBackend
	mu      sync.Mutex
	blocked chan struct{} // nil: not blocking
}

func (b *blockingBackend) block() {
	b.mu.Lock()
	b.blocked = make(chan struct{})
	b.mu.Unlock()
}

func (b *blockingBackend) release() {
	b.mu.Lock()
	if b.blocked != nil {
		close(b.blocked)
		b.blocked = nil
	}
	b.mu.Unlock()
}

func (b *blockingBackend) SaveEntities(recs []storage.EntityRecord) error {
	b.mu.Lock()
	ch := b.blocked
	b.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return b.recBackend.SaveEntities(recs)
}

func TestShutdownTimeoutBoundsTheFinalSave(t *testing.T) {
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	b := &blockingBackend{recBackend: newRecBackend(t)}
	defer b.release()
	n := startGame(t, game.Config{
		ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t),
		Storage: b, GameTuning: config.GameTuning{SaveInterval: time.Hour},
		ShutdownTimeout: 100 * time.Millisecond, Logger: l,
	})
	g := n.g
	hero := createLocally(t, g, "Hero", map[string]any{"level": 1})
	b.nextSave(t)
	onLoop(t, g, func() { g.World().Entity(hero).Attrs.Set("level", 2) })
	b.block()
	g.Close()
	select {
	case err := <-n.runErr:
		n.once.Do(func() {}) // stopped here
		if err == nil || !strings.Contains(err.Error(), "in flight") {
			t.Fatalf("Run returned %v, want the saves-in-flight error", err)
		}
	case <-time.After(5 * time.Second):
		b.release()
		<-n.runErr
		n.once.Do(func() {})
		t.Fatal("Run did not return within 5s of Close with a hung backend, despite a 100ms ShutdownTimeout")
	}
}

func TestKVWithoutStorageReportsAnError(t *testing.T) {
	c, _ := startCluster(t, cluster.Options{})
	g := c.Games[0]
	errs := make(chan error, 3)
	g.Post(func() {
		w := g.World()
		w.KVGet("k", func(_ []byte, err error) { errs <- err })
	})
	g.Post(func() { g.World().KVPut("k", []byte("v"), func(err error) { errs <- err }) })
	g.Post(func() {
		g.World().KVPutIfAbsent("k", []byte("v"), func(_ bool, _ []byte, err error) { errs <- err })
	})
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatalf("KV operation %d without storage succeeded", i)
			}
		case <-time.After(waitLimit):
			t.Fatalf("KV operation %d without storage never called done", i)
		}
	}
}

// Shutdown returns only once the final save is stored, and Run then
// returns ErrServerClosed.
func TestShutdownWaitsForTheFinalSave(t *testing.T) {
	n, b := storageGame(t, time.Hour)
	g := n.g
	hero := createLocally(t, g, "Hero", map[string]any{"level": 1})
	b.nextSave(t)
	onLoop(t, g, func() { g.World().Entity(hero).Attrs.Set("level", 7) })
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if m := stored(t, b, "Hero", hero); m["level"] != int64(7) {
		t.Fatalf("stored %v when Shutdown returned, want level 7", m)
	}
	if err := <-n.runErr; !errors.Is(err, game.ErrServerClosed) {
		t.Fatalf("Run returned %v, want game.ErrServerClosed", err)
	}
	n.once.Do(func() {})
	if err := g.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
}

// A Shutdown whose context ends before the final save is stored returns
// the context's error; the shutdown goes on, and Run returns once the
// save is done.
func TestShutdownDeadlineLeavesTheSaveGoing(t *testing.T) {
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	b := &blockingBackend{recBackend: newRecBackend(t)}
	defer b.release()
	n := startGame(t, game.Config{
		ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t),
		Storage: b, GameTuning: config.GameTuning{SaveInterval: time.Hour},
		ShutdownTimeout: 20 * time.Second, Logger: l,
	})
	g := n.g
	hero := createLocally(t, g, "Hero", map[string]any{"level": 1})
	b.nextSave(t)
	onLoop(t, g, func() { g.World().Entity(hero).Attrs.Set("level", 3) })
	b.block()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with the save blocked: %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-n.runErr:
		t.Fatalf("Run returned %v while the final save was blocked", err)
	default:
	}
	b.release()
	if err := <-n.runErr; !errors.Is(err, game.ErrServerClosed) {
		t.Fatalf("Run returned %v, want game.ErrServerClosed", err)
	}
	n.once.Do(func() {})
	if m := stored(t, b, "Hero", hero); m["level"] != int64(3) {
		t.Fatalf("stored %v, want level 3", m)
	}
}
