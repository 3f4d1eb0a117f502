// Package game runs a game process: the world of entities and the one
// goroutine that owns it.
//
// The game loop selects over frames from the dispatchers, callbacks posted
// by other goroutines (storage results), entity timers, the save ticker and
// shutdown. Everything that touches entities runs there, so entity code
// never locks. Blocking work (storage) runs on a worker goroutine and posts
// its result back to the loop.
//
//	reg := entity.NewRegistry()
//	reg.Register("Account", &Account{})
//	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{"127.0.0.1:13001"},
//		BootEntity: "Account", Registry: reg, Storage: backend})
//	go g.Run(ctx)
//	<-g.Ready()
package game

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// Config configures a Game. Zero values take the defaults noted.
//
// The tunables that config.ini sets (intervals, sizes, AOI and client
// limits, freeze settings) are those of the embedded config.GameTuning,
// documented there: a zero field takes its default
// (config.GameTuning.SetDefaults). The fields below are the game's
// identity, its entity types, storage and cluster, and settings
// config.ini does not have.
type Config struct {
	// ID is the game's number ([game1] is 1). Required.
	ID int
	// Games are the IDs of every game of the cluster, for game code
	// (entity.World.Games); empty means this game alone.
	Games []rpc.GameID
	// Dispatchers are the addresses of all dispatchers, in config order.
	Dispatchers []string
	// BootEntity is the entity type created for each new client. Required.
	BootEntity string
	// Registry holds the entity types. Required.
	Registry *entity.Registry
	// Storage persists entities and serves the key-value store; nil means
	// no persistence (loading a persistent entity then fails).
	Storage storage.Backend
	// Secret is the cluster secret (nil: none): the links to the
	// dispatchers prove they hold it, and refuse a dispatcher that cannot
	// prove it too (see link.Config.Secret).
	Secret []byte
	// GameTuning holds the tunables config.ini sets (see above).
	config.GameTuning
	// ShutdownTimeout bounds the final save at shutdown, and then the
	// writing of what is queued for the dispatchers (default 10s).
	ShutdownTimeout time.Duration
	// StorageQueueLimit bounds the bytes of storage operations waiting
	// for the backend (their data, plus 256 bytes each): past it new
	// ones fail at once with ErrStorageQueueFull, so that a slow or lost
	// backend never makes the loop wait (default 256 MiB).
	StorageQueueLimit int
	// SaveRetryTimeout is how long a save that fails (the backend lost,
	// a timeout) is retried, with backoff from 100ms up to 5s, before
	// the failure is reported and the entities stay dirty for the next
	// save (default 2 minutes).
	SaveRetryTimeout time.Duration
	// Restore, if set, is the world to rebuild before connecting: the game
	// resumes a hot reload.
	Restore *entity.Frozen
	// Logger receives the game's logs (default: logrus's standard logger).
	Logger logrus.FieldLogger
}

// linkQueueLimit bounds, per dispatcher link, the bytes of frames kept
// while the link is down, for a restarted dispatcher.
const linkQueueLimit = 16 << 20

type inbound struct {
	t    rpc.MsgType
	body []byte
	link int   // the dispatcher link it came from
	at   int64 // when it arrived, unix nanoseconds
}

// Game is one game process's server. Create it with New.
type Game struct {
	cfg Config
	log logrus.FieldLogger
	// engine drives the world; game code gets only engine.World().
	engine *entity.Engine
	links  []*link.Link

	in     *inQueue
	posted postQueue
	// out holds what the world sends until the loop has nothing more
	// waiting in in (or maxUnflushed turns went by): then each link gets
	// one write. Only the goroutine that runs Run touches it. A link past
	// its send buffer makes the loop wait in out.Flush (back-pressure: a
	// stalled dispatcher stalls the game rather than losing the link).
	out rpc.Batch
	// freezeReq asks the loop to freeze (from the SIGUSR1 handler).
	freezeReq chan struct{}
	// unacked counts, per dispatcher link, freeze requests not yet
	// acknowledged (see freezer); only the loop touches it.
	unacked []int
	// linkLost is set (on the loop) when a dispatcher link drops; a freeze
	// in progress aborts on it.
	linkLost bool
	// pause is, after a restore, the time from the freeze signal until the
	// game was connected again and its queued packets flowing; restored
	// is the restore's report.
	pause    time.Duration
	restored entity.RestoreReport
	store    *asyncStore // nil without storage
	work     chan func() // World.Go work, run by the async workers
	ready    chan struct{}
	done     chan struct{}
	cancel   context.CancelFunc
	closed   bool // Shutdown or Close was called
	started  bool // Run was called
	mu       sync.Mutex
	// stopped is closed once Run has returned, with runErr its result.
	stopped chan struct{}
	runErr  error
	met     *gameMetrics // see metrics.go
	// oversize counts the frames dropped for being over MaxPacketSize
	// (see outbox.Send). Loop only.
	oversize int
	// frameHook, if set, runs before each frame is handled (tests only:
	// see SetFrameHook). Loop only.
	frameHook func(t rpc.MsgType, body []byte)
}

