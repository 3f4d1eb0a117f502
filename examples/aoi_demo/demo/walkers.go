package demo

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/goworld-engine/goworld"
)

// Server-side walkers: entities without a client that walk in the entry
// zone, so that a benchmark can fill one space with as many members as
// it likes (examples/aoi_demo/bench_test.go: 99,000 walkers and 1,000
// clients). They are off unless the environment of the game asks for
// them; the demo's behaviour is otherwise unchanged. goworldctl passes
// its environment to the processes it starts:
//
//	AOI_DEMO_WALKERS=99000    walkers in the entry zone (0..MaxWalkers; default 0)
//	AOI_DEMO_WORLD_SIZE=31623 side of the square where players spawn and
//	                          walkers walk (100..MaxWorldSize; default WorldSize)
//	AOI_DEMO_WALK_FOR=45s     how long the walkers walk once all exist, then
//	                          they stand still (default 0: until the game stops)
//	AOI_DEMO_WALK_EVERY=1s    how often each walker steps (10ms..1m; default
//	                          100ms, as the bots)
//
// A value that does not parse or is out of range is logged as an error
// by the entry zone and the default is used instead.
const (
	envWalkers   = "AOI_DEMO_WALKERS"
	envWorldSize = "AOI_DEMO_WORLD_SIZE"
	envWalkFor   = "AOI_DEMO_WALK_FOR"
	envWalkEvery = "AOI_DEMO_WALK_EVERY"
)

// MaxWalkers bounds AOI_DEMO_WALKERS.
const MaxWalkers = 1_000_000

// MaxWorldSize bounds AOI_DEMO_WORLD_SIZE.
const MaxWorldSize = 1_000_000

// Walking: like the bots and the benchmark's clients, a walker steps up
// to walkStep units on each axis, by default 10 times a second. The entry
// zone moves a share of its walkers every walkTick, in turn, so that each
// walks once every AOI_DEMO_WALK_EVERY (a tenth of them each tick by
// default), spread evenly rather than all at once. It spends at most
// walkBudget of each tick on them: a game that cannot afford the steps
// makes fewer (and says so in its log every walkReport), and still
// handles its clients.
const (
	walkStep     = 5
	walkTick     = 10 * time.Millisecond
	walkBudget   = walkTick / 2
	walkReport   = 10 * time.Second
	spawnPerTick = 500            // walkers created per tick while spawning
	maxWalkFor   = 24 * time.Hour // bound of AOI_DEMO_WALK_FOR
	maxWalkEvery = time.Minute    // bound of AOI_DEMO_WALK_EVERY
)

// settings are the walkers' environment, read once at start.
type settings struct {
	walkers   int
	worldSize float32
	walkFor   time.Duration
	walkEvery time.Duration
	errs      []error // what was out of range, logged by the entry zone
}

// env holds the settings; its defaults leave the demo as it was.
var env = settings{worldSize: WorldSize, walkEvery: 100 * time.Millisecond}

// readSettings reads the walkers' environment variables.
func readSettings(getenv func(string) string) settings {
	s := settings{worldSize: WorldSize, walkEvery: 100 * time.Millisecond}
	if v := getenv(envWalkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxWalkers {
			s.errs = append(s.errs, fmt.Errorf("%s=%.32q: want 0 to %d walkers; none started", envWalkers, v, MaxWalkers))
		} else {
			s.walkers = n
		}
	}
	if v := getenv(envWorldSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > MaxWorldSize {
			s.errs = append(s.errs, fmt.Errorf("%s=%.32q: want 100 to %d units; using %d", envWorldSize, v, MaxWorldSize, WorldSize))
		} else {
			s.worldSize = float32(n)
		}
	}
	if v := getenv(envWalkFor); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxWalkFor {
			s.errs = append(s.errs, fmt.Errorf("%s=%.32q: want a duration from 0 to %v; walking until the game stops", envWalkFor, v, maxWalkFor))
		} else {
			s.walkFor = d
		}
	}
	if v := getenv(envWalkEvery); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < walkTick || d > maxWalkEvery {
			s.errs = append(s.errs, fmt.Errorf("%s=%.32q: want a duration from %v to %v; stepping every %v", envWalkEvery, v, walkTick, maxWalkEvery, s.walkEvery))
		} else {
			s.walkEvery = d
		}
	}
	return s
}

func init() { env = readSettings(os.Getenv) }

// randomSpot is a random position in the walking square.
func randomSpot() goworld.Vector3 {
	return goworld.Vector3{X: rand.Float32() * env.worldSize, Z: rand.Float32() * env.worldSize}
}

// spawnSpots returns n random spots in a square of side size, in the
// order a spawner filling the map region by region would give them: by
// rows AOIRadius deep, each row in turn from left to right and right to
// left. The walkers are created in this order and step in it, so that
// one walker's step reads memory that the steps of the walkers before it
// brought into the caches: their cells, and records allocated next to
// each other. At 100,000 members a step costs about 0.55× what it does
// when they step in an order unrelated to where they are
// (entity.BenchmarkServerStep, "spatial" against "created"). A walker
// wanders only a few cells from where it started in an hour, so the
// order holds.
func spawnSpots(n int, size float32, rng *rand.Rand) []goworld.Vector3 {
	spots := make([]goworld.Vector3, n)
	for i := range spots {
		spots[i] = goworld.Vector3{X: rng.Float32() * size, Z: rng.Float32() * size}
	}
	slices.SortFunc(spots, regionOrder)
	return spots
}

