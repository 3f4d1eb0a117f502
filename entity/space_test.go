package entity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/aoi"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

// Zone is a space; Mover sees 10 units around it and records its hooks.
type Zone struct{ Entity }

func (z *Zone) DescribeEntityType(d *TypeDesc) { d.DefineSpace(10) }
func (z *Zone) OnEntityEnter(e *Entity)        { record(&z.Entity, "member+ %s", e.Attrs.GetString("name")) }
func (z *Zone) OnEntityLeave(e *Entity)        { record(&z.Entity, "member- %s", e.Attrs.GetString("name")) }

type Mover struct{ Entity }

func (m *Mover) DescribeEntityType(d *TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", AttrAllClients)
	d.DefineAttr("secret", AttrOwnClient)
}
func (m *Mover) OnEnterAOI(o *Entity) {
	record(&m.Entity, "+%s", o.Attrs.GetString("name"))
	if m.Attrs.GetString("name") == "jumpy" {
		// A hook may move entities: the AOI changes it causes are
		// reported after this one, in order.
		m.SetPosition(Vector3{X: 500})
	}
}
func (m *Mover) OnLeaveAOI(o *Entity)       { record(&m.Entity, "-%s", o.Attrs.GetString("name")) }
func (m *Mover) OnEnterSpace()              { record(&m.Entity, "enter") }
func (m *Mover) OnLeaveSpace(space *Entity) { record(&m.Entity, "leave") }

func newSpaceEnv(t *testing.T, opts ...envOpt) *env {
	e := newEnv(t, opts...)
	mustRegister(t, e.reg, "Zone", &Zone{})
	mustRegister(t, e.reg, "Mover", &Mover{})
	return e
}

func withSyncLimit(n int) envOpt { return func(_ *env, c *WorldConfig) { c.SyncLimit = n } }

func (e *env) mover(name string) *Entity {
	return e.create("Mover", map[string]any{"name": name})
}

func (e *env) enter(m *Entity, sp *Entity, x, z float32) {
	e.t.Helper()
	var err error
	e.eng.Run(func() { err = m.EnterSpace(sp.ID(), Vector3{X: x, Z: z}) })
	if err != nil {
		e.t.Fatalf("EnterSpace: %v", err)
	}
}

// migrateTo sends m into zone, a space of the world of to, at (x, z),
// playing the dispatchers: it acks the migration's block and hands the
// entity over. It returns the entity as it arrived (nil if it did not).
func (e *env) migrateTo(to *env, m, zone *Entity, x, z float32) *Entity {
	e.t.Helper()
	e.enter(m, zone, x, z) // not local: migrates
	e.out.take()
	e.eng.Handle(rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, m.ID()))
	var mig []byte
	for _, f := range e.out.take() {
		if f.typ == rpc.MsgMigrateEntity {
			mig = f.body
		}
	}
	if mig == nil {
		e.t.Fatalf("%s: no MigrateEntity sent", m)
	}
	to.eng.Handle(rpc.MsgMigrateEntity, mig)
	return to.w.Entity(m.ID())
}

// toClientOf returns the client frames of type typ sent to ref.
func toClientOf(t *testing.T, frames []frame, ref ClientRef, typ rpc.MsgType) []clientMsg {
	var out []clientMsg
	for _, m := range clientMsgs(t, frames) {
		if m.ref() == ref && m.typ == typ {
			out = append(out, m)
		}
	}
	return out
}