// New validates cfg and builds the world (which checks the boot entity type).
func New(cfg Config) (*Game, error) {
	if cfg.ID <= 0 || cfg.ID > 65535 {
		return nil, fmt.Errorf("game: ID %d out of range 1..65535", cfg.ID)
	}
	if len(cfg.Dispatchers) == 0 {
		return nil, errors.New("game: no dispatcher addresses")
	}
	if cfg.Registry == nil {
		return nil, errors.New("game: no entity registry")
	}
	if cfg.BootEntity == "" {
		return nil, errors.New("game: no boot entity type")
	}
	cfg.GameTuning.SetDefaults()
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.StorageQueueLimit <= 0 {
		cfg.StorageQueueLimit = DefaultStorageQueueLimit
	}
	if cfg.SaveRetryTimeout <= 0 {
		cfg.SaveRetryTimeout = DefaultSaveRetryTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	g := &Game{
		cfg:       cfg,
		log:       cfg.Logger.WithField("game", cfg.ID),
		in:        newInQueue(4 * cfg.SendBufferSize),
		work:      make(chan func(), 4096),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		stopped:   make(chan struct{}),
		freezeReq: make(chan struct{}, 1),
		unacked:   make([]int, len(cfg.Dispatchers)),
		posted:    postQueue{signal: make(chan struct{}, 1)},
		met:       newGameMetrics(),
	}
	g.out.Backpressure = true
	var store entity.Store
	if cfg.Storage != nil {
		g.store = newAsyncStore(g, cfg.Storage)
		store = g.store
	}
	en, err := entity.NewEngine(entity.WorldConfig{
		GameID: rpc.GameID(cfg.ID), Games: cfg.Games, Registry: cfg.Registry, BootEntity: cfg.BootEntity,
		Outbox: (*outbox)(g), Store: store, Logger: g.log, Async: g.async,
		SyncLimit: cfg.AOISyncLimit, SyncTotal: cfg.AOISyncTotal, SyncWork: cfg.AOISyncWork, ViewLimit: cfg.AOIViewLimit,
		ClientStringLimit: cfg.MaxClientString, ClientCoordinateLimit: cfg.MaxClientCoordinate,
		RequestTimeout: cfg.RequestTimeout, SlowCall: cfg.SlowCall,
		MailboxLimit: cfg.MailboxLimit,
	})
	if err != nil {
		return nil, fmt.Errorf("game%d: %w", cfg.ID, err)
	}
	g.engine = en
	for i, addr := range cfg.Dispatchers {
		first := true
		g.links = append(g.links, link.New(link.Config{
			Addr: addr, Role: rpc.RoleGame, ID: uint16(cfg.ID), Secret: cfg.Secret, AuthStats: &g.met.linkAuth,
			Conn: rpc.ConnConfig{
				MaxBody: cfg.MaxPacketSize, MaxPending: cfg.SendBufferSize, Backpressure: true,
				ReadBufferSize: 64 << 10, RetainBuffer: 1 << 20, Stats: &g.met.links,
				OnPanic: func(t rpc.MsgType, _ []byte, p any, stack []byte) error {
					g.met.panics.Record(g.log, "reading a dispatcher's frame (dropped)", p, stack, logrus.Fields{"msg": t.String()})
					return nil
				},
			},
			// While the link is down, entities keep their clients (which
			// stay connected to their gates) and what they send waits in
			// the link's queue. A freeze in progress is aborted.
			QueueLimit:   linkQueueLimit,
			OnDisconnect: func(error) { g.Post(func() { g.linkLost = true }) },
			OnConnect: func(c *rpc.Conn, same bool) {
				reregister := !first || cfg.Restore != nil
				first = false
				g.Post(func() {
					if reregister {
						// A dispatcher came back, or we come back from a hot
						// reload (a dispatcher may have given up on us, or
						// restarted meanwhile): tell it where our entities are.
						// Acks of freezes sent on the old connection will not come.
						g.unacked[i] = 0
						if same {
							// The same dispatcher saw us leave: it told the
							// gates we were gone, and they kicked our clients
							// (whose disconnect notices it dropped, having
							// forgotten our entities). Unbind them here too.
							g.engine.DropClients()
						}
						g.engine.Reregister(i)
					}
					// It knows all of ours now; a restarted dispatcher
					// holds loads until every game has said so.
					g.engine.Registered(i)
				})
			},
			Handler: func(t rpc.MsgType, body []byte) error {
				g.in.push(inbound{t, body, i, time.Now().UnixNano()}, g.done)
				return nil
			},
			Logger: g.log,
		}))
	}
	return g, nil
}

// World returns the game's world. Use it only on the game loop (from
// entity code, or inside Post).
func (g *Game) World() *entity.World { return g.engine.World() }

// Ready is closed once the game is connected to every dispatcher.
func (g *Game) Ready() <-chan struct{} { return g.ready }

// Post runs fn on the game loop. It never blocks; fn runs in order with
// other posted functions.
func (g *Game) Post(fn func()) { g.posted.push(fn) }

// ErrServerClosed is returned by Run after Shutdown or Close.
var ErrServerClosed = errors.New("game: closed")

// Run runs the game loop until ctx is done or Shutdown or Close is
// called, then stops gracefully: it saves what changed, writes what the
// last turns sent and disconnects (each step bounded by
// Config.ShutdownTimeout). It returns ctx's error when ctx ended it,
// ErrServerClosed when Shutdown or Close did, the shutdown save's error
// if that failed, and ErrFrozen after a successful freeze
// (RequestFreeze): the process should then exit, and a new one restore
// from the freeze file.
func (g *Game) Run(ctx context.Context) error {
	g.mu.Lock()
	g.started = true
	g.mu.Unlock()
	err := g.run(ctx)
	if err == nil {
		if err = ctx.Err(); err == nil {
			err = ErrServerClosed
		}
	}
	g.runErr = err
	close(g.stopped)
	return err
}

// run is Run's work; nil means a clean shutdown.
func (g *Game) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	g.mu.Lock()
	g.cancel = cancel
	if g.closed {
		cancel()
	}
	g.mu.Unlock()
	defer cancel()

	linkCtx, stopLinks := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range g.links {
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(linkCtx) }()
	}
	// The workers run before a restore: OnRestore hooks may use storage.
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		if g.store != nil {
			g.store.run(linkCtx)
		}
	}()
	for i := 0; i < asyncWorkers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); g.asyncWorker(linkCtx) }()
	}
	defer func() {
		close(g.done) // unblocks link handlers waiting on g.in
		stopLinks()
		wg.Wait()
		select {
		case <-workerDone:
		case <-time.After(g.cfg.ShutdownTimeout): // a hung backend: do not hang with it
			g.log.Errorf("storage still busy %v after shutdown; leaving it behind", g.cfg.ShutdownTimeout)
		}
	}()

	for _, l := range g.links {
		select {
		case <-l.Connected():
		case <-ctx.Done():
			return nil
		}
	}
	if f := g.cfg.Restore; f != nil {
		// Rebuild the world once connected, so that what OnRestore hooks
		// send (client calls, attribute syncs) goes out. What the
		// dispatchers deliver meanwhile waits in g.in for the loop.
		rep, err := g.engine.Restore(f)
		if err != nil {
			return fmt.Errorf("game%d: restore: %w", g.cfg.ID, err)
		}
		g.restored = rep
		g.log.WithField("entities", rep.Restored).WithField("skipped", len(rep.Skipped)).
			WithField("dropped_timers", len(rep.DroppedTimers)).Info("world restored from the freeze file")
		// Serving from here on: the dispatchers may drop the copies of what
		// they delivered since the freeze.
		g.out.Flush()
		for _, l := range g.links {
			l.Send(rpc.MsgRestored, nil)
		}
	}
	if f := g.cfg.Restore; f != nil && f.SignalAt != 0 {
		g.pause = time.Since(time.Unix(0, f.SignalAt))
		g.log.WithField("pause", g.pause.Round(time.Millisecond).String()).Info("hot reload complete: queued packets are flowing again")
	}
	// Service shards, and the game's OnGameReady hooks (not after a
	// restore: that world was set up before its freeze).
	if g.engine.Ready(g.cfg.Restore != nil) {
		later := time.AfterFunc(g.cfg.ServiceGrace, func() { g.Post(g.engine.EnsureServices) })
		defer later.Stop()
	}
	g.out.Flush()
	g.log.Info("game ready")
	close(g.ready)
	if err := g.loop(ctx); err != nil {
		g.drainLinks(g.cfg.ShutdownTimeout)
		return err // frozen: no shutdown save, the freeze file has it all
	}
	err := g.shutdown()
	// What the last turns sent (an unfreeze for a freeze that the shutdown
	// aborted, the last calls to clients) goes out before the links close.
	g.drainLinks(g.cfg.ShutdownTimeout)
	return err
}

