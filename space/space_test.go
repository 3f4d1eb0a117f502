package space

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// recorder plays the clients: it keeps, per viewer, the set of entities
// its client holds, applying Create and Destroy, and checks every output
// against the rules of the package as it arrives.
type recorder struct {
	t      *testing.T
	s      *Space
	views  map[ID]map[ID]bool
	sent   map[ID]int // creates + positions per viewer since the last Sync
	pos    map[ID][]ID
	aoi    []string
	limit  int
	strict bool // check the per-Sync budget
	inSync bool // in Sync: the only time creates go out
	// ver counts each member's changes of public state (see change);
	// cver is the version a viewer's client holds of a target: that of
	// its create, or of the last change ShownTo reported to it.
	ver      map[ID]int
	cver     map[[2]ID]int
	destroys int      // Destroy calls
	left     Deferred // what the last sync left for later
}

func newRecorder(t *testing.T, cfg Config) *recorder {
	r := &recorder{t: t, views: map[ID]map[ID]bool{}, sent: map[ID]int{}, pos: map[ID][]ID{}, strict: true,
		ver: map[ID]int{}, cver: map[[2]ID]int{}}
	r.s = New(cfg, r)
	r.limit = r.s.cfg.SyncLimit
	return r
}

func (r *recorder) view(v ID) map[ID]bool {
	if r.views[v] == nil {
		r.views[v] = map[ID]bool{}
	}
	return r.views[v]
}

func (r *recorder) Create(viewer, target ID) {
	r.t.Helper()
	if viewer == target {
		r.t.Fatalf("Create(%d, itself)", viewer)
	}
	if !r.inSync {
		r.t.Fatalf("Create(%d, %d) outside a Sync", viewer, target)
	}
	if r.view(viewer)[target] {
		r.t.Fatalf("Create(%d, %d): the client already holds it", viewer, target)
	}
	if !r.s.Sees(viewer, target) {
		r.t.Fatalf("Create(%d, %d): the viewer does not see it", viewer, target)
	}
	r.view(viewer)[target] = true
	if l, _ := r.s.ViewLimit(viewer); l > 0 && len(r.view(viewer)) > l {
		r.t.Fatalf("Create(%d, %d): its client holds %d entities, view limit %d", viewer, target, len(r.view(viewer)), l)
	}
	r.cver[[2]ID{viewer, target}] = r.ver[target]
	r.count(viewer, 1)
}

func (r *recorder) Destroy(viewer, target ID) {
	r.t.Helper()
	if !r.view(viewer)[target] {
		r.t.Fatalf("Destroy(%d, %d): the client does not hold it", viewer, target)
	}
	delete(r.view(viewer), target)
	r.destroys++
}

func (r *recorder) Positions(viewer ID, targets []ID) {
	r.t.Helper()
	for _, t := range targets {
		if t != viewer && !r.view(viewer)[t] {
			r.t.Fatalf("Positions(%d) names %d, which its client does not hold", viewer, t)
		}
		if t != viewer && !r.s.Sees(viewer, t) {
			r.t.Fatalf("Positions(%d) names %d, which it no longer sees", viewer, t)
		}
	}
	r.pos[viewer] = append(r.pos[viewer], targets...)
	r.count(viewer, len(targets))
}

// change plays a change of target's public state (an attribute): the
// clients ShownTo names are sent it, and they must be exactly those that
// hold target, each named once.
func (r *recorder) change(target ID) {
	r.t.Helper()
	r.ver[target]++
	told := map[ID]bool{}
	r.s.ShownTo(target, func(v ID) {
		if told[v] {
			r.t.Fatalf("ShownTo(%d) named %d twice", target, v)
		}
		told[v] = true
		if !r.views[v][target] {
			r.t.Fatalf("ShownTo(%d) named %d, whose client does not hold it", target, v)
		}
		r.cver[[2]ID{v, target}] = r.ver[target]
	})
	r.checkFresh()
}

// checkFresh: every client's copy of an entity has its latest public
// state.
func (r *recorder) checkFresh() {
	r.t.Helper()
	for v, held := range r.views {
		for t := range held {
			if got, want := r.cver[[2]ID{v, t}], r.ver[t]; got != want {
				r.t.Fatalf("client of %d holds %d at version %d, want %d (a change did not reach it)", v, t, got, want)
			}
		}
	}
}

func (r *recorder) AOI(watcher, target ID, enter bool) {
	r.aoi = append(r.aoi, fmt.Sprintf("%d %v %d", watcher, enter, target))
}

