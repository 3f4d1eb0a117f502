// Command bots connects N bots to the AOI demo: each enters the world,
// walks at random within it and counts what the server shows it; with
// -travel D, each travels to another zone (at random) about every D. Once
// a second it prints how many players a bot sees on average, the totals
// of entity creates, destroys and position updates the bots received, and
// how many travels ended in the zone asked for; it stops by itself after
// -duration: the bots stop walking and travelling, and once the travels
// under way have ended (for at most 10 s) a last line starting "done"
// gives the same figures.
//
//	go run ./examples/aoi_demo/bots -gate 127.0.0.1:14021 [-bots 20] [-duration 10s] [-rate 10] [-travel 0] [-kcp]
//
// It exits with status 1 if a bot could not connect or lost its
// connection before the end, 2 for a bad command line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// Bounds of the world the bots walk in (the server spawns players in it).
const (
	worldMin = 0
	worldMax = 1000
	speed    = 50 // units per second
	zones    = 3  // the demo's zones, 1..zones
)

type options struct {
	gate     string
	bots     int
	duration time.Duration
	rate     float64
	travel   time.Duration
	kcp      bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.gate, "gate", "127.0.0.1:14021", "gate address")
	fs.IntVar(&o.bots, "bots", 20, "number of bots")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	fs.Float64Var(&o.rate, "rate", 10, "moves per second per bot")
	fs.DurationVar(&o.travel, "travel", 0, "travel to another zone about this often (0: never)")
	fs.BoolVar(&o.kcp, "kcp", false, "connect over KCP instead of TCP")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "bots: unexpected arguments %q\n", fs.Args())
		return 2
	case o.bots < 1 || o.bots > 10000:
		fmt.Fprintln(stderr, "bots: -bots must be 1 to 10000")
		return 2
	case o.duration <= 0:
		fmt.Fprintln(stderr, "bots: -duration must be positive")
		return 2
	case !(o.rate > 0 && o.rate <= 1000):
		fmt.Fprintln(stderr, "bots: -rate must be above 0 and at most 1000")
		return 2
	case o.travel < 0 || (o.travel > 0 && o.travel < 10*time.Millisecond):
		fmt.Fprintln(stderr, "bots: -travel must be 0 (never) or at least 10ms")
		return 2
	}
	if err := runBots(o, stdout); err != nil {
		fmt.Fprintln(stderr, "bots:", err)
		return 1
	}
	return 0
}

// totals are what all bots received, updated by their event loops.
type totals struct {
	creates, destroys, moves, travels atomic.Int64
}

type bot struct {
	n      int
	c      *client.Client
	lost   atomic.Value // string: why the connection ended early
	done   chan struct{}
	target atomic.Int64 // the zone asked for by the travel in progress, 0 if none
}

func runBots(o options, out io.Writer) error {
	var tot totals
	stop := make(chan struct{})     // the end: a disconnection after it is no loss
	stopWalk := make(chan struct{}) // the end of the duration: no more moves or travels
	var wg, walkers sync.WaitGroup
	bots := make([]*bot, 0, o.bots)
	var dialErr error
	for i := range o.bots {
		c, err := client.Dial(o.gate, client.Options{KCP: o.kcp})
		if err != nil {
			dialErr = fmt.Errorf("bot %d: %w", i, err)
			break
		}
		b := &bot{n: i, c: c, done: make(chan struct{})}
		bots = append(bots, b)
		wg.Add(1)
		walkers.Add(1)
		go func() { defer wg.Done(); b.events(&tot, stop) }()
		go func() { defer walkers.Done(); b.walk(o.rate, o.travel, stopWalk) }()
	}
	if dialErr == nil {
		report(out, o, bots, &tot, func() { close(stopWalk); walkers.Wait() })
	} else {
		close(stopWalk)
		walkers.Wait()
	}
	close(stop)
	for _, b := range bots {
		b.c.Close()
	}
	wg.Wait()

	var errs []error
	if dialErr != nil {
		errs = append(errs, dialErr)
	}
	for _, b := range bots {
		if why, _ := b.lost.Load().(string); why != "" {
			errs = append(errs, fmt.Errorf("bot %d lost its connection: %s", b.n, why))
		}
	}
	return errors.Join(errs...)
}

// settleMax bounds how long the bots wait, after the duration, for the
// travels under way to end.
const settleMax = 10 * time.Second

// report prints the statistics once a second until the duration is over.
// Then it stops the bots' walks (stopWalk returns once no bot moves or
// travels any more), waits until every bot still connected is in a zone
// with no travel under way, for at most settleMax, and prints the final
// line: a bot migrating to another game is in no space, and would not
// count as in the world.
func report(out io.Writer, o options, bots []*bot, tot *totals, stopWalk func()) {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(o.duration)
	defer end.Stop()
	for running := true; running; {
		select {
		case <-tick.C:
			printStats(out, "", time.Since(start), bots, tot)
		case <-end.C:
			running = false
		}
	}
	stopWalk()
	for deadline := time.Now().Add(settleMax); !allSettled(bots) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // polling the clients' state, with a deadline
	}
	printStats(out, "done ", time.Since(start), bots, tot)
}