// drainLinks waits, up to timeout, until what is queued for every
// dispatcher (the last answers, what OnFreeze hooks sent) has been
// written: the links close right after, dropping anything still queued.
func (g *Game) drainLinks(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, l := range g.links {
		for c := l.Conn(); c != nil && !c.Idle() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
}

// RestoreReport returns, for a game restored from a freeze, what the
// restore did (zero otherwise). Valid once Ready is closed.
func (g *Game) RestoreReport() entity.RestoreReport { return g.restored }

// Pause returns, for a game restored from a freeze, the time from the
// freeze signal until it was serving again (zero otherwise). Valid once
// Ready is closed.
func (g *Game) Pause() time.Duration { return g.pause }

// RequestFreeze asks the game to freeze for a hot reload (see Run). It is
// safe to call from any goroutine, such as a signal handler.
func (g *Game) RequestFreeze() {
	select {
	case g.freezeReq <- struct{}{}:
	default: // one is already pending
	}
}

// Shutdown stops the game gracefully, as cancelling Run's context does:
// the loop ends, what changed is saved and what the last turns sent is
// written. It waits until Run has returned, and returns the shutdown
// save's error if it failed; if ctx ends first it returns ctx's error and
// the shutdown goes on (a game does not drop its players' progress to
// stop sooner: each step is bounded by Config.ShutdownTimeout). Called
// before Run, it makes Run return at once. Safe to call more than once.
func (g *Game) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	started := g.started
	g.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-g.stopped:
		if err := g.runErr; !errors.Is(err, ErrServerClosed) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrFrozen) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the game and waits for it: Shutdown without a deadline. A