func (r *recorder) count(viewer ID, n int) {
	r.t.Helper()
	r.sent[viewer] += n
	if r.strict && r.sent[viewer] > r.limit {
		r.t.Fatalf("viewer %d was sent %d creates and positions in one sync interval, limit %d", viewer, r.sent[viewer], r.limit)
	}
}

// sync runs a Sync, after which every client holds only what its
// entity sees.
func (r *recorder) sync() {
	r.t.Helper()
	r.sent = map[ID]int{}
	r.inSync = true
	r.left = r.s.Sync()
	r.inSync = false
	r.checkSeen()
	r.checkFresh()
}

// checkSubset: every client holds only what its entity sees, or what
// left its view since the last Sync (its destroy waits for the next).
func (r *recorder) checkSubset() {
	r.t.Helper()
	for v, held := range r.views {
		for t := range held {
			if !r.s.Sees(v, t) && (!r.s.Has(v) || r.s.slots[v].view == nil || r.s.slots[v].view.state.get(t)&fGone == 0) {
				r.t.Fatalf("client of %d holds %d, which it does not see and is not to destroy", v, t)
			}
		}
	}
}

// checkSeen: every client holds only what its entity sees.
func (r *recorder) checkSeen() {
	r.t.Helper()
	for v, held := range r.views {
		for t := range held {
			if !r.s.Sees(v, t) {
				r.t.Fatalf("client of %d holds %d, which it does not see", v, t)
			}
		}
	}
}

// checkExact: every viewer's client holds exactly what it sees, and
// Shown agrees.
func (r *recorder) checkExact(viewers map[ID]bool) {
	r.t.Helper()
	for v := range viewers {
		var want []ID
		r.s.Neighbors(v, func(t ID) bool { want = append(want, t); return true })
		var got []ID
		for t := range r.views[v] {
			got = append(got, t)
			if !r.s.Shown(v, t) {
				r.t.Fatalf("Shown(%d, %d) is false but its client holds it", v, t)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			r.t.Fatalf("client of %d holds %v, sees %v", v, got, want)
		}
	}
}

// checkNearest: every viewer's client holds what it sees up to its view
// limit (all of it without one), and the nearest: no entity it sees and
// does not hold is nearer than keepFactor allows (counting those it holds
// as about 10 % nearer). Call it after chooseAll.
func (r *recorder) checkNearest(viewers map[ID]bool) {
	r.t.Helper()
	for v := range viewers {
		limit, _ := r.s.ViewLimit(v)
		vx, vz, _ := r.s.grid.Position(v)
		d2 := func(t ID) float64 {
			x, z, _ := r.s.grid.Position(t)
			return (x-vx)*(x-vx) + (z-vz)*(z-vz)
		}
		held := r.views[v]
		far, seen := -1.0, 0 // the farthest held, as choose counts it
		for t := range held {
			if !r.s.Sees(v, t) || !r.s.Shown(v, t) {
				r.t.Fatalf("client of %d holds %d: sees %v, shown %v", v, t, r.s.Sees(v, t), r.s.Shown(v, t))
			}
			far = max(far, keepFactor*d2(t))
		}
		r.s.Neighbors(v, func(t ID) bool {
			seen++
			if !held[t] && d2(t) < far {
				r.t.Errorf("client of %d does not hold %d at squared distance %v, but holds one at %v (as chosen)", v, t, d2(t), far)
			}
			return true
		})
		want := seen
		if limit > 0 {
			want = min(seen, limit)
		}
		if len(held) != want {
			r.t.Fatalf("client of %d holds %d entities; it sees %d, view limit %d", v, len(held), seen, limit)
		}
	}
}

// chooseAll syncs until every view over its limit has chosen since
// now (they take turns when SyncWork binds), then drains.
func (r *recorder) chooseAll() {
	r.t.Helper()
	since := r.s.epoch
	for i := 0; ; i++ {
		if i > 10000 {
			r.t.Fatal("some view never chooses")
		}
		r.sync()
		done := true
		for _, v := range r.s.viewers {
			if v.limit > 0 && v.chosen < since && v.state.held()+len(v.pending)-v.pendingHead > v.limit {
				done = false
			}
		}
		if done {
			break
		}
	}
	r.drain()
}

// drain syncs until nothing is pending.
func (r *recorder) drain() {
	r.t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			r.t.Fatal("the backlog never drains")
		}
		r.sync()
		m, c, p := r.s.Backlog()
		if m == 0 && c == 0 && p == 0 {
			return
		}
	}
}

