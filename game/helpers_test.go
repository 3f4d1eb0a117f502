package game_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// waitLimit bounds every wait; it only turns a hang into a failure.
const waitLimit = 10 * time.Second

// event is what the test entities report to the test.
type event struct {
	what string
	id   rpc.EntityID
	args []any
	goid uint64 // the goroutine it ran on
}

// sinks maps an entity's "tag" attribute to the channel its reports go to,
// so that each test hears only its own entities.
var (
	sinks   sync.Map
	sinkSeq atomic.Int64
)

type sink struct {
	tag string
	ch  chan event
}

func newSink(t *testing.T) *sink {
	s := &sink{tag: fmt.Sprintf("%s#%d", t.Name(), sinkSeq.Add(1)), ch: make(chan event, 4096)}
	sinks.Store(s.tag, s)
	t.Cleanup(func() { sinks.Delete(s.tag) })
	return s
}

func report(e *entity.Entity, what string, args ...any) {
	v, ok := sinks.Load(e.Attrs.GetString("tag"))
	if !ok {
		return
	}
	v.(*sink).ch <- event{what: what, id: e.ID(), args: args, goid: goid.Current()}
}

// next returns the next report.
func (s *sink) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-s.ch:
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("no report after %v", waitLimit)
	}
	return event{}
}

// expect returns the next report, which must be what.
func (s *sink) expect(t *testing.T, what string) event {
	t.Helper()
	ev := s.next(t)
	if ev.what != what {
		t.Fatalf("got report %s%v from %s, want %s", ev.what, ev.args, ev.id, what)
	}
	return ev
}

// Probe is a plain entity that reports its calls.
type Probe struct{ entity.Entity }

func (p *Probe) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("tag", 0)
}

func (p *Probe) OnCreated()          { report(&p.Entity, "created") }
func (p *Probe) Ping(n int)          { report(&p.Entity, "Ping", n) }
func (p *Probe) Tick(n int)          { report(&p.Entity, "Tick", n) }
func (p *Probe) Boom(message string) { panic(message) }
func (p *Probe) Nap(ms int)          { stallHere(time.Duration(ms) * time.Millisecond) }

// Hero is a persistent entity: "tag" and "level" are saved, "scratch" is not.
type Hero struct{ entity.Entity }

func (h *Hero) DescribeEntityType(d *entity.TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("tag", entity.AttrPersistent)
	d.DefineAttr("level", entity.AttrPersistent)
	d.DefineAttr("scratch", 0)
}

func (h *Hero) OnCreated() { report(&h.Entity, "created", h.Attrs.GetInt("level")) }
func (h *Hero) Ping(n int) { report(&h.Entity, "Ping", n, h.Attrs.GetInt("level")) }