// game's Close saves like its Shutdown (see there).
func (g *Game) Close() error { return g.Shutdown(context.Background()) }

func (g *Game) loop(ctx context.Context) error {
	en := g.engine
	fz := freezer{g: g, unacked: g.unacked}
	defer fz.stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed := time.Time{}
	save := time.NewTicker(g.cfg.SaveInterval)
	defer save.Stop()
	// The position sync ticker runs only while there are spaces, so that
	// an idle game without any wakes for nothing.
	var sync *time.Ticker
	var syncC <-chan time.Time
	defer func() {
		if sync != nil {
			sync.Stop()
		}
	}()
	g.publish()
	defer g.out.Flush()
	g.met.loop.goid.Store(goid.Current())
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); g.watchLoop(stopWatch) }()
	defer func() { close(stopWatch); <-watchDone }()
	turns := 0 // loop turns since the last flush
	for {
		// Send what the last turns queued, unless more frames wait to be
		// handled first (they are likely to add to the same writes).
		if turns++; g.out.Len() > 0 && (g.in.len() == 0 || turns >= maxUnflushed) {
			g.out.Flush()
			turns = 0
		}
		// Arm the timer for the earliest entity timer.
		if next, ok := en.NextTimer(); ok && !next.Equal(armed) {
			timer.Reset(time.Until(next))
			armed = next
		}
		if hasSpaces := en.World().NumSpaces() > 0; hasSpaces != (sync != nil) {
			if hasSpaces {
				sync = time.NewTicker(g.cfg.PositionSyncInterval)
				syncC = sync.C
			} else {
				sync.Stop()
				sync, syncC = nil, nil
			}
		}
		select {
		case <-syncC:
			start := g.begin(tickSync, 0)
			g.guard("in the position sync", 0, nil, en.SyncPositions)
			g.tickDone(tickSync, start)
		case <-g.in.signal:
			turns += g.handleFrames(&fz)
		case <-g.posted.signal:
			start := g.begin(tickPosted, 0)
			for _, fn := range g.posted.drain() {
				g.guard("in a posted function", 0, nil, func() { en.Run(fn) })
			}
			g.tickDone(tickPosted, start)
		case <-timer.C:
			start := g.begin(tickTimers, 0)
			armed = time.Time{}
			g.guard("running timers", 0, nil, func() { en.RunTimers(start) })
			g.tickDone(tickTimers, start)
		case <-save.C:
			start := g.begin(tickSave, 0)
			g.guard("saving", 0, nil, g.saveDirty)
			g.tickDone(tickSave, start)
		case <-g.freezeReq:
			fz.start()
		case <-fz.deadline():
			fz.abort(fmt.Errorf("timed out after %v (%d of %d dispatchers acknowledged, %d storage operations in flight)",
				g.cfg.FreezeTimeout, fz.acks(), len(g.links), en.World().StorageInFlight()))
		case <-ctx.Done():
			if fz.active {
				fz.abort(errors.New("the game is shutting down"))
			}
			return nil
		}
		if fz.active && g.linkLost {
			fz.abort(errors.New("a dispatcher link was lost during the freeze"))
		}
		if fz.ready() {
			if err := fz.finishGuarded(); err == nil {
				return ErrFrozen
			}
		}
	}
}

