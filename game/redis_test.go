package game_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// Lobby loads entities and reports the answer of each load.
type Lobby struct{ entity.Entity }

func (l *Lobby) DescribeEntityType(d *entity.TypeDesc) { d.DefineAttr("tag", 0) }

// OnLoaded is the load callback.
func (l *Lobby) OnLoaded(id rpc.EntityID, err error) { report(&l.Entity, "loaded", id, err) }

func lobbyRegistry(t *testing.T) *entity.Registry {
	r := registry(t)
	if err := r.Register("Lobby", &Lobby{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func openRedis(t *testing.T, addr string, readTimeout time.Duration) *storage.Redis {
	t.Helper()
	b, err := storage.OpenRedis(&storage.RedisOptions{Addr: addr, KeyPrefix: "g:", ReadTimeout: readTimeout,
		DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// metric returns the value of one line of g's /metrics, matched by its
// name and labels (a regexp fragment), or -1 if there is none.
func metric(t *testing.T, g *game.Game, nameAndLabels string) float64 {
	t.Helper()
	var buf bytes.Buffer
	if err := g.WriteMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + nameAndLabels + ` (\S+)$`).FindStringSubmatch(buf.String())
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor polls cond until it holds, failing t after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowRedisNeverBlocksTheLoop pauses the Redis server (SIGSTOP: every
// command waits, as behind a stuck disk) and has the loop queue far more
// storage operations than the old 4096-slot queue held: the loop goes on
// serving calls, operations past the queue's byte limit fail at once
// with ErrStorageQueueFull (counted in /metrics), and once Redis answers
// again every accepted operation completes.
func TestSlowRedisNeverBlocksTheLoop(t *testing.T) {
	srv := redistest.Start(t)
	b := openRedis(t, srv.Addr, 30*time.Second) // slow, not failing
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	n := startGame(t, game.Config{
		ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t),
		Storage: b, GameTuning: config.GameTuning{SaveInterval: time.Hour},
		StorageQueueLimit: 1 << 20, Logger: l,
	})
	g := n.g
	sk := newSink(t)
	probe := probeOn(t, g, 1, sk)

	srv.Pause()
	defer srv.Resume()
	const ops = 10000
	value := make([]byte, 200)
	results := make(chan error, ops)
	onLoop(t, g, func() {
		for i := range ops {
			g.World().KVPut(fmt.Sprint("k", i), value, func(err error) { results <- err })
		}
	})
	// The loop serves calls while Redis is stuck.
	for i := range 20 {
		onLoop(t, g, func() { g.World().Call(probe, "Ping", i) })
		if ev := sk.expect(t, "Ping"); ev.args[0] != i {
			t.Fatalf("Ping %v, want %d", ev.args, i)
		}
	}
	// The operations past the limit failed at once, while Redis is paused.
	rejected := 0
	for rejected == 0 || len(results) > 0 {
		select {
		case err := <-results:
			if !errors.Is(err, game.ErrStorageQueueFull) {
				t.Fatalf("KVPut with Redis paused: %v, want ErrStorageQueueFull", err)
			}
			rejected++
		case <-time.After(waitLimit):
			t.Fatal("no KVPut was refused with the queue full")
		}
	}
	if rejected >= ops-1000 {
		t.Fatalf("%d of %d refused: the 1 MiB queue should hold about 2000", rejected, ops)
	}
	if v := metric(t, g, `goworld_game_storage_rejected_total\{process="game1",reason="queue_full"\}`); v != float64(rejected) {
		t.Errorf("rejected_total{queue_full} = %v, want %d", v, rejected)
	}
	if v := metric(t, g, `goworld_game_storage_queue\{process="game1"\}`); v < 1000 {
		t.Errorf("storage_queue = %v with Redis paused, want the accepted operations", v)
	}

	srv.Resume()
	for range ops - rejected {
		select {
		case err := <-results:
			if err != nil {
				t.Fatalf("KVPut after Redis resumed: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("the accepted KVPuts did not complete after Redis resumed")
		}
	}
	if got, err := b.Get("k0"); err != nil || len(got) != len(value) {
		t.Fatalf("Get(k0) = %d bytes, %v", len(got), err)
	}
	if v := metric(t, g, `goworld_game_storage_queue\{process="game1"\}`); v != 0 {
		t.Errorf("storage_queue = %v after the queue drained", v)
	}
}

// TestRedisLostWhileRunning stops the Redis server under a running game:
// the save of a changed entity, and the final save of an entity destroyed
// during the outage (a logout), are retried with backoff and counted; a
// load meanwhile fails with ErrStorageFailed and a reason; once Redis is
// back (with its AOF), every save lands and loads work again.
func TestRedisLostWhileRunning(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	b := openRedis(t, srv.Addr, time.Second)
	l, logs := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	n := startGame(t, game.Config{
		ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: lobbyRegistry(t),
		Storage: b, GameTuning: config.GameTuning{SaveInterval: time.Hour},
		SaveRetryTimeout: time.Minute, Logger: l,
	})
	g := n.g
	sk := newSink(t)
	level := func(id rpc.EntityID) int64 {
		data, err := b.LoadEntity("Hero", string(id))
		if err != nil {
			return -1
		}
		v, _, err := rpc.DecodeAny(data)
		m, _ := v.(map[string]any)
		if err != nil || m == nil {
			return -1
		}
		lv, _ := m["level"].(int64)
		return lv
	}
	hero := createLocally(t, g, "Hero", map[string]any{"level": 1})
	leaver := createLocally(t, g, "Hero", map[string]any{"level": 1})
	asleep := createLocally(t, g, "Hero", map[string]any{"level": 7})
	lobby := createLocally(t, g, "Lobby", map[string]any{"tag": sk.tag})
	waitFor(t, "first saves", func() bool { return level(hero) == 1 && level(leaver) == 1 && level(asleep) == 7 })
	onLoop(t, g, func() { g.World().Entity(asleep).Destroy() })
	waitFor(t, "asleep's final save", func() bool { return metric(t, g, `goworld_game_entities\{process="game1"\}`) == 3 })

	srv.Stop()
	onLoop(t, g, func() {
		g.World().Entity(hero).Attrs.Set("level", 2)
		g.World().Entity(leaver).Attrs.Set("level", 3)
		game.EngineOf(g).SaveDirty(nil)
		g.World().Entity(leaver).Destroy() // its final save queues behind
	})
	waitFor(t, "a save retried", func() bool {
		return metric(t, g, `goworld_game_storage_save_retries_total\{process="game1"\}`) >= 1 &&
			metric(t, g, `goworld_game_storage_failing\{process="game1"\}`) == 1
	})
	// A login meanwhile: the load fails with a reason, at once.
	onLoopErr(t, g, func() error {
		return g.World().Entity(lobby).LoadEntitySomewhere("Hero", asleep, "OnLoaded")
	})
	ev := sk.expect(t, "loaded")
	err, _ := ev.args[1].(error)
	if !errors.Is(err, entity.ErrStorageFailed) || !bytes.Contains([]byte(err.Error()), []byte("storage is failing")) {
		t.Fatalf("load during the outage: %v, want ErrStorageFailed saying the storage is failing", err)
	}
	logs.wait(t, "saving failed; retrying with backoff")

	srv.Restart(t)
	waitFor(t, "the retried saves", func() bool { return level(hero) == 2 && level(leaver) == 3 })
	waitFor(t, "the store to recover", func() bool {
		return metric(t, g, `goworld_game_storage_failing\{process="game1"\}`) == 0
	})
	logs.wait(t, "saving succeeded after")
	onLoopErr(t, g, func() error {
		return g.World().Entity(lobby).LoadEntitySomewhere("Hero", asleep, "OnLoaded")
	})
	if ev := sk.expect(t, "loaded"); ev.args[1] != nil {
		t.Fatalf("load after Redis came back: %v", ev.args[1])
	}
	if v := metric(t, g, `goworld_game_storage_rejected_total\{process="game1",reason="failing"\}`); v < 1 {
		t.Errorf("rejected_total{failing} = %v, want the load refused during the outage", v)
	}
	if v := metric(t, g, `goworld_game_storage_errors_total\{process="game1",op="save"\}`); v != 0 {
		t.Errorf("errors_total{save} = %v: a save was given up", v)
	}
}