func TestSpaceHooksAndClientMessages(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	if !zone.IsSpace() || zone.NumMembers() != 0 {
		t.Fatal("Zone is not an empty space")
	}
	a, b := e.mover("a"), e.mover("b")
	e.bind(a, 1, 10)
	e.bind(b, 1, 11)
	e.events()
	e.out.take()

	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 3, 4)
	if got := e.events(); !slices.Equal(got, []string{
		string(zone.ID()) + " member+ a", string(a.ID()) + " enter",
		string(zone.ID()) + " member+ b", string(b.ID()) + " enter",
		string(a.ID()) + " +b", string(b.ID()) + " +a",
	}) {
		t.Fatalf("hooks: %v", got)
	}
	refA, refB := ClientRef{1, 10}, ClientRef{1, 11}
	early := e.out.take()
	if n := len(toClientOf(t, early, refA, rpc.MsgEnterSpace)); n != 1 {
		t.Fatalf("a got %d EnterSpace", n)
	}
	if n := len(toClientOf(t, early, refA, rpc.MsgCreateEntity)); n != 0 {
		t.Fatalf("a got %d creates before the position sync", n)
	}
	e.eng.Run(e.eng.SyncPositions)
	frames := e.out.take()
	creates := toClientOf(t, frames, refA, rpc.MsgCreateEntity)
	if len(creates) != 1 {
		t.Fatalf("a got %d creates", len(creates))
	}
	c := decodeCreate(t, creates[0].body)
	if c.id != b.ID() || c.isPlayer != 0 || c.attrs["secret"] != nil || c.attrs["name"] != "b" {
		t.Fatalf("a's create of b: %+v", c)
	}
	// The position follows the attributes.
	body := creates[0].body
	r := rpc.NewReader(body[len(body)-rpc.PositionSize:])
	if pos, _ := r.Position(); pos != (Vector3{X: 3, Z: 4}) {
		t.Fatalf("create carries position %v", pos)
	}

	// An all-clients attribute reaches a's client; an own-client one
	// does not.
	e.eng.Run(func() { b.Attrs.Set("name", "bee"); b.Attrs.Set("secret", "s") })
	frames = e.out.take()
	if ch := toClientOf(t, frames, refA, rpc.MsgAttrChange); len(ch) != 1 || decodeAttrChange(t, ch[0].body).value != "bee" {
		t.Fatalf("a got attribute changes %v", ch)
	}
	if ch := toClientOf(t, frames, refB, rpc.MsgAttrChange); len(ch) != 2 {
		t.Fatalf("b's own client got %d changes, want 2", len(ch))
	}

	// Moving out of range: leave hooks, destroys, then the space's hooks
	// when leaving it.
	e.eng.Run(func() { b.SetPosition(Vector3{X: 30}) })
	if got := e.events(); !slices.Equal(got, []string{string(a.ID()) + " -bee", string(b.ID()) + " -a"}) {
		t.Fatalf("hooks after moving away: %v", got)
	}
	if d := toClientOf(t, e.out.take(), refA, rpc.MsgDestroyEntity); len(d) != 0 {
		t.Fatalf("a's destroys before the position sync: %v", d)
	}
	e.eng.Run(e.eng.SyncPositions)
	frames = e.out.take()
	if d := toClientOf(t, frames, refA, rpc.MsgDestroyEntity); len(d) != 1 || decodeEntityIDBody(t, d[0].body) != b.ID() {
		t.Fatalf("a's destroys: %v", d)
	}
	e.eng.Run(func() { b.LeaveSpace() })
	if got := e.events(); !slices.Equal(got, []string{string(b.ID()) + " leave", string(zone.ID()) + " member- bee"}) {
		t.Fatalf("hooks after leaving: %v", got)
	}
	if b.Space() != nil || zone.NumMembers() != 1 {
		t.Fatal("b still in the zone")
	}
	// Destroying the space empties it.
	e.eng.Run(func() { zone.Destroy() })
	if a.Space() != nil || e.w.NumSpaces() != 0 {
		t.Fatal("a is still in a destroyed space")
	}
	frames = e.out.take()
	es := toClientOf(t, frames, refA, rpc.MsgEnterSpace)
	if len(es) != 1 || rpc.NewReader(es[0].body).EntityID() != "" {
		t.Fatalf("a was not told it left its space: %v", es)
	}
}

func TestHookThatMovesRunsAfterTheChange(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a, j := e.mover("a"), e.mover("jumpy")
	e.enter(a, zone, 0, 0)
	e.events()
	e.enter(j, zone, 1, 0)
	got := e.events()
	// jumpy's OnEnterAOI moves it away: its leave events come after all
	// the enter events of its arrival, never in the middle.
	want := []string{
		string(zone.ID()) + " member+ jumpy", string(j.ID()) + " enter",
		string(a.ID()) + " +jumpy", string(j.ID()) + " +a",
		string(a.ID()) + " -jumpy", string(j.ID()) + " -a",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("hooks %v, want %v", got, want)
	}
	if j.Position().X != 500 || a.Sees(j) {
		t.Fatal("jumpy did not jump")
	}
}