// maxFrameBatch and frameBatchTime bound the frames one loop turn
// handles from the inbound queue: up to 64, for up to 2 ms. One frame a
// turn let a game whose timers were always due (a turn of timers for
// each frame, the select choosing at random) take in one frame per timer
// run; a batch also saves a select per frame. The bound keeps timers and
// the position sync from waiting long behind a flood of frames.
const (
	maxFrameBatch  = 64
	frameBatchTime = 2 * time.Millisecond
)

// handleFrames handles the frames waiting from the dispatchers, in order,
// within maxFrameBatch and frameBatchTime, stopping after a freeze's
// acknowledgement (the loop then looks at the freeze). It returns the
// frames handled: the loop's turns they count as (a batch is at most
// maxUnflushed, so what they queued is flushed after it if more wait).
func (g *Game) handleFrames(fz *freezer) int {
	var first time.Time
	for n := 0; n < maxFrameBatch; n++ {
		m, ok := g.in.pop()
		if !ok {
			return n
		}
		start := g.begin(tickFrame, m.t)
		if n == 0 {
			first = start
		}
		g.frameWaited(m.at, start)
		g.handleFrame(fz, m)
		g.tickDone(tickFrame, start)
		if m.t == rpc.MsgFreezeAck || time.Since(first) >= frameBatchTime {
			return n + 1
		}
	}
	return maxFrameBatch
}

// handleFrame handles frame m from a dispatcher: a freeze's
// acknowledgement goes to fz, anything else to the world.
func (g *Game) handleFrame(fz *freezer, m inbound) {
	if m.t == rpc.MsgFreezeAck {
		fz.acked(m.link)
		return
	}
	g.guard("handling a frame", m.t, m.body, func() {
		if g.frameHook != nil {
			g.frameHook(m.t, m.body)
		}
		g.engine.Handle(m.t, m.body)
	})
}

// saveDirty starts the periodic save. "saving" and "saved" pair up, in
// order (one storage worker): a test can tell when a change it made has
// been saved.
func (g *Game) saveDirty() {
	var n int
	n = g.engine.SaveDirty(func(err error) {
		if err == nil && n > 0 {
			g.log.Debugf("saved %d entities", n)
		}
	})
	if n > 0 {
		g.log.Debugf("saving %d entities", n)
	}
}