func TestCreateDestroyAndAOIOrder(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 5, 0, 10, false)
	addAs(t, s, 3, 50, 0, 10, true)
	if len(r.views[1]) != 0 {
		t.Fatalf("a create went out before the Sync: %v", r.views)
	}
	r.sync()
	if !r.views[1][2] || len(r.views[3]) != 0 {
		t.Fatalf("views after adds: %v", r.views)
	}
	wantAOI := []string{"1 true 2", "2 true 1"}
	if !slices.Equal(r.aoi, wantAOI) {
		t.Fatalf("AOI events %v, want %v", r.aoi, wantAOI)
	}
	r.aoi = nil
	must(t, s.Move(2, 45, 0, false))
	if !r.views[1][2] || r.views[3][2] {
		t.Fatalf("views changed before the Sync: %v", r.views)
	}
	r.sync()
	if r.views[1][2] || !r.views[3][2] {
		t.Fatalf("views after move: %v", r.views)
	}
	if want := []string{"1 false 2", "2 false 1", "2 true 3", "3 true 2"}; !slices.Equal(r.aoi, want) {
		t.Fatalf("AOI events %v, want %v", r.aoi, want)
	}
	must(t, s.Remove(2))
	if len(r.views[3]) != 0 {
		t.Fatalf("removed entity still held: %v", r.views)
	}
	if err := s.Move(2, 0, 0, false); err == nil {
		t.Fatal("Move of a removed member succeeded")
	}
	if _, err := s.Add(math.NaN(), 0, 1, false); err == nil || s.Len() != 2 {
		t.Fatal("Add at NaN succeeded or left a member")
	}
	// IDs of removed members are reused.
	if id, err := s.Add(0, 0, 1, false); err != nil || id != 2 {
		t.Fatalf("Add after Remove: id %d, %v; want the freed 2", id, err)
	}
}

func TestPositionsGoToHoldersAndServerMovesToOwner(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 1, 0, 10, true)
	addAs(t, s, 3, 100, 0, 10, true)
	r.drain()
	r.pos = map[ID][]ID{}
	// 2 moves by its own client: 1 hears, 2 does not, 3 (far) does not.
	must(t, s.Move(2, 2, 0, true))
	r.sync()
	if !slices.Equal(r.pos[1], []ID{2}) || len(r.pos[2]) != 0 || len(r.pos[3]) != 0 {
		t.Fatalf("after an owner move: %v", r.pos)
	}
	r.pos = map[ID][]ID{}
	// The server moves 2: its own client hears too.
	must(t, s.Move(2, 3, 0, false))
	r.sync()
	if !slices.Equal(r.pos[1], []ID{2}) || !slices.Equal(r.pos[2], []ID{2}) {
		t.Fatalf("after a server move: %v", r.pos)
	}
	r.pos = map[ID][]ID{}
	// Nothing moved: nothing sent.
	r.sync()
	if len(r.pos) != 0 {
		t.Fatalf("positions without moves: %v", r.pos)
	}
	// Several moves between syncs are one update.
	for i := range 5 {
		must(t, s.Move(2, float64(i), 1, true))
	}
	s.Touch(1, false)
	r.sync()
	if !slices.Equal(r.pos[1], []ID{2, 1}) && !slices.Equal(r.pos[1], []ID{1, 2}) {
		t.Fatalf("coalesced moves: %v", r.pos)
	}
}

func TestSetViewer(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10, SyncLimit: 2})
	s := r.s
	for i := ID(1); i <= 5; i++ {
		addAs(t, s, i, float64(i), 0, 10, false)
	}
	s.SetViewer(3, true)
	if len(r.views[3]) != 0 {
		t.Fatalf("a new view got %d creates before the Sync", len(r.views[3]))
	}
	r.sync()
	if len(r.views[3]) != 2 {
		t.Fatalf("a new view got %d creates at its first Sync, want the budget of 2", len(r.views[3]))
	}
	r.drain()
	r.checkExact(map[ID]bool{3: true})
	if !slices.Contains(r.pos[3], 3) {
		t.Fatalf("a new viewer was not told its own position: %v", r.pos[3])
	}
	s.SetViewer(3, false)
	if len(r.views[3]) != 0 || s.Shown(3, 1) {
		t.Fatalf("an ended view still holds %v", r.views[3])
	}
	s.SetViewer(3, false) // twice: nothing
}