func TestAttributeFanOutReachesEveryViewer(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	star := e.mover("star")
	e.enter(star, zone, 0, 0)
	for i := 0; i < 50; i++ {
		m := e.mover("fan")
		e.bind(m, rpc.GateID(1+i%2), rpc.ClientID(100+i))
		e.enter(m, zone, 1, 1)
	}
	e.eng.Run(e.eng.SyncPositions)
	e.out.take()
	e.eng.Run(func() { star.Attrs.Set("name", "superstar") })
	seen := map[ClientRef]bool{}
	for _, m := range clientMsgs(t, e.out.take()) {
		if m.typ == rpc.MsgAttrChange {
			seen[m.ref()] = true
		}
	}
	if len(seen) != 50 {
		t.Fatalf("%d fans heard of the change, want 50", len(seen))
	}
}

func TestRawBatchLayout(t *testing.T) {
	// Without the recorder's expansion: one MsgToClients per gate.
	e := newSpaceEnv(t)
	e.out.flush = nil
	zone := e.create("Zone", nil)
	star := e.mover("star")
	e.enter(star, zone, 0, 0)
	for i := 0; i < 6; i++ {
		m := e.mover("fan")
		e.bind(m, rpc.GateID(1+i%2), rpc.ClientID(100+i))
		e.enter(m, zone, 1, 1)
	}
	e.eng.Run(e.eng.SyncPositions)
	out := &countingOutbox{}
	e.w.out = out
	e.eng.Run(func() { star.Attrs.Set("name", "superstar") })
	if sends := out.toClients; sends != 2 {
		t.Fatalf("%d MsgToClients for 6 clients on 2 gates, want 2", sends)
	}
}

type countingOutbox struct{ toClients int }

func (o *countingOutbox) NumDispatchers() int { return 1 }
func (o *countingOutbox) Send(i int, t rpc.MsgType, body []byte) {
	if t == rpc.MsgToClients {
		o.toClients++
	}
}

func TestClientPositionOwnership(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a := e.mover("a")
	e.bind(a, 1, 10)
	e.enter(a, zone, 0, 0)
	send := func(ref ClientRef, space rpc.EntityID, pos Vector3) {
		e.eng.Handle(rpc.MsgClientSyncPosition, clientPosBody(a.ID(), ref, space, pos, 0.5))
	}
	send(ClientRef{1, 10}, zone.ID(), Vector3{X: 2, Y: 3, Z: 4})
	if a.Position() != (Vector3{X: 2, Y: 3, Z: 4}) || a.Yaw() != 0.5 {
		t.Fatalf("owner's position not applied: %v", a.Position())
	}
	send(ClientRef{1, 11}, zone.ID(), Vector3{X: 9})
	send(ClientRef{2, 10}, zone.ID(), Vector3{X: 9})
	send(ClientRef{1, 10}, rpc.NewEntityID(), Vector3{X: 9})
	if a.Position().X != 2 {
		t.Fatalf("a position from another client or for another space was applied: %v", a.Position())
	}
	if !e.logged(logrus.WarnLevel, "does not own the entity") {
		t.Fatal("no warning for a position from a client that does not own the entity")
	}
	if k := kicks(t, e.out.take()); len(k) != 0 {
		t.Fatalf("kicked: %v", k)
	}
	send(ClientRef{1, 10}, zone.ID(), Vector3{X: float32(nan())})
	if k := kicks(t, e.out.take()); len(k) != 1 || !strings.Contains(k[0].reason, "NaN") {
		t.Fatalf("NaN position kicks: %v", k)
	}
}