// guard runs fn, one wake-up's work on the game loop, recovering a panic
// that escaped the entity code's own guards (an engine invariant broken,
// a hook's panic in engine code): it is logged with its stack and what
// was being handled, counted in /metrics, and the loop serves on. Losing
// one frame's work beats losing every player of the game.
func (g *Game) guard(what string, t rpc.MsgType, body []byte, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			fields := logrus.Fields{}
			if t != 0 {
				fields["msg"] = t.String()
				if t.IsEntityRouted() {
					if id, ok := rpc.PeekEntityID(body); ok {
						fields["entity"] = fmt.Sprintf("%q", id)
					}
				}
			}
			g.met.panics.Record(g.log, what, p, debug.Stack(), fields)
		}
	}()
	fn()
}

// shutdown saves every changed persistent entity and waits for storage,
// still serving posted callbacks (the save results) meanwhile.
func (g *Game) shutdown() error {
	defer g.out.Flush()
	en := g.engine
	n := en.SaveDirty(nil)
	g.log.Infof("game shutting down; saving %d entities", n)
	deadline := time.NewTimer(g.cfg.ShutdownTimeout)
	defer deadline.Stop()
	for en.World().SavesInFlight() > 0 {
		g.out.Flush()
		select {
		case <-g.posted.signal:
			for _, fn := range g.posted.drain() {
				en.Run(fn)
			}
		case <-deadline.C:
			return fmt.Errorf("game%d: %d saves still in flight after %v", g.cfg.ID, en.World().SavesInFlight(), g.cfg.ShutdownTimeout)
		}
	}
	return nil
}

// asyncWorkers run World.Go work: two, as there are cores to spare on the
// machines this is written for, and more would only queue on them.
const asyncWorkers = 2

// async implements entity.WorldConfig.Async: work runs on an async worker,
// done is posted back to the loop. The queue is bounded; a full queue
// makes the loop wait, which is the back-pressure such work needs.
func (g *Game) async(work, done func()) {
	select {
	case g.work <- func() { defer g.Post(done); work() }: // done runs even if work panics
	case <-g.done:
	}
}

func (g *Game) asyncWorker(ctx context.Context) {
	for {
		select {
		case job := <-g.work:
			func() {
				defer func() {
					if p := recover(); p != nil {
						g.log.Errorf("panic in World.Go work: %v", p)
					}
				}()
				job()
			}()
		case <-ctx.Done():
			return
		}
	}
}

// maxUnflushed bounds the loop turns whose output waits in Game.out while
// more frames keep arriving.
const maxUnflushed = 64

// outbox implements entity.Outbox over the dispatcher links, through
// Game.out.
type outbox Game

func (o *outbox) NumDispatchers() int { return len(o.links) }

func (o *outbox) Send(i int, t rpc.MsgType, body []byte) {
	if len(body) > o.cfg.MaxPacketSize {
		// The dispatcher would take a frame over its limit for a broken
		// peer and close the link: every player of this game would go.
		// It is a bug of the game (a call to a client with a huge value):
		// drop it and say so.
		if o.oversize++; o.oversize == 1 || o.oversize%1000 == 0 {
			o.log.Errorf("%v of %d bytes to dispatcher %d dropped: over max_packet_size (%d), which would close the link (%d dropped so far); "+
				"send large data in parts", t, len(body), i+1, o.cfg.MaxPacketSize, o.oversize)
		}
		return
	}
	// A full queue is logged by the link, once per thousand frames.
	if err := o.out.SendLink(o.links[i], t, body); err != nil && !errors.Is(err, link.ErrQueueFull) {
		o.log.WithError(err).Warnf("%v to dispatcher %d dropped", t, i)
	}
}

// postQueue is an unbounded FIFO of functions with a wake-up signal, so
// that a storage worker never blocks on a busy loop (and the loop never
// deadlocks with it).
type postQueue struct {
	mu     sync.Mutex
	fns    []func()
	signal chan struct{}
}

func (q *postQueue) push(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *postQueue) drain() []func() {
	q.mu.Lock()
	fns := q.fns
	q.fns = nil
	q.mu.Unlock()
	return fns
}