func TestCrowdIsSpreadOverSyncs(t *testing.T) {
	const n = 1000
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 128, SyncTotal: 1 << 30, SyncWork: 50_000})
	s := r.s
	all := map[ID]bool{}
	for i := ID(1); i <= n; i++ {
		addAs(t, s, i, 500+float64(i%7), 500, 100, true)
		all[i] = true
	}
	r.sync()
	_, creates, _ := s.Backlog()
	if creates == 0 {
		t.Fatal("a crowd of 1000 was shown at once: no budget at work")
	}
	syncs := 0
	for {
		r.sync()
		syncs++
		if _, c, _ := s.Backlog(); c == 0 {
			break
		}
		if syncs > 20 {
			t.Fatalf("crowd creates not done after %d syncs", syncs)
		}
	}
	// 999 neighbours at 128 per sync: about 8 syncs.
	if syncs < 5 {
		t.Fatalf("crowd shown in %d syncs, expected the budget to spread it", syncs)
	}
	r.checkExact(all)

	// Everyone moves: a million (mover, watcher) pairs, 50,000 per sync.
	for i := ID(1); i <= n; i++ {
		must(t, s.Move(i, 500+float64(i%5), 501, true))
	}
	r.pos = map[ID][]ID{}
	r.sync()
	moves, _, _ := s.Backlog()
	if moves == 0 || moves == n {
		t.Fatalf("after one sync %d of %d moves are left; want the work bound to route some, not all", moves, n)
	}
	r.drain()
	// Every viewer heard of every other mover exactly once.
	for v := ID(1); v <= n; v++ {
		got := r.pos[v]
		if len(got) != n-1 {
			t.Fatalf("viewer %d got %d position updates, want %d", v, len(got), n-1)
		}
	}
}

func TestSyncTotalBoundsOneSync(t *testing.T) {
	const n, total = 200, 1000
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 50, SyncTotal: total})
	s := r.s
	all := map[ID]bool{}
	for i := ID(1); i <= n; i++ {
		addAs(t, s, i, 0, 0, 100, true)
		all[i] = true
	}
	for syncs := 0; ; syncs++ {
		if syncs > 1000 {
			t.Fatal("backlog never drains")
		}
		before := sum(r)
		r.sync()
		if got := sum(r) - before; got > total {
			t.Fatalf("one Sync sent %d creates and positions, SyncTotal %d", got, total)
		}
		if m, c, p := s.Backlog(); m+c+p == 0 {
			break
		}
	}
	r.checkExact(all)
}

// sum is everything the recorder's clients were sent so far.
func sum(r *recorder) int {
	n := 0
	for _, v := range r.views {
		n += len(v)
	}
	for _, p := range r.pos {
		n += len(p)
	}
	return n
}

func TestRestoreRebuildsViewsQuietly(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10, SyncLimit: 3})
	s := r.s
	type m struct {
		x, z, radius float64
		viewer       bool
	}
	members := map[ID]m{}
	for i := ID(1); i <= 8; i++ {
		members[i] = m{float64(i), 0, 10, i%2 == 0}
		addAs(t, s, i, float64(i), 0, 10, i%2 == 0)
	}
	// Viewers have more neighbours than their budget: some are pending.
	pending := map[ID][]ID{}
	shown := map[ID][]ID{}
	for id, mm := range members {
		if mm.viewer {
			pending[id] = s.Pending(id)
			for t := range r.views[id] {
				shown[id] = append(shown[id], t)
			}
		}
	}
	if len(pending[2]) == 0 {
		t.Fatal("test setup: no pending creates to carry over")
	}

	r2 := newRecorder(t, Config{CellSize: 10, SyncLimit: 3})
	for id := ID(1); id <= 8; id++ {
		mm := members[id]
		got, err := r2.s.Restore(mm.x, mm.z, mm.radius, mm.viewer, pending[id])
		must(t, err)
		if got != id {
			t.Fatalf("restored as %d, want %d", got, id)
		}
	}
	r2.s.FinishRestore()
	if len(r2.views) != 0 || len(r2.aoi) != 0 {
		t.Fatalf("Restore output something: views %v, AOI %v", r2.views, r2.aoi)
	}
	for id, ts := range shown {
		for _, tt := range ts {
			if !r2.s.Shown(id, tt) {
				t.Fatalf("after restore, %d's client is not known to hold %d", id, tt)
			}
		}
		if got := r2.s.Pending(id); !sameSet(got, pending[id]) {
			t.Fatalf("pending of %d: %v, want %v", id, got, pending[id])
		}
	}
	// The recorder of the new space starts from what the clients hold.
	for id, ts := range shown {
		for _, tt := range ts {
			r2.view(id)[tt] = true
		}
	}
	r2.drain()
	viewers := map[ID]bool{}
	for id, mm := range members {
		if mm.viewer {
			viewers[id] = true
			if !slices.Contains(r2.pos[id], id) && len(r2.pos[id]) == 0 {
				t.Fatalf("restored viewer %d got no positions", id)
			}
		}
	}
	r2.checkExact(viewers)
}