func TestSpaceErrors(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a, p := e.mover("a"), e.create("Plain", nil)
	e.eng.Run(func() {
		if err := a.EnterSpace(p.ID(), Vector3{}); !errors.Is(err, ErrNotSpace) {
			t.Errorf("entering a non-space: %v", err)
		}
		if err := a.EnterSpace(zone.ID(), Vector3{X: float32(nan())}); !errors.Is(err, ErrBadPosition) {
			t.Errorf("entering at NaN: %v", err)
		}
		if err := zone.EnterSpace(zone.ID(), Vector3{}); err == nil {
			t.Error("a space entered a space")
		}
		if _, err := e.w.CreateSpaceLocally("Plain", nil); !errors.Is(err, ErrNotSpace) {
			t.Errorf("CreateSpaceLocally of a non-space type: %v", err)
		}
		if err := a.SetPosition(Vector3{Z: float32(inf())}); !errors.Is(err, ErrBadPosition) {
			t.Errorf("SetPosition(Inf): %v", err)
		}
	})
	r := NewRegistry()
	if err := r.Register("Bad", &badSpace{}); err == nil || !strings.Contains(err.Error(), "AOI radius") {
		t.Fatalf("a space with an AOI radius registered: %v", err)
	}
	if err := r.Register("Neg", &negRadius{}); err == nil || !strings.Contains(err.Error(), "AOI radius") {
		t.Fatalf("a negative radius registered: %v", err)
	}
}

type badSpace struct{ Entity }

func (b *badSpace) DescribeEntityType(d *TypeDesc) { d.DefineSpace(1); d.SetAOIRadius(5) }

type negRadius struct{ Entity }

func (b *negRadius) DescribeEntityType(d *TypeDesc) { d.SetAOIRadius(-1) }

// TestSpacesSurviveFreeze: spaces, members, positions and what each
// client holds come back from a freeze file without a single message,
// and the views carry on from there: a pending create is sent later,
// a leave destroys what the client held before the reload.
func TestSpacesSurviveFreeze(t *testing.T) {
	e := newSpaceEnv(t, withSyncLimit(1))
	zone := e.create("Zone", nil)
	a, b, c := e.mover("a"), e.mover("b"), e.mover("c")
	e.bind(a, 1, 10)
	e.enter(b, zone, 1, 0)
	e.enter(c, zone, 2, 0)
	e.enter(a, zone, 0, 0)
	e.eng.Run(e.eng.SyncPositions) // budget 1: a's client is shown one of b, c
	var shown, unshown rpc.EntityID
	for _, m := range toClientOf(t, e.out.take(), ClientRef{1, 10}, rpc.MsgCreateEntity) {
		if id := decodeCreate(t, m.body).id; id != a.ID() {
			shown = id
		}
	}
	if shown == "" {
		t.Fatal("a's client was shown no one")
	}
	unshown = b.ID()
	if shown == b.ID() {
		unshown = c.ID()
	}

	f, _ := e.freeze()
	e2 := newEnvWith(t, e.reg, e.clock)
	e2.restore(f)
	if fr := e2.out.take(); len(fr) != 0 {
		t.Fatalf("Restore sent %d frames: %v", len(fr), fr)
	}
	z2, a2 := e2.w.Entity(zone.ID()), e2.w.Entity(a.ID())
	if z2 == nil || !z2.IsSpace() || z2.NumMembers() != 3 || a2.Space() != z2 || a2.Position() != (Vector3{}) {
		t.Fatal("spaces or members not restored")
	}
	if p := e2.w.Entity(c.ID()).Position(); p != (Vector3{X: 2}) {
		t.Fatalf("c restored at %v", p)
	}
	if !a2.Sees(e2.w.Entity(shown)) || !a2.Sees(e2.w.Entity(unshown)) {
		t.Fatal("AOI not rebuilt")
	}
	// The next sync shows the pending one (and resends positions).
	e2.eng.Run(e2.eng.SyncPositions)
	creates := toClientOf(t, e2.out.take(), ClientRef{1, 10}, rpc.MsgCreateEntity)
	if len(creates) != 1 || decodeCreate(t, creates[0].body).id != unshown {
		t.Fatalf("after restore, a's client got creates %v, want only the one it lacked", creates)
	}
	// Moving a away destroys both on its client: the one it held before
	// the reload and the one shown after.
	e2.eng.Run(func() { a2.SetPosition(Vector3{X: 100}) })
	e2.eng.Run(e2.eng.SyncPositions)
	d := toClientOf(t, e2.out.take(), ClientRef{1, 10}, rpc.MsgDestroyEntity)
	if len(d) != 2 {
		t.Fatalf("%d destroys after moving away, want 2", len(d))
	}
}

