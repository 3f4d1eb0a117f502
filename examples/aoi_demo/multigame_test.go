//go:build linux || darwin

package main

// The demo on several games: multigame/config.ini (two games on Redis),
// run by goworldctl from the real binaries against a redis-server the
// test starts, with clients of package client travelling between zones
// that live on different games.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
)

// multiGameConfig returns the shipped multigame/config.ini made to run in
// a test: the dispatcher and gate on ports the kernel picks, storage on
// redisAddr, a 50 ms position sync, and games [game1]..[gameN].
func multiGameConfig(t testing.TB, redisAddr string, games int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("multigame", "config.ini"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	edits := []struct{ re, repl string }{
		{`(?m)^listen_addr = 127\.0\.0\.1:\d+`, "listen_addr = 127.0.0.1:0"},
		{`(?m)^addr = 127\.0\.0\.1:6379`, "addr = " + redisAddr},
		{`(?m)^\[game_common\]\n`, "[game_common]\nposition_sync_interval = 50ms\n"},
	}
	for _, e := range edits {
		re := regexp.MustCompile(e.re)
		if !re.MatchString(cfg) {
			t.Fatalf("multigame/config.ini has no line matching %s", e.re)
		}
		cfg = re.ReplaceAllLiteralString(cfg, e.repl)
	}
	if !strings.Contains(cfg, "[game1]\n[game2]\n") {
		t.Fatal("multigame/config.ini does not declare [game1] and [game2]")
	}
	var more strings.Builder
	for g := 3; g <= games; g++ {
		fmt.Fprintf(&more, "[game%d]\n", g)
	}
	return strings.Replace(cfg, "[game2]\n", "[game2]\n"+more.String(), 1)
}

// startMultiGame starts a redis-server and the demo on games games with
// goworldctl; it returns the gate's address and the server directory.
func startMultiGame(t *testing.T, games int) (addr, dir string) {
	t.Helper()
	binaries(t) // skips where goworldctl cannot run, before redis-server is needed
	redis := redistest.Start(t)
	return startClusterConfig(t, multiGameConfig(t, redis.Addr, games))
}

// attrInt returns the integer attribute key of p's own player (0 if unset).
func (p *player) attrInt(key string) int64 {
	e, ok := p.c.Player()
	if !ok {
		return 0
	}
	n, _ := e.Attrs[key].(int64)
	return n
}

// inZone reports whether p's player has arrived in zone: its client has
// been shown a Zone and its own zone attribute says so (set on the
// hosting game once it entered).
func (p *player) inZone(zone int) bool {
	sp, typ := p.c.Space()
	return sp != "" && typ == demo.ZoneService && p.attrInt("zone") == int64(zone)
}

// travel sends p to zone and waits until it is there; it returns the
// events' mark from before the call.
func (p *player) travel(zone int) int {
	p.t.Helper()
	m := p.mark()
	if err := p.c.CallPlayer("Travel", zone); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.hub.waitUntil(p.t, fmt.Sprintf("%s to arrive in zone %d", p.name, zone), func() bool {
		for _, ev := range p.since(m) {
			if d, ok := ev.(client.Disconnected); ok {
				p.t.Fatalf("%s disconnected while travelling: %s", p.name, d.Reason)
			}
		}
		return p.inZone(zone)
	})
	return m
}

// view returns what p's client shows besides its own player: entity → position.
func (p *player) view() map[rpc.EntityID]rpc.Vector3 {
	v := map[rpc.EntityID]rpc.Vector3{}
	for _, e := range p.c.Entities() {
		if e.ID != p.id {
			v[e.ID] = e.Pos
		}
	}
	return v
}

// expectedViews returns, for each player, the players of its zone within
// the AOI radius, by package aoi's rule (dx²+dz² ≤ r² in float64).
func expectedViews(ps []*player, zones []int) []map[rpc.EntityID]rpc.Vector3 {
	out := make([]map[rpc.EntityID]rpc.Vector3, len(ps))
	for i, p := range ps {
		out[i] = map[rpc.EntityID]rpc.Vector3{}
		for j, q := range ps {
			dx := float64(q.pos.X) - float64(p.pos.X)
			dz := float64(q.pos.Z) - float64(p.pos.Z)
			if i != j && zones[i] == zones[j] && dx*dx+dz*dz <= demo.AOIRadius*demo.AOIRadius {
				out[i][q.id] = q.pos
			}
		}
	}
	return out
}

// awaitViews waits until every player's view is exactly expected, and
// fails the test with the differences if it does not get there.
func awaitViews(t *testing.T, h *hub, ps []*player, expected []map[rpc.EntityID]rpc.Vector3, what string) {
	t.Helper()
	match := func() bool {
		for i, p := range ps {
			if !mapsEqual(p.view(), expected[i]) {
				return false
			}
		}
		return true
	}
	if h.wait(match) {
		return
	}
	for i, p := range ps {
		if v := p.view(); !mapsEqual(v, expected[i]) {
			sp, _ := p.c.Space()
			t.Errorf("%s at %v (zone %d on game %d, space %s): view %v, want %v", p.name, p.pos, p.attrInt("zone"), p.attrInt("game"), sp, names(ps, v), names(ps, expected[i]))
		}
	}
	t.Fatalf("%s: views did not match after %v", what, waitTimeout)
}

// replayTravels replays p's events from mark m strictly, zone changes
// included: a create of what the view holds, a destroy or a position of
// what it does not, or a change of space while the view still holds
// entities of the old one, is an error. It returns the view the events
// leave (besides the player) and how many spaces were entered.
func replayTravels(p *player, m int) (map[rpc.EntityID]bool, int, error) {
	p.mu.Lock()
	evs := append([]client.Event(nil), p.events...)
	p.mu.Unlock()
	view := map[rpc.EntityID]bool{}
	for _, ev := range evs[:m] { // loosely, up to the mark
		switch ev := ev.(type) {
		case client.EntityCreated:
			view[ev.ID] = true
		case client.EntityDestroyed:
			delete(view, ev.ID)
		}
	}
	delete(view, p.id)
	entered := 0
	for _, ev := range evs[m:] {
		switch ev := ev.(type) {
		case client.EntityCreated:
			if ev.ID == p.id {
				return nil, 0, fmt.Errorf("shown its own player again")
			}
			if view[ev.ID] {
				return nil, 0, fmt.Errorf("created %s twice", ev.ID)
			}
			view[ev.ID] = true
		case client.EntityDestroyed:
			if !view[ev.ID] {
				return nil, 0, fmt.Errorf("destroyed %s, which it did not hold", ev.ID)
			}
			delete(view, ev.ID)
		case client.Moved:
			for _, u := range ev.Updates {
				if u.ID != p.id && !view[u.ID] {
					return nil, 0, fmt.Errorf("position of %s, which it does not hold", u.ID)
				}
			}
		case client.SpaceEntered:
			if len(view) != 0 {
				return nil, 0, fmt.Errorf("moved to space %q still holding %d entities of the old one", ev.ID, len(view))
			}
			if ev.ID != "" {
				entered++
			}
		case client.Disconnected:
			return nil, 0, fmt.Errorf("disconnected: %s", ev.Reason)
		}
	}
	return view, entered, nil
}

// zoneLogLine matches a game's log line on the space of a zone it hosts.
var zoneLogLine = regexp.MustCompile(`zone (\d+) is space (\S+) on game (\d+)`)

// hostedZones reads which zones the game's log says it hosts: zone →
// space ID.
func hostedZones(t *testing.T, dir string, game int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log", fmt.Sprintf("game%d.log", game)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range zoneLogLine.FindAllStringSubmatch(string(b), -1) {
		if m[3] != fmt.Sprint(game) {
			t.Fatalf("game%d.log: %s", game, m[0])
		}
		out[m[1]] = m[2]
	}
	return out
}