// TestRandomWorkload is the property test: random adds, removes, moves,
// teleports, crowds, radius changes, viewer changes, changes of public
// state (ShownTo) and SendDestroys, with syncs in between. After every
// operation clients hold only what their entities see or what waits to
// be destroyed, no viewer gets more than its budget per sync, and every
// client's copy of an entity has its latest public state; after a Sync
// clients hold only what their entities see; after a drain every client
// holds exactly what its entity sees.
func TestRandomWorkload(t *testing.T) {
	// Seeds above 20 also bound what each client holds (ViewLimit), and
	// seeds above 26 give members limits of their own (SetViewLimit), as
	// do seeds 33–36 without a ViewLimit.
	for seed := uint64(1); seed <= 36; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7))
			cfg := Config{CellSize: 20, SyncLimit: 1 + rng.IntN(20), SyncWork: 1 + rng.IntN(200)}
			if seed > 20 && seed <= 32 {
				cfg.ViewLimit = 1 + int(seed%7)
			}
			// Half the seeds route only from the viewers' side; the
			// others switch to the movers' side when few moved.
			randomWorkload(t, rng, cfg, workload{pullOnly: seed%2 == 0, ownLimits: seed > 26}, 600)
		})
	}
}

// FuzzSpaceWorkload runs randomWorkload from a fuzzed seed and budgets,
// ViewLimit included (0: none), and members' own limits or not: the
// recorder checks every output.
//
//	go test -run '^$' -fuzz FuzzSpaceWorkload -fuzztime 5m ./space/
func FuzzSpaceWorkload(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(50), uint8(0), false, false)
	f.Add(uint64(2), uint8(1), uint8(1), uint8(1), true, false)
	f.Add(uint64(3), uint8(20), uint8(200), uint8(4), false, true)
	f.Add(uint64(4), uint8(5), uint8(20), uint8(0), true, true)
	f.Fuzz(func(t *testing.T, seed uint64, syncLimit, syncWork, viewLimit uint8, pullOnly, ownLimits bool) {
		cfg := Config{CellSize: 20, SyncLimit: 1 + int(syncLimit%32), SyncWork: 1 + int(syncWork), ViewLimit: int(viewLimit % 16)}
		randomWorkload(t, rand.New(rand.NewPCG(seed, seed*7)), cfg, workload{pullOnly: pullOnly, ownLimits: ownLimits}, 300)
	})
}

// workload says what a randomWorkload does besides its usual operations.
type workload struct {
	pullOnly  bool // route only from the viewers' side
	ownLimits bool // give members view limits of their own, now and then
}