// TestMigrationBetweenWorlds plays the dispatchers by hand: the entity
// leaves one world with its state and the calls that reached it, and
// arrives in the other's space.
func TestMigrationBetweenWorlds(t *testing.T) {
	e1 := newSpaceEnv(t)
	e2 := newEnvWith(t, e1.reg, e1.clock)
	var zone *Entity
	e2.eng.Run(func() { zone, _ = e2.w.CreateSpaceLocally("Zone", nil) })
	m := e1.mover("traveller")
	e1.bind(m, 1, 10)
	e1.out.take()
	e1.enter(m, zone, 3, 4) // not local: migrates
	if !m.migrating || e1.eng.NumMigrating() != 1 {
		t.Fatal("not migrating")
	}
	if f := e1.out.ofType(rpc.MsgMigrateBlock); len(f) != 1 {
		t.Fatalf("%d MigrateBlock frames", len(f))
	}
	// A call that reaches it before the ack waits with it.
	e1.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "SetPosition"))
	e1.eng.Run(func() { m.Attrs.Set("secret", "kept") })
	e1.out.take()
	e1.eng.Handle(rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, m.ID()))
	frames := e1.out.take()
	var mig []byte
	for _, f := range frames {
		if f.typ == rpc.MsgMigrateEntity {
			mig = f.body
		}
		if f.typ == rpc.MsgUnregisterEntity {
			t.Fatal("the source game unregistered the migrating entity")
		}
	}
	if mig == nil || e1.w.Entity(m.ID()) != nil {
		t.Fatal("no MigrateEntity sent, or the entity stayed")
	}
	if id := rpc.NewReader(mig).EntityID(); id != zone.ID() {
		t.Fatalf("migration routed by %s, want the space %s", id, zone.ID())
	}
	e2.eng.Handle(rpc.MsgMigrateEntity, mig)
	m2 := e2.w.Entity(m.ID())
	if m2 == nil || m2.Space() != zone || m2.Position() != (Vector3{X: 3, Z: 4}) ||
		m2.Attrs.GetString("secret") != "kept" || !m2.HasClient() {
		t.Fatalf("arrived as %+v", m2)
	}
	frames = e2.out.take()
	if f := toClientOf(t, frames, ClientRef{1, 10}, rpc.MsgEnterSpace); len(f) != 1 {
		t.Fatalf("client told of %d space entries", len(f))
	}
	var reg, owner bool
	for _, f := range frames {
		reg = reg || f.typ == rpc.MsgRegisterEntity
		owner = owner || f.typ == rpc.MsgSetClientOwner
	}
	if !reg || !owner {
		t.Fatalf("register %v, client owner %v", reg, owner)
	}
	// The queued call ran there: SetPosition is not an RPC method (it has
	// a result), so it is dropped with a warning naming the entity there.
	if !e2.logged(logrus.WarnLevel, "has no method \"SetPosition\"") {
		t.Fatal("the queued call did not reach the new world")
	}
}

// TestDestroyedWhileMigrating: an entity destroyed before its dispatcher
// answers does not travel; the dispatcher is told to route to us and
// forget it, which releases its queue.
func TestDestroyedWhileMigrating(t *testing.T) {
	e := newSpaceEnv(t)
	m := e.mover("ghost")
	e.enter(m, &Entity{id: rpc.NewEntityID()}, 0, 0)
	e.eng.Run(m.Destroy)
	e.out.take()
	e.eng.Handle(rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, m.ID()))
	var types []rpc.MsgType
	for _, f := range e.out.take() {
		types = append(types, f.typ)
	}
	if !slices.Equal(types, []rpc.MsgType{rpc.MsgRegisterEntity, rpc.MsgUnregisterEntity}) {
		t.Fatalf("after the ack: %v", types)
	}
	if e.w.StorageInFlight() != 0 {
		t.Fatal("the migration still counts as in flight (a freeze would wait for it)")
	}
}

