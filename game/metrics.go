package game

import (
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/recovered"
	"github.com/goworld-engine/goworld/rpc"
)

// tickKind is what woke the game loop.
type tickKind int

const (
	tickFrame  tickKind = iota // a frame from a dispatcher
	tickPosted                 // posted functions (storage results, World.Go callbacks, link events)
	tickTimers                 // entity timers
	tickSync                   // the position sync
	tickSave                   // the save ticker
	numTickKinds
)

var tickKindNames = [numTickKinds]string{"frame", "posted", "timers", "sync", "save"}

// gameMetrics are the game's metrics. The loop publishes what only it may
// read (the world's figures) with atomic stores after each wake-up, so a
// scrape never waits for the loop, and still answers when the loop is
// stuck (the figures then stop changing, and the tick histogram shows the
// stall once it ends).
type gameMetrics struct {
	links    rpc.ConnStats // the dispatcher links
	linkAuth rpc.LinkAuthStats
	tick     [numTickKinds]*metrics.Histogram
	entities atomic.Int64
	spaces   atomic.Int64
	aoiMoves atomic.Uint64
	aoiNanos atomic.Int64
	// deferred: what the position syncs left for later, by kind
	// (entity.SyncDeferred: routes, creates, positions).
	deferred [3]atomic.Uint64
	panics   recovered.Log // panics recovered on the loop and the links
	// entityPanics is the world's count of panics recovered in entity code.
	entityPanics atomic.Uint64
	// fenced is the world's count of retired copies (Engine.FencedCopies).
	fenced    atomic.Uint64
	loop      loopState          // see stall.go
	frameWait *metrics.Histogram // how long frames waited for the loop
	store     storeMetrics       // see store.go
}

func newGameMetrics() *gameMetrics {
	m := &gameMetrics{frameWait: metrics.NewDurationHistogram()}
	for i := range m.tick {
		m.tick[i] = metrics.NewDurationHistogram()
	}
	return m
}

// tickDone records one wake-up of the loop, which started at start, and
// publishes the world's figures. On the loop only.
func (g *Game) tickDone(k tickKind, start time.Time) {
	g.met.loop.busySince.Store(0)
	g.met.tick[k].Observe(time.Since(start))
	g.publish()
}

// publish stores the world's figures for WriteMetrics. On the loop only.
func (g *Game) publish() {
	m, en, w := g.met, g.engine, g.engine.World()
	m.entities.Store(int64(w.NumEntities()))
	m.spaces.Store(int64(w.NumSpaces()))
	moves, spent := en.AOIStats()
	m.aoiMoves.Store(moves)
	m.aoiNanos.Store(int64(spent))
	d := en.SyncDeferred()
	m.deferred[0].Store(d.Routes)
	m.deferred[1].Store(d.Creates)
	m.deferred[2].Store(d.Positions)
	m.entityPanics.Store(w.Panics())
	m.fenced.Store(en.FencedCopies())
}

// WriteMetrics writes the game's metrics in the Prometheus text format,
// each with the label process="gameN". It never waits for the game loop:
// the world's figures are those the loop published after its last
// wake-up. Safe to call from any goroutine.
func (g *Game) WriteMetrics(out io.Writer) error {
	m := g.met
	w := metrics.NewWriter(out, "process", fmt.Sprintf("game%d", g.cfg.ID))
	w.Gauge("goworld_game_entities", "Entities on this game (spaces included).", float64(m.entities.Load()))
	w.Gauge("goworld_game_spaces", "Spaces on this game.", float64(m.spaces.Load()))
	g.engine.LocalServiceShards(func(name string, n int) {
		w.Gauge("goworld_game_service_shards", "Shards of each service live on this game (see RegisterService).", float64(n), "service", name)
	})
	w.Counter("goworld_game_aoi_moves_total", "Moves of entities within a space's AOI grid.", m.aoiMoves.Load())
	w.FloatCounter("goworld_game_aoi_move_seconds_total", "Time spent in AOI grid moves.", time.Duration(m.aoiNanos.Load()).Seconds())
	const deferredHelp = "What position syncs left for a later sync because a bound held it back: clients whose neighbours' moves were not looked at (aoi_sync_work), creates and positions over a client's share (aoi_sync_limit, aoi_sync_total). Nothing is lost; a growing count means clients in a crowd get positions less often than every sync."
	for i, what := range []string{"route", "create", "position"} {
		w.Counter("goworld_game_aoi_deferred_total", deferredHelp, m.deferred[i].Load(), "what", what)
	}
	for k, h := range m.tick {
		w.Histogram("goworld_game_tick_seconds", "Time the game loop spent on one wake-up, by what woke it.", h, "kind", tickKindNames[k])
	}
	const panicsHelp = "Panics recovered on the game loop: in entity code (methods, hooks, timers, callbacks) or in the engine; each is logged with its stack (the first few a minute)."
	w.Counter("goworld_game_panics_total", panicsHelp, m.entityPanics.Load(), "in", "entity")
	w.Counter("goworld_game_panics_total", panicsHelp, m.panics.Total(), "in", "engine")
	w.Histogram("goworld_game_frame_wait_seconds", "How long frames from the dispatchers waited for the game loop: high when the loop is stuck, overloaded or the process was stopped.", m.frameWait)
	w.Counter("goworld_game_loop_stalls_total", "Wake-ups of the game loop that ran longer than stall_threshold (each logged with the loop's stack), and times the process did not run for that long.", m.loop.stalls.Load())
	busy := 0.0
	if since := m.loop.busySince.Load(); since != 0 {
		busy = time.Since(time.Unix(0, since)).Seconds()
	}
	w.Gauge("goworld_game_loop_busy_seconds", "How long the game loop's current wake-up has run (0 while it waits).", busy)
	w.Gauge("goworld_game_inbound_queue", "Frames from the dispatchers waiting for the game loop (bounded by 4 x send_buffer_size in bytes; past that the links push back on TCP).", float64(g.in.len()))
	w.Gauge("goworld_game_posted_queue", "Functions posted to the game loop and not yet run.", float64(g.posted.len()))
	g.writeStorageMetrics(w)
	g.writeCallMetrics(w)
	w.WriteTraffic(metrics.Traffic{Link: "dispatcher", Stats: &m.links})
	w.WriteLinkAuth(&m.linkAuth)
	for i, l := range g.links {
		q := 0
		if c := l.Conn(); c != nil {
			q = c.Queued()
		}
		w.Gauge("goworld_link_queue_bytes", "Bytes queued for a dispatcher, not yet written (0 while the link is down).",
			float64(q), "dispatcher", strconv.Itoa(i+1))
	}
	return w.Err()
}