// randomWorkload runs ops random operations on a space (adds, removes,
// moves, teleports, radius changes, attribute changes, freezes' destroys,
// views on and off, members' own view limits with w.ownLimits, Syncs),
// checking the outputs as they come, then drains it and checks that each
// client holds what its entity sees (the nearest of it, with a limit).
func randomWorkload(t *testing.T, rng *rand.Rand, cfg Config, w workload, ops int) {
	r := newRecorder(t, cfg)
	s := r.s
	s.pullOnly = w.pullOnly
	live := map[ID]bool{}
	viewers := map[ID]bool{}
	pick := func() (ID, bool) {
		if len(live) == 0 {
			return 0, false
		}
		k := rng.IntN(len(live))
		for id := range live {
			if k == 0 {
				return id, true
			}
			k--
		}
		return 0, false
	}
	coord := func() float64 {
		if rng.IntN(4) == 0 {
			return 50 + rng.Float64()*3 // the crowd spot
		}
		return rng.Float64() * 200
	}
	for op := 0; op < ops; op++ {
		switch k := rng.IntN(12); {
		case k < 3 || len(live) < 3:
			v := rng.IntN(2) == 0
			id, err := s.Add(coord(), coord(), float64(rng.IntN(40)), v)
			must(t, err)
			if live[id] {
				t.Fatalf("Add returned %d, which is live", id)
			}
			live[id] = true
			if v {
				viewers[id] = true
			}
		case k == 3:
			id, _ := pick()
			must(t, s.Remove(id))
			delete(live, id)
			delete(viewers, id)
			delete(r.views, id)
			delete(r.sent, id) // its ID, when reused, is another client
		case k <= 6:
			id, _ := pick()
			x, z, _ := s.grid.Position(id)
			must(t, s.Move(id, x+rng.Float64()*10-5, z+rng.Float64()*10-5, rng.IntN(2) == 0))
		case k == 7:
			id, _ := pick()
			must(t, s.Move(id, coord(), coord(), false)) // teleport
		case k == 8:
			id, _ := pick()
			must(t, s.SetRadius(id, float64(rng.IntN(60))))
		case k == 9:
			// A change of public state, such as an attribute: it
			// reaches every client that holds the entity, those
			// whose destroy waits included.
			id, _ := pick()
			r.change(id)
		case k == 10:
			// What a freeze does before it captures the views.
			s.SendDestroys()
			r.checkSeen()
		case w.ownLimits && rng.IntN(3) == 0:
			// A limit of its own: none (negative), the space's (0),
			// or 1 to 6; lowered or raised while its client holds
			// entities, or set while it has none.
			id, _ := pick()
			must(t, s.SetViewLimit(id, rng.IntN(9)-2))
		default:
			id, _ := pick()
			on := !viewers[id]
			if on {
				delete(r.sent, id) // a new client, with a budget of its own
			}
			s.SetViewer(id, on)
			if on {
				viewers[id] = true
			} else {
				delete(viewers, id)
				if len(r.views[id]) != 0 {
					t.Fatalf("ended view of %d still holds %v", id, r.views[id])
				}
			}
		}
		r.checkSubset()
		if rng.IntN(5) == 0 {
			r.sync()
		}
	}
	r.drain()
	if cfg.ViewLimit == 0 && len(s.limits) == 0 {
		r.checkExact(viewers)
		return
	}
	r.chooseAll()
	r.checkNearest(viewers)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sameSet(a, b []ID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// addAs adds a member and checks that it got the ID the test expects.
func addAs(t *testing.T, s *Space, want ID, x, z, radius float64, viewer bool) {
	t.Helper()
	id, err := s.Add(x, z, radius, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if id != want {
		t.Fatalf("Add returned ID %d, want %d", id, want)
	}
}

// TestReusedIDs: a mover removed before the Sync and its ID reused by a
// member that moves too is routed once (the moved list holds its ID
// twice, once stale); a viewer removed from the middle of the viewers and
// its ID reused by a member without a client leaves the other viewers
// served and gets nothing.
func TestReusedIDs(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 100})
	s := r.s
	vs := map[ID]bool{}
	for i := range 6 {
		addAs(t, s, ID(i+1), float64(i), 0, 100, true)
		vs[ID(i+1)] = true
	}
	addAs(t, s, 7, 10, 10, 0, false)
	r.drain()
	r.checkExact(vs)

	// Few movers among many viewers: routing goes from the movers' side.
	must(t, s.Move(7, 11, 10, true))
	must(t, s.Remove(7))
	addAs(t, s, 7, 12, 10, 0, false)
	must(t, s.Move(7, 13, 10, true))
	r.pos = map[ID][]ID{}
	r.sync()
	for v := range vs {
		if !slices.Equal(r.pos[v], []ID{7}) {
			t.Fatalf("viewer %d got positions %v, want [7] once", v, r.pos[v])
		}
	}
	if m, c, p := s.Backlog(); m+c+p != 0 {
		t.Fatalf("backlog %d moves, %d creates, %d positions", m, c, p)
	}

	// Viewer 3 leaves; its ID comes back without a client; viewer 1
	// leaves too (the last viewer moved into its place before).
	must(t, s.Remove(3))
	delete(vs, 3)
	delete(r.views, 3)
	addAs(t, s, 3, 2, 0, 100, false)
	must(t, s.Remove(1))
	delete(vs, 1)
	delete(r.views, 1)
	if s.NumViewers() != len(vs) {
		t.Fatalf("NumViewers() = %d, want %d", s.NumViewers(), len(vs))
	}
	r.pos = map[ID][]ID{}
	for id := ID(2); id <= 7; id++ {
		x, z, _ := s.grid.Position(id)
		must(t, s.Move(id, x, z+1, false))
	}
	r.drain()
	r.checkExact(vs)
	for v := range r.pos {
		if !vs[v] {
			t.Fatalf("%d, without a client, was sent positions %v", v, r.pos[v])
		}
	}
	for v := range vs {
		if len(r.pos[v]) != 6 { // its own and its five neighbours'
			t.Fatalf("viewer %d got positions %v, want 6", v, r.pos[v])
		}
	}
	// The reused ID gets a view again, and is shown what it sees.
	s.SetViewer(3, true)
	vs[3] = true
	r.drain()
	r.checkExact(vs)
}

// TestFull: when no ID is left, Add fails and changes nothing; a removed
// member's ID is then the one Add assigns.
func TestFull(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	s.maxID = 3
	for id := ID(1); id <= 3; id++ {
		addAs(t, s, id, float64(id), 0, 10, true)
	}
	if _, err := s.Add(0, 0, 10, true); !errors.Is(err, errFull) {
		t.Fatalf("Add with no ID left: %v, want errFull", err)
	}
	if s.Len() != 3 || s.NumViewers() != 3 || s.Has(4) {
		t.Fatalf("after the failed Add: Len %d, NumViewers %d, Has(4) %v", s.Len(), s.NumViewers(), s.Has(4))
	}
	must(t, s.Remove(2))
	delete(r.views, 2)
	addAs(t, s, 2, 5, 0, 10, true)
	r.drain()
	r.checkExact(map[ID]bool{1: true, 2: true, 3: true})
}

// What leaves a view and comes back before the Sync costs the client
// nothing but a position: no destroy, no second create.
func TestLeaveAndComeBackBeforeTheSync(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 5, 0, 10, false)
	r.sync()
	if !r.views[1][2] {
		t.Fatalf("2 not shown: %v", r.views)
	}
	must(t, s.Move(2, 30, 0, false)) // out of 1's view
	if !s.Shown(1, 2) {
		t.Fatal("Shown(1, 2) is false while its client still holds it")
	}
	must(t, s.Move(2, 6, 0, false)) // back
	r.pos = map[ID][]ID{}
	destroyed := len(r.views[1])
	r.sync()
	if !r.views[1][2] || len(r.views[1]) != destroyed {
		t.Fatalf("views after coming back: %v", r.views)
	}
	if !slices.Contains(r.pos[1], 2) {
		t.Fatalf("1's client was not sent 2's position: %v", r.pos[1])
	}
	// Out again, and a Sync: destroyed then.
	must(t, s.Move(2, 30, 0, false))
	r.sync()
	if r.views[1][2] || s.Shown(1, 2) {
		t.Fatalf("2 still held after the Sync: %v", r.views)
	}
}