// TestPositionsOverSixtyFiveThousand: a positions message counts its
// entries in 16 bits; a sync of more (an aoi_sync_limit past 65535 before
// the config refused it, or any caller) goes in several messages, none
// of which wraps its count.
func TestPositionsOverSixtyFiveThousand(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	viewer := e.mover("viewer")
	e.bind(viewer, 1, 1)
	e.enter(viewer, zone, 0, 0)
	out := (*spaceOut)(zone.sp)
	const n = maxPositionsPerMsg + 10
	targets := make([]aoi.ID, 0, n+1)
	for id, m := range zone.sp.members.byID {
		if m == viewer {
			for range n {
				targets = append(targets, aoi.ID(id)) // the viewer n times: members are what is looked up
			}
		}
	}
	e.out.take()
	e.eng.Run(func() { out.Positions(viewer.aoiID, targets) })
	var counts []int
	for _, m := range toClientOf(t, e.out.take(), ClientRef{Gate: 1, ID: 1}, rpc.MsgPositions) {
		c := int(m.body[0]) | int(m.body[1])<<8
		if len(m.body) != 2+c*(rpc.EntityIDLength+rpc.PositionSize) {
			t.Fatalf("a positions message counts %d entries but holds %d bytes", c, len(m.body))
		}
		counts = append(counts, c)
	}
	if len(counts) != 2 || counts[0] != maxPositionsPerMsg || counts[1] != 10 {
		t.Fatalf("positions messages with %v entries, want [%d 10]", counts, maxPositionsPerMsg)
	}
}

// A space's members are found by their AOI IDs, which leaving frees and
// entering reuses: after any mix of entering and leaving, NumMembers,
// Members and each member's lookup agree with who is in the space.
func TestSpaceMembersThroughReusedIDs(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	rng := rand.New(rand.NewPCG(3, 4))
	var all []*Entity
	for i := range 40 {
		all = append(all, e.mover(fmt.Sprint("m", i)))
	}
	in := map[*Entity]bool{}
	for range 400 {
		m := all[rng.IntN(len(all))]
		if in[m] {
			e.eng.Run(m.LeaveSpace)
			delete(in, m)
		} else {
			e.enter(m, zone, float32(rng.IntN(30)), float32(rng.IntN(30)))
			in[m] = true
		}
		if zone.NumMembers() != len(in) {
			t.Fatalf("NumMembers %d, want %d", zone.NumMembers(), len(in))
		}
		seen := map[*Entity]bool{}
		zone.Members(func(m *Entity) bool {
			if !in[m] || seen[m] {
				t.Fatalf("Members gave %s (in the space: %v, twice: %v)", m, in[m], seen[m])
			}
			seen[m] = true
			return true
		})
		if len(seen) != len(in) {
			t.Fatalf("Members gave %d, want %d", len(seen), len(in))
		}
		for m := range in {
			if m.Space() != zone || zone.sp.members.get(m.aoiID) != m {
				t.Fatalf("%s is not found by its AOI ID %d", m, m.aoiID)
			}
		}
	}
}

// A destroy that waits for the next position sync goes out when the game
// freezes for a hot reload: the views rebuilt after it hold only what
// their members see, so the client would otherwise keep it for good.
func TestFreezeSendsWaitingDestroys(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a, b := e.mover("a"), e.mover("b")
	e.bind(a, 1, 10)
	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 1, 0)
	e.eng.Run(e.eng.SyncPositions)
	shown := false
	for _, c := range toClientOf(t, e.out.take(), ClientRef{1, 10}, rpc.MsgCreateEntity) {
		shown = shown || decodeCreate(t, c.body).id == b.ID()
	}
	if !shown {
		t.Fatal("a's client was not shown b")
	}
	e.eng.Run(func() { b.SetPosition(Vector3{X: 100}) })
	if d := toClientOf(t, e.out.take(), ClientRef{1, 10}, rpc.MsgDestroyEntity); len(d) != 0 {
		t.Fatalf("destroyed before the sync: %v", d)
	}
	e.freeze()
	d := toClientOf(t, e.out.take(), ClientRef{1, 10}, rpc.MsgDestroyEntity)
	if len(d) != 1 || decodeEntityIDBody(t, d[0].body) != b.ID() {
		t.Fatalf("destroys sent by the freeze: %v, want b's", d)
	}
}