func (q *postQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.fns)
}

// writeStorageMetrics writes the storage queue's figures (none without
// storage).
func (g *Game) writeStorageMetrics(w *metrics.Writer) {
	if g.store == nil {
		return
	}
	m := &g.met.store
	for k := range numStoreOps {
		w.Counter("goworld_game_storage_errors_total", "Storage operations that failed in the backend (a save after its retries), by operation.",
			m.errors[k].Load(), "op", storeOpNames[k])
	}
	const rejHelp = "Storage operations failed without asking the backend: the queue was full (storage too slow or down), or a save was being retried (storage failing)."
	w.Counter("goworld_game_storage_rejected_total", rejHelp, m.rejected[0].Load(), "reason", "queue_full")
	w.Counter("goworld_game_storage_rejected_total", rejHelp, m.rejected[1].Load(), "reason", "failing")
	w.Counter("goworld_game_fenced_entities_total", "Copies of persistent entities retired because a newer copy was loaded elsewhere: "+
		"their save was refused by the store's fencing epoch, their client kicked (each logged).", g.met.fenced.Load())
	w.Counter("goworld_game_storage_save_retries_total", "Tries of a failed save after its first (with backoff, up to save_retry_timeout).", m.retries.Load())
	failing := 0.0
	if m.failing.Load() {
		failing = 1
	}
	w.Gauge("goworld_game_storage_failing", "1 while a failed save is being retried (loads and KV operations fail meanwhile), else 0.", failing)
	ops, bytes := g.store.queued()
	w.Gauge("goworld_game_storage_queue", "Storage operations waiting for the backend.", float64(ops))
	w.Gauge("goworld_game_storage_queue_bytes", "Bytes of storage operations waiting for the backend (bounded by StorageQueueLimit).", float64(bytes))
}

// writeCallMetrics writes the figures of entity methods and requests:
// per type and method (declared methods only, those that ran), runs as
// calls and as requests, the time they took, and error answers by code.
// The figures are atomic: nothing here waits for the loop.
func (g *Game) writeCallMetrics(w *metrics.Writer) {
	en, world := g.engine, g.engine.World()
	const runsHelp = "Runs of an entity method, by type, method and kind: call (one-way calls from entities and clients, timers) or request (calls that answer)."
	en.MethodStats(func(s *entity.MethodStats) {
		w.Counter("goworld_game_method_runs_total", runsHelp, s.Calls.Load(), "type", s.Type, "method", s.Method, "kind", "call")
		w.Counter("goworld_game_method_runs_total", runsHelp, s.Requests.Load(), "type", s.Type, "method", s.Method, "kind", "request")
	})
	en.MethodStats(func(s *entity.MethodStats) {
		w.Histogram("goworld_game_method_seconds", "Time an entity method held the game loop, by type and method (a run over slow_call is logged).", s.Seconds, "type", s.Type, "method", s.Method)
	})
	en.MethodStats(func(s *entity.MethodStats) {
		for i := range s.Errors {
			if n := s.Errors[i].Load(); n > 0 {
				code := "game"
				if i < len(codeLabels) {
					code = codeLabels[i]
				}
				w.Counter("goworld_game_request_errors_total", "Requests an entity method answered with an error, by type, method and code (game: the game's own codes).", n, "type", s.Type, "method", s.Method, "code", code)
			}
		}
	})
	sent, timedOut, late := world.RequestStats()
	w.Counter("goworld_game_requests_sent_total", "Requests this game's entities sent (Entity.Request).", sent)
	w.Counter("goworld_game_requests_timed_out_total", "Requests of this game's entities whose callback got the timeout error.", timedOut)
	w.Counter("goworld_game_replies_late_total", "Answers dropped because their request had timed out already (or their caller was gone).", late)
	stored, dropped, run := world.OfflineStats()
	w.Counter("goworld_game_offline_calls_stored_total", "Offline calls (Entity.CallOffline) this game stored in an entity's mailbox.", stored)
	w.Counter("goworld_game_offline_calls_dropped_total", "Offline calls this game could not store: mailbox full (mailbox_limit), no such entity in storage, storage failed.", dropped)
	w.Counter("goworld_game_offline_calls_run_total", "Offline calls this game's entities ran from their mailboxes.", run)
}

// codeLabels are the code label values of the engine's error codes, by code.
var codeLabels = []string{"ok", "timeout", "no_entity", "no_method", "bad_args", "panicked", "overloaded", "failed"}