// A member removed while a client's destroy of it waits is destroyed
// there at once (its ID is free for another), as is what the removed
// member's own client was to destroy.
func TestRemoveSendsWaitingDestroys(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 5, 0, 10, true)
	addAs(t, s, 3, -5, 0, 10, false)
	r.sync()
	if !r.views[1][2] || !r.views[2][1] || !r.views[1][3] {
		t.Fatalf("views: %v", r.views)
	}
	must(t, s.Move(2, 40, 0, false)) // 1 and 2 lose each other
	must(t, s.Remove(2))
	if r.views[1][2] {
		t.Fatalf("1's client still holds the removed 2: %v", r.views[1])
	}
	if len(r.views[2]) != 0 {
		t.Fatalf("the removed 2's client still holds %v", r.views[2])
	}
	// The ID is reused by a member 1 sees: shown at the next Sync, and
	// no stale destroy takes it away.
	addAs(t, s, 2, 3, 0, 10, false)
	r.sync()
	r.sync()
	if !r.views[1][2] || !r.views[1][3] {
		t.Fatalf("views after the ID's reuse: %v", r.views[1])
	}
}

// SendDestroys sends the waiting destroys at once (before a freeze).
func TestSendDestroys(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 5, 0, 10, false)
	r.sync()
	must(t, s.Move(2, 40, 0, false))
	if !r.views[1][2] {
		t.Fatal("destroyed before the Sync")
	}
	s.SendDestroys()
	if r.views[1][2] || s.Shown(1, 2) {
		t.Fatalf("SendDestroys left %v", r.views[1])
	}
	r.checkSeen()
}