// An attribute that changes while a client's destroy of its entity waits
// (the entity left the view since the last sync) reaches that client:
// the entity may come back into view before the sync, and the client
// then keeps its copy, which must not be stale.
func TestAttrChangeWhileDestroyWaits(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a, b := e.mover("a"), e.mover("b")
	e.bind(a, 1, 10)
	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 1, 0)
	e.eng.Run(e.eng.SyncPositions)
	refA := ClientRef{1, 10}
	// held plays a's client: b's name as it knows it ("" = not held).
	held := ""
	apply := func(frames []frame) {
		t.Helper()
		for _, m := range clientMsgs(t, frames) {
			if m.ref() != refA {
				continue
			}
			switch m.typ {
			case rpc.MsgCreateEntity:
				if c := decodeCreate(t, m.body); c.id == b.ID() {
					if held != "" {
						t.Fatal("a's client was created b, which it holds")
					}
					held = c.attrs["name"].(string)
				}
			case rpc.MsgDestroyEntity:
				if decodeEntityIDBody(t, m.body) == b.ID() {
					if held == "" {
						t.Fatal("a's client was told to destroy b, which it does not hold")
					}
					held = ""
				}
			case rpc.MsgAttrChange:
				if c := decodeAttrChange(t, m.body); c.id == b.ID() {
					if held == "" {
						t.Fatal("a's client was sent a change of b, which it does not hold")
					}
					if len(c.path) == 1 && c.path[0] == "name" {
						held = c.value.(string)
					}
				}
			}
		}
	}
	apply(e.out.take())
	if held != "b" {
		t.Fatalf("a's client holds b as %q", held)
	}
	e.eng.Run(func() {
		b.SetPosition(Vector3{X: 100}) // out of a's view: its destroy waits
		b.Attrs.Set("name", "renamed")
		b.SetPosition(Vector3{X: 2}) // back before the sync
	})
	e.eng.Run(e.eng.SyncPositions)
	apply(e.out.take())
	if held != "renamed" {
		t.Fatalf("after the sync a's client holds b as %q, want \"renamed\"", held)
	}
	// Out, changed, and a sync: destroyed, and shown anew with the
	// change when it comes back.
	e.eng.Run(func() {
		b.SetPosition(Vector3{X: 100})
		b.Attrs.Set("name", "again")
	})
	e.eng.Run(e.eng.SyncPositions)
	apply(e.out.take())
	if held != "" {
		t.Fatalf("a's client still holds b (%q) after it left", held)
	}
	e.eng.Run(func() { b.SetPosition(Vector3{X: 2}) })
	e.eng.Run(e.eng.SyncPositions)
	apply(e.out.take())
	if held != "again" {
		t.Fatalf("a's client holds b as %q, want \"again\"", held)
	}
}

// A player that game code moved since the last position sync is owed its
// own position: a hot reload in between keeps the debt, and the first
// sync after it pays it. One its own client moved is not sent it back.
func TestFreezeKeepsOwnPositionDue(t *testing.T) {
	e := newSpaceEnv(t)
	zone := e.create("Zone", nil)
	a, b := e.mover("a"), e.mover("b")
	e.bind(a, 1, 10)
	e.bind(b, 1, 11)
	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 50, 0)
	e.eng.Run(e.eng.SyncPositions)
	e.out.take()
	e.eng.Run(func() { a.SetPosition(Vector3{X: 3}) })                                        // by the server
	e.eng.Run(func() { e.w.clientPosition(b.ID(), *b.client, zone.ID(), Vector3{X: 53}, 0) }) // by b's own client
	f, _ := e.freeze()
	e2 := newEnvWith(t, e.reg, e.clock)
	e2.restore(f)
	e2.eng.Run(e2.eng.SyncPositions)
	frames := e2.out.take()
	own := func(ref ClientRef, id rpc.EntityID) bool {
		for _, m := range toClientOf(t, frames, ref, rpc.MsgPositions) {
			r := rpc.NewReader(m.body)
			for n := r.Uint16(); n > 0; n-- {
				if r.EntityID() == id {
					return true
				}
				r.Position()
			}
		}
		return false
	}
	if !own(ClientRef{1, 10}, a.ID()) {
		t.Fatal("a's client was not sent the position the server gave a before the reload")
	}
	if own(ClientRef{1, 11}, b.ID()) {
		t.Fatal("b's client was sent back the position it gave b itself")
	}
}

