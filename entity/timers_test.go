package entity

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// tick advances the fake clock by d and runs the timers due.
func (e *env) tick(d time.Duration) {
	e.clock.Advance(d)
	e.eng.RunTimers(e.clock.Now())
}

func TestAddCallbackFiresOnce(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	start := e.clock.Now()
	id, err := p.AddCallback(2*time.Second, "Tick", 5)
	if err != nil {
		t.Fatal(err)
	}
	if id == 0 || p.TimerCount() != 1 {
		t.Fatalf("id %d, count %d", id, p.TimerCount())
	}
	if at, ok := e.eng.NextTimer(); !ok || !at.Equal(start.Add(2*time.Second)) {
		t.Fatalf("NextTimer %v %v", at, ok)
	}
	e.tick(2*time.Second - time.Nanosecond)
	if ev := e.eventsOf(p.ID()); len(ev) != 0 {
		t.Fatalf("fired early: %v", ev)
	}
	e.tick(time.Nanosecond)
	deepEqual(t, "events at 2s", e.eventsOf(p.ID()), []string{"Tick(5)"})
	if p.TimerCount() != 0 {
		t.Errorf("TimerCount %d after firing", p.TimerCount())
	}
	if p.CancelTimer(id) {
		t.Error("CancelTimer of a fired callback reported true")
	}
	e.tick(time.Hour)
	if ev := e.eventsOf(p.ID()); len(ev) != 0 {
		t.Fatalf("fired again: %v", ev)
	}
	if _, ok := e.eng.NextTimer(); ok {
		t.Error("NextTimer with no timers")
	}
	// Timers never go through the Outbox.
	e.out.take()
	p.AddCallback(0, "Tick", 6)
	e.tick(0)
	deepEqual(t, "zero delay", e.eventsOf(p.ID()), []string{"Tick(6)"})
	if f := e.out.take(); len(f) != 0 {
		t.Errorf("timer sent %d frames", len(f))
	}
}