// ShownTo names every client that holds the entity, those whose destroy
// of it waits included (it may come back before the Sync, and the
// client keep its copy), each once however often it left and came back,
// and none whose copy was already destroyed: by Remove, by the end of
// its view, or through a viewer ID reused within the interval.
func TestShownToWhileDestroyWaits(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 100, 0, 10, true)
	addAs(t, s, 3, 5, 0, 10, false)
	r.sync()
	if !r.views[1][3] {
		t.Fatalf("views: %v", r.views)
	}
	shownTo := func(id ID) []ID {
		var got []ID
		s.ShownTo(id, func(v ID) { got = append(got, v) })
		slices.Sort(got)
		return got
	}
	// 3 leaves 1's view, comes back, leaves again: 1 hid it twice.
	must(t, s.Move(3, 30, 0, false))
	must(t, s.Move(3, 6, 0, false))
	must(t, s.Move(3, 30, 0, false))
	if got := shownTo(3); !slices.Equal(got, []ID{1}) {
		t.Fatalf("ShownTo(3) = %v while 1's destroy of it waits, want [1] once", got)
	}
	r.change(3)
	must(t, s.Move(3, 6, 0, false)) // back before the Sync: kept, and fresh
	r.sync()
	if !r.views[1][3] {
		t.Fatalf("3 came back but 1's client lost it: %v", r.views[1])
	}

	// 1's view ends while its destroy of 3 waits, and starts again in
	// the same interval: the old copy went at once, the new view does
	// not hold 3 until its create.
	must(t, s.Move(3, 30, 0, false))
	s.SetViewer(1, false)
	if len(r.views[1]) != 0 {
		t.Fatalf("an ended view still holds %v", r.views[1])
	}
	s.SetViewer(1, true)
	if got := shownTo(3); len(got) != 0 {
		t.Fatalf("ShownTo(3) = %v after 1's copy was destroyed", got)
	}
	must(t, s.Move(3, 6, 0, false))
	r.change(3)
	r.sync()
	if !r.views[1][3] {
		t.Fatalf("1's new view was not shown 3: %v", r.views[1])
	}

	// Viewer 1 is removed while its destroy of 3 waits; its ID goes to
	// a new viewer that sees 3 but holds nothing yet.
	must(t, s.Move(3, 30, 0, false))
	must(t, s.Remove(1))
	delete(r.views, 1)
	addAs(t, s, 1, 25, 0, 10, true)
	if got := shownTo(3); len(got) != 0 {
		t.Fatalf("ShownTo(3) = %v, naming a reused ID whose client holds nothing", got)
	}
	r.change(3)
	r.sync()
	if !r.views[1][3] {
		t.Fatalf("the new viewer 1 was not shown 3: %v", r.views[1])
	}
	// And a destroy of 3 waiting for viewer 2 (far off, moved in and
	// out) does not make 1 named twice.
	must(t, s.Move(2, 29, 0, false))
	r.sync()
	must(t, s.Move(2, 100, 0, false))
	if got := shownTo(3); !slices.Equal(got, []ID{1, 2}) {
		t.Fatalf("ShownTo(3) = %v, want [1 2]", got)
	}
	r.change(3)
	r.drain()
	r.checkExact(map[ID]bool{1: true, 2: true})
}

// SetRadius shrinking and growing back within an interval: what the
// client held stays, with only a position, and what waited to be created
// is created once; shrinking with a Sync in between destroys, and
// growing then creates anew.
func TestSetRadiusShrinkAndGrowWithinInterval(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 10, SyncLimit: 1})
	s := r.s
	addAs(t, s, 1, 0, 0, 10, true)
	addAs(t, s, 2, 5, 0, 10, false)
	addAs(t, s, 3, 6, 0, 10, false)
	r.sync() // budget 1: 2 is created, 3 waits
	if !r.views[1][2] || r.views[1][3] {
		t.Fatalf("views: %v", r.views[1])
	}
	must(t, s.SetRadius(1, 1)) // 2's destroy waits, 3's create is dropped
	if !s.Shown(1, 2) || len(s.Pending(1)) != 0 {
		t.Fatalf("after shrinking: Shown(1, 2) %v, pending %v", s.Shown(1, 2), s.Pending(1))
	}
	r.change(2)
	must(t, s.SetRadius(1, 10)) // both back
	r.pos = map[ID][]ID{}
	r.sync()
	if !r.views[1][2] || !r.views[1][3] {
		t.Fatalf("views after growing back: %v", r.views[1])
	}
	if r.destroys != 0 || len(r.pos[1]) != 0 {
		t.Fatalf("%d destroys, positions %v: want none (the budget went to 3's create)", r.destroys, r.pos[1])
	}
	r.sync()
	if !slices.Equal(r.pos[1], []ID{2}) {
		t.Fatalf("positions %v, want 2's, which came back", r.pos[1])
	}
	r.drain()
	r.checkExact(map[ID]bool{1: true})
	must(t, s.SetRadius(1, 1))
	r.sync()
	if len(r.views[1]) != 0 || r.destroys != 2 {
		t.Fatalf("after shrinking and a Sync: %v, %d destroys", r.views[1], r.destroys)
	}
	must(t, s.SetRadius(1, 10))
	r.drain()
	r.checkExact(map[ID]bool{1: true})
}