// regionOrder compares a and b in spawnSpots' order.
func regionOrder(a, b goworld.Vector3) int {
	ra, rb := int(a.Z/AOIRadius), int(b.Z/AOIRadius)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	if ra%2 == 1 {
		return cmp.Compare(b.X, a.X)
	}
	return cmp.Compare(a.X, b.X)
}

// Walker is a server-side member of the entry zone that walks at random
// (see AOI_DEMO_WALKERS). It sees what is within AOIRadius, as a player
// does, and the players' clients see it as an entity of type "Walker".
// The entry zone creates and moves its walkers.
type Walker struct {
	goworld.Entity
}

// DescribeEntityType gives the walker the players' AOI radius.
func (w *Walker) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.SetAOIRadius(AOIRadius)
}

// walking is the entry zone's state of its walkers, kept on the Go
// object (a hot reload rebuilds it from the zone's members: OnRestore).
type walking struct {
	walkers []*goworld.Entity
	spots   []goworld.Vector3 // where the walkers are created, while they are
	next    int               // the walker that steps next
	owed    float64           // steps due and not made yet (at most one each)
	last    time.Time         // the last tick
	stopAt  time.Time         // zero: walk until the game stops
	stopped bool
	// For the log: steps made and due since reported.
	stepped  int
	due      float64
	reported time.Time
}

// startWalkers logs the settings' errors and, if walkers are wanted,
// starts the entry zone's walk timer, which creates them and moves them.
func (z *Zone) startWalkers() {
	log := z.World().Logger()
	for _, err := range env.errs {
		log.Errorf("zone %d: %v", EntryZone, err)
	}
	if env.walkers == 0 {
		return
	}
	if _, err := z.AddTimer(walkTick, "Walk"); err != nil {
		log.Errorf("zone %d: no walkers: %v", EntryZone, err)
	}
}

// Walk is the entry zone's walk timer: it creates walkers until there are
// AOI_DEMO_WALKERS of them, then moves those due a step each tick (a
// tenth of them by default: see AOI_DEMO_WALK_EVERY), within walkBudget,
// until AOI_DEMO_WALK_FOR has passed. It logs "zone 1: N walkers walking"
// once they all exist and "zone 1: walkers stopped" when they stop.
func (z *Zone) Walk() {
	w := &z.walk
	if w.stopped {
		return
	}
	log := z.World().Logger()
	if len(w.walkers) < env.walkers {
		if w.spots == nil {
			w.spots = spawnSpots(env.walkers, env.worldSize, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
		}
		for range min(spawnPerTick, env.walkers-len(w.walkers)) {
			e, err := z.World().CreateEntityLocally("Walker", nil)
			if err == nil {
				err = e.EnterSpace(z.ID(), w.spots[len(w.walkers)])
			}
			if err != nil {
				log.Errorf("zone %d: walker %d: %v; no more walkers", EntryZone, len(w.walkers)+1, err)
				env.walkers = len(w.walkers)
				break
			}
			w.walkers = append(w.walkers, e)
		}
		if len(w.walkers) == env.walkers {
			w.spots = nil
			if env.walkFor > 0 {
				w.stopAt = z.World().Now().Add(env.walkFor)
			}
			log.Infof("zone %d: %d walkers walking", EntryZone, len(w.walkers))
		}
		return
	}
	now := z.World().Now()
	if !w.stopAt.IsZero() && !now.Before(w.stopAt) {
		w.stopped = true
		log.Infof("zone %d: walkers stopped", EntryZone)
		return
	}
	n := len(w.walkers)
	if n == 0 {
		w.stopped = true // none could be created
		return
	}
	if w.last.IsZero() {
		w.last, w.reported = now, now
	}
	due := float64(n) * float64(min(now.Sub(w.last), time.Second)) / float64(env.walkEvery)
	w.last = now
	w.owed = min(w.owed+due, float64(n))
	w.due += due
	start := time.Now()
	for i := 0; w.owed >= 1; i++ {
		if i%64 == 63 && time.Since(start) >= walkBudget {
			break
		}
		e := w.walkers[w.next]
		w.next = (w.next + 1) % n
		w.owed--
		if e.IsDestroyed() || e.Space() == nil {
			continue
		}
		p := e.Position()
		p.X = min(max(p.X+(rand.Float32()*2-1)*walkStep, 0), env.worldSize-1)
		p.Z = min(max(p.Z+(rand.Float32()*2-1)*walkStep, 0), env.worldSize-1)
		if err := e.SetPosition(p); err != nil {
			log.Errorf("%s: %v", e, err)
		}
		w.stepped++
	}
	if now.Sub(w.reported) >= walkReport {
		log.Infof("zone %d: walkers made %d of %.0f steps due in the last %v", EntryZone, w.stepped, w.due, now.Sub(w.reported).Round(time.Millisecond))
		w.stepped, w.due, w.reported = 0, 0, now
	}
}

// OnRestore rebuilds the list of walkers after a hot reload: the walkers
// are the zone's members of type Walker, put back in spawnSpots' order
// of where they are now. The walk timer survived the reload. A reload
// while walkers are still being created creates the rest at the random
// spots of a new spawn order.
func (z *Zone) OnRestore() {
	z.walk = walking{}
	z.Members(func(e *goworld.Entity) bool {
		if e.TypeName() == "Walker" {
			z.walk.walkers = append(z.walk.walkers, e)
		}
		return true
	})
	slices.SortFunc(z.walk.walkers, func(a, b *goworld.Entity) int { return regionOrder(a.Position(), b.Position()) })
	if env.walkers > 0 && len(z.walk.walkers) >= env.walkers && env.walkFor > 0 {
		// The walking time restarts: what was left of it is not saved.
		z.walk.stopAt = z.World().Now().Add(env.walkFor)
	}
}