func TestAddTimerNoDrift(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	start := e.clock.Now()
	const iv = 100 * time.Millisecond
	id, err := p.AddTimer(iv, "Tick", 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	fired := 0
	for k := 1; k <= 200; k++ {
		// Run the timers late by a random fraction of the interval.
		due := start.Add(time.Duration(k) * iv)
		e.clock.t = due.Add(time.Duration(r.Int64N(int64(iv))))
		e.eng.RunTimers(e.clock.Now())
		fired += len(e.eventsOf(p.ID()))
		if fired != k {
			t.Fatalf("after period %d: fired %d times", k, fired)
		}
		next, ok := e.eng.NextTimer()
		if want := due.Add(iv); !ok || !next.Equal(want) {
			t.Fatalf("period %d: next fire %v, want %v (drift %v)", k, next.Sub(start), want.Sub(start), next.Sub(want))
		}
	}
	if p.TimerCount() != 1 || p.timers[id] == nil {
		t.Fatal("repeating timer lost")
	}
}

func TestAddTimerStall(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	start := e.clock.Now()
	const iv = time.Second
	if _, err := p.AddTimer(iv, "Tick", 1); err != nil {
		t.Fatal(err)
	}
	e.tick(iv)
	deepEqual(t, "first period", e.eventsOf(p.ID()), []string{"Tick(1)"})
	// The loop stalls for 10.5 periods.
	e.tick(10*iv + iv/2)
	n := len(e.eventsOf(p.ID()))
	if n == 0 {
		t.Fatal("did not fire after the stall")
	}
	if n != 1 {
		t.Fatalf("regression: a repeating timer fired %d times after a long stall, want once (RunTimers reschedules it at now, which is due in the same RunTimers); see report", n)
	}
	now := e.clock.Now()
	next, ok := e.eng.NextTimer()
	if !ok || !next.After(now) || next.After(now.Add(iv)) {
		t.Fatalf("after the stall next fire is %v, now %v", next.Sub(start), now.Sub(start))
	}
	e.clock.t = next
	e.eng.RunTimers(next)
	deepEqual(t, "next period", e.eventsOf(p.ID()), []string{"Tick(1)"})
}

func TestCancelTimer(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	a, _ := p.AddCallback(time.Second, "Tick", 1)
	b, _ := p.AddTimer(time.Second, "Tick", 2)
	c, _ := p.AddTimer(time.Second, "Tick", 3)
	if !p.CancelTimer(a) || p.CancelTimer(a) {
		t.Fatal("CancelTimer results")
	}
	if p.CancelTimer(9999) {
		t.Fatal("CancelTimer of an unknown ID")
	}
	e.tick(time.Second)
	deepEqual(t, "after 1s", e.eventsOf(p.ID()), []string{"Tick(2)", "Tick(3)"})
	if !p.CancelTimer(b) {
		t.Fatal("cancel repeating timer")
	}
	e.tick(time.Second)
	deepEqual(t, "after 2s", e.eventsOf(p.ID()), []string{"Tick(3)"})
	if p.TimerCount() != 1 {
		t.Fatalf("TimerCount %d", p.TimerCount())
	}
	p.CancelTimer(c)
	e.tick(time.Hour)
	if ev := e.eventsOf(p.ID()); len(ev) != 0 {
		t.Fatalf("cancelled timers fired: %v", ev)
	}
	if _, ok := e.eng.NextTimer(); ok {
		t.Fatal("NextTimer reports a cancelled timer")
	}
}

func TestTimerIDs(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	q := e.create("Plain", nil)
	var ids []TimerID
	for i := 0; i < 5; i++ {
		id, err := p.AddTimer(time.Second, "Tick", i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	// Cancelling does not free an ID for reuse.
	p.CancelTimer(ids[4])
	id, _ := p.AddCallback(time.Second, "Tick", 9)
	if id <= ids[4] {
		t.Fatalf("ID %d after cancelling %d", id, ids[4])
	}
	// IDs are per entity.
	qid, _ := q.AddCallback(time.Second, "Tick", 0)
	if qid != 1 {
		t.Errorf("first timer of another entity has ID %d", qid)
	}
	// A repeating timer keeps its ID across fires.
	before := p.timers[ids[0]]
	e.tick(time.Second)
	e.tick(time.Second)
	if p.timers[ids[0]] != before || before.id != ids[0] {
		t.Fatal("repeating timer changed identity")
	}
	if !p.CancelTimer(ids[0]) {
		t.Fatal("cancel by the original ID after fires")
	}
}

func TestTimerErrors(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	acc := e.create("Account", nil)
	cases := []struct {
		name   string
		ent    *Entity
		method string
		args   []any
		want   string
	}{
		{"typo", p, "Tik", []any{1}, `"Tik"`},
		{"no args", p, "Tick", nil, "got 0 arguments, want 1"},
		{"too many args", p, "Tick", []any{1, 2}, "got 2 arguments, want 1"},
		{"string for int", p, "Tick", []any{"1"}, "Tick"},
		{"float for int", p, "Tick", []any{1.5}, "Tick"},
		{"nil for int", p, "Tick", []any{nil}, "Tick"},
		{"overflow int8", p, "Args", []any{300, 1, 1.0, "", []int{}, map[string]float32{}, true}, "argument 0"},
		{"negative for uint32", p, "Args", []any{1, -1, 1.0, "", []int{}, map[string]float32{}, true}, "argument 1"},
		{"map for slice", p, "Args", []any{1, 1, 1.0, "", map[string]any{}, map[string]float32{}, true}, "argument 4"},
		{"unencodable arg", p, "Tick", []any{make(chan int)}, ""},
		{"hook", acc, "OnCreated", nil, `"OnCreated"`},
		{"engine method", p, "Destroy", nil, `"Destroy"`},
		{"helper with results", e.create("Avatar", nil), "Level", nil, `"Level"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, repeat := range []bool{false, true} {
				var err error
				if repeat {
					_, err = c.ent.AddTimer(time.Second, c.method, c.args...)
				} else {
					_, err = c.ent.AddCallback(time.Second, c.method, c.args...)
				}
				wantErrIs(t, err, ErrTimer)
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %q does not contain %q", err, c.want)
				}
				if c.ent.TimerCount() != 0 {
					t.Fatalf("a timer was added")
				}
			}
		})
	}
	for _, iv := range []time.Duration{0, -time.Second} {
		_, err := p.AddTimer(iv, "Tick", 1)
		wantErrIs(t, err, ErrTimer)
	}
	if _, ok := e.eng.NextTimer(); ok {
		t.Fatal("failed timers were scheduled")
	}
	e.eng.Run(p.Destroy)
	_, err := p.AddCallback(time.Second, "Tick", 1)
	wantErrIs(t, err, ErrTimer)
}

func TestTimersOfDestroyedEntity(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	q := e.create("Plain", nil)
	p.AddCallback(time.Second, "Tick", 1)
	p.AddTimer(time.Second, "Tick", 2)
	q.AddCallback(3*time.Second, "Tick", 3)
	e.eng.Run(p.Destroy)
	if p.TimerCount() != 0 {
		t.Errorf("destroyed entity has %d timers", p.TimerCount())
	}
	if at, ok := e.eng.NextTimer(); !ok || !at.Equal(e.clock.Now().Add(3*time.Second)) {
		t.Errorf("NextTimer %v %v, want q's timer", at, ok)
	}
	e.tick(10 * time.Second)
	deepEqual(t, "events", e.events(), []string{string(q.ID()) + " Tick(3)"})

	// An entity destroyed by its own timer: its other timers due at the
	// same moment do not fire.
	r := e.create("Plain", nil)
	r.AddCallback(time.Second, "Kill")
	r.AddCallback(time.Second, "Tick", 1)
	r.AddTimer(time.Second, "Tick", 2)
	e.tick(time.Second)
	deepEqual(t, "self-destroying", e.eventsOf(r.ID()), []string{"Kill"})
	if !r.IsDestroyed() || e.w.Entity(r.ID()) != nil {
		t.Fatal("not destroyed")
	}
	e.tick(time.Hour)
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("timers of a destroyed entity fired: %v", ev)
	}
}

func TestTimerArgsConverted(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	_, err := p.AddCallback(time.Second, "Args", 5, int64(7), 3, "s", []int{1, -2}, map[string]any{"x": 1.5, "y": 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	e.tick(time.Second)
	deepEqual(t, "events", e.eventsOf(p.ID()), []string{
		"Args(int8=5,uint32=7,float64=3,string=s,[]int16=[1 -2],map[string]float32=map[x:1.5 y:2],bool=true)"})
	// The arguments are encoded when the timer is added: changing a
	// slice afterwards does not change what the timer delivers.
	s := []int{1}
	p.AddCallback(time.Second, "Args", 0, 0, 0, "", s, map[string]any{}, false)
	s[0] = 99
	e.tick(time.Second)
	ev := e.eventsOf(p.ID())
	if len(ev) != 1 || !strings.Contains(ev[0], "[]int16=[1]") {
		t.Fatalf("events %v", ev)
	}
}

func TestNextTimer(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	if _, ok := e.eng.NextTimer(); ok {
		t.Fatal("NextTimer of an empty world")
	}
	p := e.create("Plain", nil)
	q := e.create("Plain", nil)
	p.AddCallback(3*time.Second, "Tick", 3)
	a, _ := q.AddCallback(time.Second, "Tick", 1)
	p.AddTimer(2*time.Second, "Tick", 2)
	check := func(want time.Duration, wantOK bool) {
		t.Helper()
		at, ok := e.eng.NextTimer()
		if ok != wantOK || (ok && !at.Equal(now.Add(want))) {
			t.Fatalf("NextTimer = %v, %v; want %v, %v", at.Sub(now), ok, want, wantOK)
		}
	}
	check(time.Second, true)
	q.CancelTimer(a)
	check(2*time.Second, true)
	e.eng.Run(q.Destroy)
	check(2*time.Second, true)
	e.clock.t = now.Add(2 * time.Second)
	e.eng.RunTimers(e.clock.Now())
	check(3*time.Second, true) // p's callback; its timer is next at 4s
	e.clock.t = now.Add(3 * time.Second)
	e.eng.RunTimers(e.clock.Now())
	check(4*time.Second, true)
	e.eng.Run(p.Destroy)
	check(0, false)
	deepEqual(t, "events", e.eventsOf(p.ID()), []string{"Tick(2)", "Tick(3)"})
}

func TestTimerOrder(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	// Same fire time: insertion order. Different: time order.
	p.AddCallback(2*time.Second, "Tick", 3)
	p.AddCallback(time.Second, "Tick", 1)
	p.AddCallback(time.Second, "Tick", 2)
	p.AddCallback(3*time.Second, "Tick", 4)
	e.tick(time.Hour)
	deepEqual(t, "order", e.eventsOf(p.ID()), []string{"Tick(1)", "Tick(2)", "Tick(3)", "Tick(4)"})
}

func TestTimerPanicRecovered(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	p.AddCallback(time.Second, "Boom")
	p.AddCallback(time.Second, "Tick", 1)
	p.AddTimer(time.Second, "Boom")
	p.AddCallback(2*time.Second, "Tick", 2)
	e.tick(time.Second)
	e.tick(time.Second)
	deepEqual(t, "events", e.eventsOf(p.ID()), []string{"Boom", "Tick(1)", "Boom", "Tick(2)", "Boom"})
	if !e.logged(logrus.ErrorLevel, "panic in timer Boom: boom in timer") {
		t.Fatal("panic not logged")
	}
	var withEntity bool
	for _, en := range e.logs.AllEntries() {
		if strings.Contains(en.Message, "panic in timer Boom") && en.Data["entity"] == p.String() {
			withEntity = true
		}
	}
	if !withEntity {
		t.Error("panic log does not name the entity")
	}
	if p.IsDestroyed() || p.TimerCount() != 1 {
		t.Fatalf("after panics: destroyed=%v timers=%d", p.IsDestroyed(), p.TimerCount())
	}
}

// A timer callback's local calls run before the next timer.
func TestTimerLocalCalls(t *testing.T) {
	e := newEnv(t)
	p := e.create("Plain", nil)
	p.AddCallback(time.Second, "Chain", 2)
	p.AddCallback(time.Second, "Tick", 0)
	e.tick(time.Second)
	deepEqual(t, "events", e.eventsOf(p.ID()), []string{"Chain(2)", "Chain(1)", "Chain(0)", "Tick(0)"})
}