func registry(t testing.TB) *entity.Registry {
	r := entity.NewRegistry()
	for name, proto := range map[string]any{"Probe": &Probe{}, "Hero": &Hero{}} {
		if err := r.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// logHook records log lines.
type logHook struct {
	mu    sync.Mutex
	lines []string
	// connects counts the "connected to dispatcher" entries by the value
	// of their game field. (Matching lines on "game=N\n" missed those with
	// a field after game: "connected to dispatcher; queue sent" has
	// queued_bytes.)
	connects map[string]int
}

func (h *logHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h *logHook) Fire(e *logrus.Entry) error {
	s, _ := e.String()
	h.mu.Lock()
	h.lines = append(h.lines, s)
	if strings.HasPrefix(e.Message, "connected to dispatcher") {
		if h.connects == nil {
			h.connects = map[string]int{}
		}
		h.connects[fmt.Sprint(e.Data["game"])]++
	}
	h.mu.Unlock()
	return nil
}

// waitConnects waits until game has logged that it connected to a
// dispatcher at least n times.
func (h *logHook) waitConnects(t *testing.T, game, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		h.mu.Lock()
		got := h.connects[strconv.Itoa(game)]
		h.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("game %d connected to a dispatcher %d times, want %d", game, got, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// has reports whether a line contains all the words.
func (h *logHook) has(words ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// wait polls until a line contains all the words.
func (h *logHook) wait(t *testing.T, words ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !h.has(words...) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing logged containing %q", words)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

func newLogger() (*logrus.Logger, *logHook) {
	h := &logHook{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.DebugLevel)
	l.AddHook(h)
	return l, h
}

// startCluster starts an in-process cluster with the test entity types.
func startCluster(t *testing.T, o cluster.Options) (*cluster.Cluster, *logHook) {
	t.Helper()
	l, h := newLogger()
	o.Registry, o.Logger = registry(t), l
	if o.BootEntity == "" {
		o.BootEntity = "Probe"
	}
	return cluster.Start(t, o), h
}

// onLoop runs fn on g's loop and waits until it has run. fn must not
// call t.Fatal (or FailNow, or Skip): on the loop's goroutine that ends
// the loop, and the test then hangs in the game's Close. Set a result
// and check it after onLoop returns.
func onLoop(t *testing.T, g *game.Game, fn func()) {
	t.Helper()
	done := make(chan struct{})
	g.Post(func() { defer close(done); fn() })
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("posted function did not run within %v", waitLimit)
	}
}

// onLoopErr runs fn on g's loop and fails the test if it returns an error.
func onLoopErr(t *testing.T, g *game.Game, fn func() error) {
	t.Helper()
	var err error
	onLoop(t, g, func() { err = fn() })
	if err != nil {
		t.Fatal(err)
	}
}

// probeOn has from create a Probe on game gameID that reports to sk, and
// returns its ID once it reported its creation. The create goes through
// the dispatcher that routes from's later calls to it: they cannot
// overtake the entity's registration.
func probeOn(t *testing.T, from *game.Game, gameID rpc.GameID, sk *sink) rpc.EntityID {
	t.Helper()
	var id rpc.EntityID
	onLoopErr(t, from, func() (err error) {
		id, err = from.World().CreateEntityOnGame(gameID, "Probe", map[string]any{"tag": sk.tag})
		return err
	})
	sk.expect(t, "created")
	return id
}

// createLocally creates an entity on g and returns its ID.
func createLocally(t *testing.T, g *game.Game, typ string, attrs map[string]any) rpc.EntityID {
	t.Helper()
	var id rpc.EntityID
	onLoopErr(t, g, func() error {
		e, err := g.World().CreateEntityLocally(typ, attrs)
		if err == nil {
			id = e.ID()
		}
		return err
	})
	return id
}

// Hand-built servers, for tests that need to control them one by one.

type dispatcherNode struct {
	d      *dispatcher.Dispatcher
	addr   string
	runErr chan error
	once   sync.Once
}

func startDispatcher(t *testing.T, addr string, log logrus.FieldLogger) *dispatcherNode {
	t.Helper()
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: addr, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return runDispatcher(t, d)
}

// runDispatcher runs d until the test ends.
func runDispatcher(t *testing.T, d *dispatcher.Dispatcher) *dispatcherNode {
	t.Helper()
	n := &dispatcherNode{d: d, addr: d.Addr().String(), runErr: make(chan error, 1)}
	go func() { n.runErr <- d.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *dispatcherNode) stop(t *testing.T) {
	t.Helper()
	n.once.Do(func() {
		n.d.Close()
		select {
		case <-n.runErr:
		case <-time.After(waitLimit):
			t.Fatal("dispatcher Run did not return after Close")
		}
	})
}

type gameNode struct {
	g      *game.Game
	runErr chan error
	once   sync.Once
	err    error
}

// startGame runs a game built from cfg and waits until it is ready.
func startGame(t *testing.T, cfg game.Config) *gameNode {
	t.Helper()
	g, err := game.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { n.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { n.stop(t) })
	select {
	case <-g.Ready():
	case err := <-n.runErr:
		t.Fatalf("game stopped before it was ready: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("game not ready")
	}
	return n
}

// stop closes the game and returns Run's result.
func (n *gameNode) stop(t *testing.T) error {
	t.Helper()
	n.once.Do(func() {
		n.g.Close()
		select {
		case n.err = <-n.runErr:
			if errors.Is(n.err, game.ErrServerClosed) {
				n.err = nil
			}
		case <-time.After(waitLimit):
			t.Fatal("game Run did not return after Close")
		}
	})
	return n.err
}

// recBackend is a storage backend that reports every SaveEntities batch.
type recBackend struct {
	storage.Backend
	saves chan []storage.EntityRecord
}

func newRecBackend(t *testing.T) *recBackend {
	t.Helper()
	b, err := storage.Open(storage.TypeBolt, t.TempDir()+"/game.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &recBackend{Backend: b, saves: make(chan []storage.EntityRecord, 4096)}
}

func (b *recBackend) SaveEntities(recs []storage.EntityRecord) error {
	err := b.Backend.SaveEntities(recs)
	if err == nil {
		cp := make([]storage.EntityRecord, len(recs))
		for i, r := range recs {
			cp[i] = storage.EntityRecord{Type: r.Type, ID: r.ID, Data: bytes.Clone(r.Data)}
		}
		select {
		case b.saves <- cp:
		default:
			panic("recBackend: too many unread saves")
		}
	}
	return err
}

// nextSave returns the next saved batch.
func (b *recBackend) nextSave(t *testing.T) []storage.EntityRecord {
	t.Helper()
	select {
	case recs := <-b.saves:
		return recs
	case <-time.After(waitLimit):
		t.Fatalf("no save within %v", waitLimit)
	}
	return nil
}

// decode decodes saved entity data.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	v, _, err := rpc.DecodeAny(data)
	if err != nil {
		t.Fatalf("saved data %x: %v", data, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("saved data is %T, not a map", v)
	}
	return m
}

// find returns the record for id in recs.
func find(recs []storage.EntityRecord, id rpc.EntityID) (storage.EntityRecord, bool) {
	for _, r := range recs {
		if r.ID == string(id) {
			return r, true
		}
	}
	return storage.EntityRecord{}, false
}

// stored reads id's saved data straight from a backend.
func stored(t *testing.T, b storage.Backend, typ string, id rpc.EntityID) map[string]any {
	t.Helper()
	data, err := b.LoadEntity(typ, string(id))
	if err != nil {
		t.Fatalf("LoadEntity(%s, %s): %v", typ, id, err)
	}
	return decode(t, data)
}

func (h *logHook) count(words ...string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.lines {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			n++
		}
	}
	return n
}

func (h *logHook) waitCount(t *testing.T, n int, words ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.count(words...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d lines containing %q", n, words)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}