// allSettled reports whether every bot is in a zone with no travel under
// way, or disconnected.
func allSettled(bots []*bot) bool {
	for _, b := range bots {
		select {
		case <-b.done:
			continue
		default:
		}
		if sp, _ := b.c.Space(); sp == "" || b.target.Load() != 0 {
			return false
		}
	}
	return true
}

func printStats(out io.Writer, prefix string, elapsed time.Duration, bots []*bot, tot *totals) {
	inSpace, seen := 0, 0
	for _, b := range bots {
		if sp, _ := b.c.Space(); sp == "" {
			continue
		}
		inSpace++
		seen += b.c.NumEntities() - 1 // not itself
	}
	avg := 0.0
	if inSpace > 0 {
		avg = float64(seen) / float64(inSpace)
	}
	fmt.Fprintf(out, "%st=%4.1fs bots_in_world=%d/%d avg_seen=%.2f creates=%d destroys=%d moves=%d travels=%d\n",
		prefix, elapsed.Seconds(), inSpace, len(bots), avg, tot.creates.Load(), tot.destroys.Load(), tot.moves.Load(), tot.travels.Load())
}

// events counts what the server sends until the connection ends.
func (b *bot) events(tot *totals, stop <-chan struct{}) {
	defer close(b.done)
	named := false
	for ev := range b.c.Events() {
		switch ev := ev.(type) {
		case client.SpaceEntered:
			if !named && ev.ID != "" {
				named = true
				b.c.CallPlayer("SetName", fmt.Sprintf("bot-%d", b.n))
			}
		case client.Call:
			if ev.Method == "OnError" {
				b.target.Store(0) // a travel refused: the next one may go
			}
		case client.AttrChanged:
			// The player's own "zone" attribute says where it arrived.
			if t := b.target.Load(); t != 0 && len(ev.Path) == 1 && ev.Path[0] == "zone" && zoneOf(b.c) == t {
				b.target.Store(0)
				tot.travels.Add(1)
			}
		case client.EntityCreated:
			if !ev.IsPlayer {
				tot.creates.Add(1)
			}
		case client.EntityDestroyed:
			tot.destroys.Add(1)
		case client.Moved:
			tot.moves.Add(int64(len(ev.Updates)))
		case client.Disconnected:
			select {
			case <-stop:
			default:
				b.lost.Store(ev.Reason)
			}
		}
	}
}

// walk moves the bot rate times a second in a random direction, turning
// now and then and bouncing off the edges of the world, until stop.
func (b *bot) walk(rate float64, travel time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var nextTravel time.Time
	if travel > 0 {
		nextTravel = time.Now().Add(jitter(travel))
	}
	step := float32(speed / rate)
	var pos rpc.Vector3
	yaw := rand.Float32() * 2 * math.Pi
	started := false
	for {
		select {
		case <-stop:
			return
		case <-b.done:
			return
		case <-tick.C:
		}
		if sp, _ := b.c.Space(); sp == "" {
			started = false
			continue
		}
		if travel > 0 && time.Now().After(nextTravel) && b.target.Load() == 0 {
			// Another zone; positions sent while the player migrates
			// are for the zone it left, and the game ignores them.
			zone := (zoneOf(b.c)+int64(rand.IntN(zones-1)))%zones + 1
			b.target.Store(zone)
			b.c.CallPlayer("Travel", zone)
			nextTravel = time.Now().Add(jitter(travel))
			started = false
			continue
		}
		if !started {
			p, ok := b.c.Player()
			if !ok {
				continue
			}
			pos, started = p.Pos, true
		}
		if rand.IntN(10) == 0 {
			yaw += (rand.Float32() - 0.5) * math.Pi
		}
		pos.X += step * float32(math.Cos(float64(yaw)))
		pos.Z += step * float32(math.Sin(float64(yaw)))
		if pos.X < worldMin || pos.X > worldMax {
			pos.X = min(max(pos.X, worldMin), worldMax)
			yaw = math.Pi - yaw
		}
		if pos.Z < worldMin || pos.Z > worldMax {
			pos.Z = min(max(pos.Z, worldMin), worldMax)
			yaw = -yaw
		}
		yaw = float32(math.Mod(float64(yaw)+2*math.Pi, 2*math.Pi))
		b.c.MovePlayer(pos, yaw)
	}
}

// zoneOf returns the zone the client's player says it is in (0 if none
// yet).
func zoneOf(c *client.Client) int64 {
	p, ok := c.Player()
	if !ok {
		return 0
	}
	z, _ := p.Attrs["zone"].(int64) // the client's attributes hold integers as int64
	return z
}

// jitter returns d give or take a quarter, so that the bots do not all
// travel at once.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