// TestZonesOnGames: on two games, zone 1 lives on game1 and zone 2 on
// game2 (as the players' own game attribute and the games' logs say);
// players of one zone see each other and not those of the other, even at
// the same spot; a player that travels to the other zone migrates to the
// other game, keeps its client, is shown the new zone's players and is
// shown to them where it stood, and is gone from the old zone's views;
// talking reaches only its new neighbours; and it comes back.
func TestZonesOnGames(t *testing.T) {
	addr, dir := startMultiGame(t, 2)
	h := newHub()
	a := join(t, h, addr, "a", false)
	b := join(t, h, addr, "b", true)
	c := join(t, h, addr, "c", false)
	d := join(t, h, addr, "d", true)
	ps := []*player{a, b, c, d}
	for _, p := range ps {
		h.waitUntil(t, p.name+" in zone 1", func() bool { return p.inZone(1) })
	}
	c.travel(2)
	d.travel(2)
	for _, p := range ps {
		zone, game := p.attrInt("zone"), p.attrInt("game")
		if game != zone {
			t.Fatalf("%s is in zone %d on game %d; zone k is on game k with two games", p.name, zone, game)
		}
	}
	sa, _ := a.c.Space()
	sc, _ := c.c.Space()
	if sb, _ := b.c.Space(); sb != sa {
		t.Fatalf("a and b in zone 1 are in spaces %s and %s", sa, sb)
	}
	if sd, _ := d.c.Space(); sd != sc || sc == sa {
		t.Fatalf("zone 1 is space %s, c and d in zone 2 are in %s and %s", sa, sc, sd)
	}
	// Each game's log names the zone it hosts, with the space the clients are in.
	if z := hostedZones(t, dir, 1); z["1"] != string(sa) || z["2"] != "" {
		t.Fatalf("game1 hosts zones %v; want zone 1 = %s only", z, sa)
	}
	if z := hostedZones(t, dir, 2); z["2"] != string(sc) || z["1"] != "" {
		t.Fatalf("game2 hosts zones %v; want zone 2 = %s only", z, sc)
	}

	// a and c stand on the same spot, b and d next to them: each sees
	// only its own zone's neighbour.
	a.move(100, 100)
	b.move(150, 100)
	c.move(100, 100)
	d.move(130, 120)
	for _, p := range ps {
		p.sync()
	}
	zones := []int{1, 1, 2, 2}
	awaitViews(t, h, ps, expectedViews(ps, zones), "two zones")

	// a travels to zone 2, on game2.
	mb, mc, md := b.mark(), c.mark(), d.mark()
	ma := a.travel(2)
	zones[0] = 2
	if g := a.attrInt("game"); g != 2 {
		t.Fatalf("a is on game %d in zone 2", g)
	}
	if sp, _ := a.c.Space(); sp != sc {
		t.Fatalf("a entered space %s, zone 2 is %s", sp, sc)
	}
	checkCreated(t, c, c.await("a's creation in zone 2", mc, created(a.id)), a)
	checkCreated(t, d, d.await("a's creation in zone 2", md, created(a.id)), a)
	checkCreated(t, a, a.await("c's creation in a's new view", ma, created(c.id)), c)
	b.await("a's destruction in zone 1", mb, destroyed(a.id))
	awaitViews(t, h, ps, expectedViews(ps, zones), "after a's travel")
	if pl, _ := a.c.Player(); pl.ID != a.id || pl.Attrs["name"] != "a" {
		t.Fatalf("a's client now controls %+v", pl)
	}

	// a talks in zone 2: c hears, b (zone 1, 50 away) does not.
	mb, mc = b.mark(), c.mark()
	if err := a.c.CallPlayer("Say", "hello zone 2"); err != nil {
		t.Fatal(err)
	}
	c.await("a's hello", mc, func(ev client.Event) bool {
		call, ok := ev.(client.Call)
		return ok && call.Method == "OnSay" && len(call.Args) == 3 && call.Args[0] == string(a.id) && call.Args[2] == "hello zone 2"
	})
	a.sync() // a's Say ran before this; b would have been sent the hello by now
	b.sync()
	for _, ev := range b.since(mb) {
		if call, ok := ev.(client.Call); ok && len(call.Args) == 3 && call.Args[2] == "hello zone 2" {
			t.Fatal("b, in zone 1, heard a in zone 2")
		}
	}

	// a moves in zone 2, and its neighbours there see it.
	mc = c.mark()
	a.move(110, 90)
	c.await("a's move in zone 2", mc, movedTo(a.id, a.pos, nil))

	// And back to zone 1, on game1.
	mb, mc = b.mark(), c.mark()
	a.travel(1)
	zones[0] = 1
	if g := a.attrInt("game"); g != 1 {
		t.Fatalf("a is on game %d back in zone 1", g)
	}
	checkCreated(t, b, b.await("a's creation back in zone 1", mb, created(a.id)), a)
	c.await("a's destruction in zone 2", mc, destroyed(a.id))
	awaitViews(t, h, ps, expectedViews(ps, zones), "after a came back")

	// Travelling where one is, or nowhere, is refused; the player stays.
	ma = a.mark()
	for _, zone := range []int{1, 0, demo.Zones + 1} {
		if err := a.c.CallPlayer("Travel", zone); err != nil {
			t.Fatal(err)
		}
		a.await(fmt.Sprintf("the refusal of Travel(%d)", zone), ma, func(ev client.Event) bool {
			call, ok := ev.(client.Call)
			return ok && call.Method == "OnError"
		})
		ma = a.mark()
	}
	a.sync()
	if !a.inZone(1) {
		t.Fatal("a left zone 1 after refused travels")
	}
}