// TestClientCoordinateLimit: a client's position with a coordinate beyond
// the world's ClientCoordinateLimit (either sign, any axis) is not applied
// and disconnects the client with a kick that says why; at the limit it
// is applied; a server move is not bounded; Unlimited (negative) lifts
// the bound; the default is DefaultClientCoordinateLimit.
func TestClientCoordinateLimit(t *testing.T) {
	send := func(e *env, a, zone *Entity, pos Vector3) {
		e.eng.Handle(rpc.MsgClientSyncPosition, clientPosBody(a.ID(), ClientRef{1, 10}, zone.ID(), pos, 0))
	}
	setUp := func(limit int) (*env, *Entity, *Entity) {
		e := newSpaceEnv(t, func(_ *env, c *WorldConfig) { c.ClientCoordinateLimit = limit })
		zone := e.create("Zone", nil)
		a := e.mover("a")
		e.bind(a, 1, 10)
		e.enter(a, zone, 0, 0)
		e.out.take()
		return e, zone, a
	}
	for _, far := range []Vector3{{X: 1001}, {X: -1001}, {Y: 1001}, {Z: -1001}, {X: 3e38}} {
		e, zone, a := setUp(1000)
		at := Vector3{X: 1000, Y: -1000, Z: 1000}
		send(e, a, zone, at)
		if a.Position() != at {
			t.Fatalf("at the limit: at %v, want %v", a.Position(), at)
		}
		if ks := kicks(t, e.out.take()); len(ks) != 0 {
			t.Fatalf("at the limit: kicked %v", ks)
		}
		send(e, a, zone, far)
		ks := kicks(t, e.out.take())
		if a.Position() != at || len(ks) != 1 {
			t.Fatalf("%v: at %v, kicks %v; want it not applied and one kick", far, a.Position(), ks)
		}
		if want := "beyond ±1000 (max_client_coordinate)"; !strings.Contains(ks[0].reason, want) || len(ks[0].reason) > 200 {
			t.Fatalf("kick reason %q, want it to contain %q", ks[0].reason, want)
		}
		e.eng.Run(func() { a.SetPosition(far) })
		if a.Position() != far {
			t.Fatalf("a server move to %v: at %v", far, a.Position())
		}
	}
	e, zone, a := setUp(-1) // unlimited
	send(e, a, zone, Vector3{X: 3e38})
	if ks := kicks(t, e.out.take()); len(ks) != 0 || a.Position().X != 3e38 {
		t.Fatalf("unlimited: at %v, kicks %v", a.Position(), ks)
	}
	e, zone, a = setUp(0) // the default
	send(e, a, zone, Vector3{X: DefaultClientCoordinateLimit})
	send(e, a, zone, Vector3{X: 2 * DefaultClientCoordinateLimit})
	if ks := kicks(t, e.out.take()); len(ks) != 1 || a.Position().X != DefaultClientCoordinateLimit {
		t.Fatalf("the default: at %v, kicks %v", a.Position(), ks)
	}
}

// TestSyncDeferredCounts: Engine.SyncDeferred sums what the position
// syncs of the world's spaces left for later over a client's budget, and
// counts nothing once everything went.
func TestSyncDeferredCounts(t *testing.T) {
	e := newSpaceEnv(t, withSyncLimit(1))
	zone := e.create("Zone", nil)
	a := e.mover("a")
	e.bind(a, 1, 10)
	e.enter(a, zone, 0, 0)
	for i := range 3 {
		e.enter(e.mover("m"), zone, float32(i+1), 0)
	}
	// One create a sync: 2, 1 and 0 creates left after each, so the sums
	// 2, 3, 3 and 3.
	var got []SyncDeferred
	for range 4 {
		e.eng.Run(func() {
			e.eng.SyncPositions()
			got = append(got, e.eng.SyncDeferred())
		})
	}
	want := []SyncDeferred{{Creates: 2}, {Creates: 3}, {Creates: 3}, {Creates: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("SyncDeferred after each sync: %+v, want %+v", got, want)
	}
}