// TestTravelKeepsViewsExact: eight players walk and travel between the
// three zones (on two games: zones 1 and 3 on game1, 2 on game2, so both
// migrations and moves between spaces of one game), all at once, round
// after round. After every round each view is exactly the players of its
// zone within the AOI radius, at their last positions, and every
// client's events, replayed, never create what it shows, destroy or move
// what it does not, or switch space with the old zone's players still
// shown.
func TestTravelKeepsViewsExact(t *testing.T) {
	addr, _ := startMultiGame(t, 2)
	h := newHub()
	const (
		clients = 8
		rounds  = 6
		steps   = 10
		area    = 250 // positions stay in [0, area) on x and z: crowded zones
	)
	ps := make([]*player, clients)
	zones := make([]int, clients)
	marks := make([]int, clients)
	travelled := make([]int, clients) // travels per player
	for i := range ps {
		ps[i] = join(t, h, addr, fmt.Sprintf("p%d", i), i%2 == 1)
		zones[i] = 1
	}
	for i, p := range ps {
		h.waitUntil(t, p.name+" in zone 1", func() bool { return p.inZone(1) })
		p.move(float32(i*area/clients), 0)
		p.sync()
		marks[i] = p.mark()
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random walks and travels from seed %d", seed)
	travels := 0
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i, p := range ps {
			r := rand.New(rand.NewPCG(seed, uint64(round*clients+i)))
			travel := round == 0 || r.IntN(3) != 0
			target := zones[i]
			if travel {
				target = (zones[i]+r.IntN(demo.Zones-1))%demo.Zones + 1
				travels++
				travelled[i]++
			}
			pos := p.pos
			wg.Add(1)
			go func() {
				defer wg.Done()
				walk := func() error {
					for range steps {
						pos.X = min(max(pos.X+(r.Float32()-0.5)*60, 0), area)
						pos.Z = min(max(pos.Z+(r.Float32()-0.5)*60, 0), area)
						if err := p.c.MovePlayer(pos, 0); err != nil {
							return err
						}
					}
					return nil
				}
				if err := walk(); err != nil {
					errs <- err
					return
				}
				if travel {
					if err := p.c.CallPlayer("Travel", target); err != nil {
						errs <- err
						return
					}
					// Positions sent before arriving name the old space,
					// which the game ignores: walk on once there.
					if !h.wait(func() bool { return p.inZone(target) }) {
						errs <- fmt.Errorf("round %d: %s did not arrive in zone %d (zone %d, game %d)", round, p.name, target, p.attrInt("zone"), p.attrInt("game"))
						return
					}
					if err := walk(); err != nil {
						errs <- err
						return
					}
				}
				p.pos = pos
			}()
			zones[i] = target
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, p := range ps {
			p.sync()
		}
		for i, p := range ps {
			if g := p.attrInt("game"); g != int64((zones[i]-1)%2+1) {
				t.Fatalf("round %d: %s in zone %d is on game %d", round, p.name, zones[i], g)
			}
		}
		awaitViews(t, h, ps, expectedViews(ps, zones), fmt.Sprintf("round %d", round))
	}
	expected := expectedViews(ps, zones)
	for i, p := range ps {
		var view map[rpc.EntityID]bool
		var entered int
		ok := h.wait(func() bool {
			var err error
			view, entered, err = replayTravels(p, marks[i])
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if len(view) != len(expected[i]) {
				return false
			}
			for id := range expected[i] {
				if !view[id] {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("%s: replayed events hold %v, the view holds %v", p.name, view, names(ps, expected[i]))
		}
		if entered != travelled[i] {
			t.Fatalf("%s travelled %d times and entered %d spaces", p.name, travelled[i], entered)
		}
	}
	t.Logf("%d clients, %d rounds: %d travels; final views hold %d entities in all", clients, rounds, travels, sumLen(expected))
}

// kill9 sends SIGKILL to the process name of the cluster in dir, by the
// PID goworldctl status reports (it prints one only while that process
// holds its PID file's lock), and waits until goworldctl no longer sees
// it running.
func kill9(t *testing.T, dir, name string) {
	t.Helper()
	ctl, _ := binaries(t)
	status := func() map[string]int {
		out, _, _ := runCmd(t, ctl, "status", dir)
		m := map[string]int{}
		for _, l := range statusLine.FindAllStringSubmatch(out, -1) {
			pid, _ := strconv.Atoi(l[2])
			m[l[1]] = pid
		}
		return m
	}
	pid := status()[name]
	if pid <= 1 || pid == os.Getpid() {
		t.Fatalf("%s: no sensible pid from goworldctl status (%d)", name, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (pid %d): %v", name, pid, err)
	}
	for deadline := time.Now().Add(waitTimeout); status()[name] != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running %v after SIGKILL", name, pid, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling a process table with a deadline
	}
}

// TestZoneOutlivesItsGame: zone 2 is a service shard on game2. Game2 is
// killed with SIGKILL: its players are disconnected, and the engine
// re-creates the shard on the surviving game1, with the same ID. A player
// of game1 that travels to zone 2 (at once: its first tries may find the
// space not live yet, and it tries again) arrives there on game1, and a
// newcomer that travels there too sees it: one zone 2, live again.
func TestZoneOutlivesItsGame(t *testing.T) {
	addr, dir := startMultiGame(t, 2)
	h := newHub()
	a := join(t, h, addr, "a", false)
	b := join(t, h, addr, "b", true)
	b.travel(2)
	sp2, _ := b.c.Space()
	if want := rpc.ServiceEntityID(demo.ZoneService, 1); sp2 != want || b.attrInt("game") != 2 {
		t.Fatalf("b is in space %s on game %d; zone 2 is %s on game2", sp2, b.attrInt("game"), want)
	}
	mb := b.mark()
	kill9(t, dir, "game2")
	h.waitUntil(t, "b's disconnection", func() bool {
		for _, ev := range b.since(mb) {
			if _, ok := ev.(client.Disconnected); ok {
				return true
			}
		}
		return false
	})

	a.move(500, 500)
	a.sync()
	ma := a.travel(2)
	if sp, _ := a.c.Space(); sp != sp2 || a.attrInt("game") != 1 {
		t.Fatalf("a is in space %s on game %d; zone 2 (%s) should be back on game1", sp, a.attrInt("game"), sp2)
	}
	if _, entered, err := replayTravels(a, ma); err != nil || entered != 1 {
		t.Fatalf("a's events: %d spaces entered, %v", entered, err)
	}
	// Game1's log says it hosts zone 2 now, as the same space.
	if z := hostedZones(t, dir, 1); z["1"] == "" || z["2"] != string(sp2) {
		t.Fatalf("game1 hosts zones %v; want zone 2 = %s among them", z, sp2)
	}
	c := join(t, h, addr, "c", false)
	mc := c.mark()
	c.move(510, 500)
	c.sync()
	c.travel(2)
	if sp, _ := c.c.Space(); sp != sp2 {
		t.Fatalf("c entered %s, a is in %s", sp, sp2)
	}
	checkCreated(t, c, c.await("a's creation in c's view", mc, created(a.id)), a)
	awaitViews(t, h, []*player{a, c}, expectedViews([]*player{a, c}, []int{2, 2}), "a and c in zone 2 on game1")
}

// TestReloadWhileTravelling: the games are hot-reloaded one after the
// other (goworldctl reload) while six players travel between the zones
// of both games without pause: nobody is disconnected, every travel
// arrives, and afterwards every view is exactly the players of its zone
// within the AOI radius.
func TestReloadWhileTravelling(t *testing.T) {
	addr, dir := startMultiGame(t, 2)
	ctl, _ := binaries(t)
	h := newHub()
	const clients = 6
	ps := make([]*player, clients)
	zones := make([]int, clients)
	for i := range ps {
		ps[i] = join(t, h, addr, fmt.Sprintf("p%d", i), i%2 == 1)
	}
	for i, p := range ps {
		h.waitUntil(t, p.name+" in zone 1", func() bool { return p.inZone(1) })
		p.move(float32(40*i), 50)
		p.sync()
		zones[i] = 1
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	counts := make([]int, clients)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			zone := 1
			for n := 0; n < 500; n++ { // bounded; stopped when the reload is done
				select {
				case <-stop:
					zones[i], counts[i] = zone, n
					return
				default:
				}
				next := zone%demo.Zones + 1
				if err := p.c.CallPlayer("Travel", next); err != nil {
					errs <- err
					return
				}
				if !h.wait(func() bool { return p.inZone(next) }) {
					errs <- fmt.Errorf("%s did not arrive in zone %d after %d travels (zone %d, game %d)", p.name, next, n, p.attrInt("zone"), p.attrInt("game"))
					return
				}
				zone = next
			}
			zones[i], counts[i] = zone, 500
		}()
	}
	out, errOut, code := runCmd(t, ctl, "reload", "-no-build", dir)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if code != 0 || !strings.Contains(out, "reloaded game1") || !strings.Contains(out, "reloaded game2") {
		t.Fatalf("goworldctl reload: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if t.Failed() {
		t.FailNow()
	}
	waited := 0
	for g := 1; g <= 2; g++ {
		b, _ := os.ReadFile(filepath.Join(dir, "log", fmt.Sprintf("game%d.log", g)))
		waited += strings.Count(string(b), "waits for the hot reload")
	}
	t.Logf("travels per player during the reload: %v; %d waited for a freeze to end\n%s", counts, waited, strings.TrimSpace(out))
	for _, p := range ps {
		for _, ev := range p.since(0) {
			if d, ok := ev.(client.Disconnected); ok {
				t.Fatalf("%s was disconnected: %s", p.name, d.Reason)
			}
		}
		p.sync()
	}
	awaitViews(t, h, ps, expectedViews(ps, zones), "after the reload")
	// And they still travel and see each other.
	for i, p := range ps {
		next := zones[i]%demo.Zones + 1
		p.travel(next)
		zones[i] = next
		p.sync()
	}
	awaitViews(t, h, ps, expectedViews(ps, zones), "a travel after the reload")
}

// TestBotsTravelOnTwoGames: the bots travel between the zones of two games.
func TestBotsTravelOnTwoGames(t *testing.T) {
	addr, _ := startMultiGame(t, 2)
	runBots(t, addr, 8)
}

// TestBotsEndInAZone: bots that travel back to back, most of the time
// between games, are all in a zone on the final line. The run's end falls
// while some are migrating, in no space; the bots stop travelling then and
// wait for those travels to end before they count (the done line of a run
// that ended mid-travel said bots_in_world=7/8, which failed
// TestBotsTravelOnTwoGames when its end fell during a migration).
func TestBotsEndInAZone(t *testing.T) {
	addr, _ := startMultiGame(t, 2)
	const n = 8
	out, errOut, code := runCmd(t, filepath.Join(binDir, "bots"), "-gate", addr, "-bots", strconv.Itoa(n), "-duration", "1s", "-rate", "100", "-travel", "10ms")
	if code != 0 {
		t.Fatalf("bots: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	m := doneLine.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) || m[2] != strconv.Itoa(n) || m[3] == "0" {
		t.Fatalf("want all %d bots in a zone at the end, after some travels:\n%s", n, out)
	}
	t.Log(strings.TrimSpace(out))
}
