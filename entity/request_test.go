package entity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Asker sends requests; its callbacks record what they got.
type Asker struct{ Entity }

func (a *Asker) DescribeEntityType(d *TypeDesc) { d.DefineAttr("n", 0) }

func (a *Asker) OnNum(n int, err error) { record(&a.Entity, "num %d %s", n, codeOf(err)) }
func (a *Asker) OnDone(err error)       { record(&a.Entity, "done %s", codeOf(err)) }

// Answerer answers them, in every way a method can.
type Answerer struct{ Entity }

func (s *Answerer) DescribeEntityType(d *TypeDesc) {
	d.ExposeToClient("Double", "Refuse", "Boom")
}

func (s *Answerer) Double(n int) (int, error) { return 2 * n, nil }
func (s *Answerer) Refuse(n int) (int, error) {
	return 0, rpc.NewError(rpc.CodeUser+1, fmt.Sprintf("refused %d", n))
}
func (s *Answerer) Plain() error         { return errors.New("plain failure") }
func (s *Answerer) Boom() (int, error)   { panic("boom") }
func (s *Answerer) Nothing()             { record(&s.Entity, "nothing ran") }
func (s *Answerer) Hidden() (int, error) { return 1, nil }

// codeOf names the code of a request's error ("ok" for none), failing
// loudly on an error of another kind.
func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	var re *rpc.ReplyError
	if !errors.As(err, &re) {
		return "NOT A ReplyError: " + err.Error()
	}
	return re.Code.String()
}

func withRequestTypes(t *testing.T) envOpt {
	return func(e *env, _ *WorldConfig) {
		mustRegister(t, e.reg, "Asker", &Asker{})
		mustRegister(t, e.reg, "Answerer", &Answerer{})
	}
}

// replyBody is a MsgRequestReply as the callee's game sends it.
func replyBody(caller rpc.EntityID, reqID uint64, result any, rerr *rpc.ReplyError) []byte {
	b := rpc.AppendUint64(rpc.AppendEntityID(nil, caller), reqID)
	if rerr != nil {
		return rpc.AppendReplyError(b, rerr.Code, rerr.Message)
	}
	v, err := rpc.AppendValue(nil, result)
	if err != nil {
		panic(err)
	}
	return rpc.AppendReplyOK(b, v)
}

// sentRequest decodes the one MsgRequestEntityMethod in frames.
func sentRequest(t *testing.T, frames []frame) (callee, caller rpc.EntityID, reqID uint64, method string) {
	t.Helper()
	var got []frame
	for _, f := range frames {
		if f.typ == rpc.MsgRequestEntityMethod {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d requests sent, want 1 (frames %v)", len(got), frames)
	}
	r := rpc.NewReader(got[0].body)
	callee, caller, reqID, method = r.EntityID(), r.EntityID(), r.Uint64(), r.String()
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return
}

// TestRequestAnswers: a request to a local entity gets, through the
// callback, exactly one answer for every way the callee can answer: a
// result, the game's own error code, a plain error, a panic, nothing, an
// unknown method, arguments that do not convert, and a reply callback is
// not callable as an RPC method.
func TestRequestAnswers(t *testing.T) {
	e := newEnv(t, withRequestTypes(t))
	a, s := e.create("Asker", nil), e.create("Answerer", nil)
	e.events()
	cases := []struct {
		method, cb string
		args       []any
		want       string
	}{
		{"Double", "OnNum", []any{21}, "num 42 ok"},
		{"Refuse", "OnNum", []any{7}, "num 0 code 1001"},
		{"Plain", "OnDone", nil, "done failed"},
		{"Boom", "OnNum", nil, "num 0 callee panicked"},
		{"Nothing", "OnDone", nil, "done ok"},
		{"Missing", "OnDone", nil, "done no such method"},
		{"Double", "OnNum", []any{"x"}, "num 0 bad arguments"},
		{"OnNum", "OnDone", []any{1, nil}, "done no such method"},
	}
	for _, c := range cases {
		var err error
		e.eng.Run(func() { err = a.Request(s.ID(), c.method, c.cb, c.args...) })
		if err != nil {
			t.Fatalf("Request %s: %v", c.method, err)
		}
		got := e.eventsOf(a.ID())
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s(%v): callbacks %q, want exactly [%q]", c.method, c.args, got, c.want)
		}
		if n := a.PendingRequests(); n != 0 {
			t.Errorf("%s: %d requests still pending after the answer", c.method, n)
		}
	}
	if !e.logged(logrus.ErrorLevel, "boom") {
		t.Error("the callee's panic was not logged")
	}
	// The game goes on: the panicking entity still answers.
	e.eng.Run(func() { a.Request(s.ID(), "Double", "OnNum", 1) })
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 2 ok" {
		t.Fatalf("after the panic: %q", got)
	}
	// Errors at once: unknown callback, bad ID.
	e.eng.Run(func() {
		if err := a.Request(s.ID(), "Double", "Nope", 1); err == nil || !strings.Contains(err.Error(), "Nope") {
			t.Errorf("unknown callback: %v", err)
		}
		if err := a.Request("bad", "Double", "OnNum", 1); err == nil {
			t.Error("invalid ID accepted")
		}
	})
	sent, timedOut, late := e.w.RequestStats()
	if sent != uint64(len(cases)+1) || timedOut != 0 || late != 0 {
		t.Fatalf("RequestStats %d %d %d, want %d 0 0", sent, timedOut, late, len(cases)+1)
	}
	var double *MethodStats
	e.eng.MethodStats(func(m *MethodStats) {
		if m.Type == "Answerer" && m.Method == "Double" {
			double = m
		}
	})
	if double == nil || double.Requests.Load() != 3 || double.Errors[ErrorIndex(rpc.CodeBadArgs)].Load() != 1 {
		t.Fatalf("Answerer.Double stats: %+v", double)
	}
}

// TestRequestRemoteAndTimeout: a request to an entity elsewhere goes out
// as MsgRequestEntityMethod; its answer, routed back, runs the callback
// once; a request not answered in time gets the timeout exactly once,
// and the answer that comes after is dropped and counted.
func TestRequestRemoteAndTimeout(t *testing.T) {
	e := newEnv(t, withRequestTypes(t))
	a := e.create("Asker", nil)
	far := rpc.NewEntityID()
	e.out.take()
	e.eng.Run(func() {
		if err := a.RequestTimeout(far, time.Second, "Double", "OnNum", 5); err != nil {
			t.Fatal(err)
		}
	})
	callee, caller, reqID, method := sentRequest(t, e.out.take())
	if callee != far || caller != a.ID() || method != "Double" {
		t.Fatalf("sent %s %s %s", callee, caller, method)
	}
	e.eng.Handle(rpc.MsgRequestReply, replyBody(a.ID(), reqID, 10, nil))
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 10 ok" {
		t.Fatalf("answer: %q", got)
	}
	// The timer is gone: nothing fires later.
	e.clock.Advance(2 * time.Second)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 0 {
		t.Fatalf("after the answer, the timeout fired too: %q", got)
	}

	// Not answered in time.
	e.eng.Run(func() { a.RequestTimeout(far, time.Second, "Double", "OnNum", 5) })
	_, _, reqID, _ = sentRequest(t, e.out.take())
	e.clock.Advance(999 * time.Millisecond)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 0 {
		t.Fatalf("timed out early: %q", got)
	}
	e.clock.Advance(2 * time.Millisecond)
	e.eng.RunTimers(e.clock.Now())
	e.clock.Advance(time.Hour)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 timeout" {
		t.Fatalf("timeout: %q, want exactly one", got)
	}
	e.eng.Handle(rpc.MsgRequestReply, replyBody(a.ID(), reqID, 10, nil))
	e.eng.Handle(rpc.MsgRequestReply, replyBody(a.ID(), reqID, 10, nil))
	if got := e.eventsOf(a.ID()); len(got) != 0 {
		t.Fatalf("late answers ran the callback: %q", got)
	}
	if _, timedOut, late := e.w.RequestStats(); timedOut != 1 || late != 2 {
		t.Fatalf("timed out %d, late %d; want 1, 2", timedOut, late)
	}
	// The dispatcher's "no such entity" answer reaches the callback.
	e.eng.Run(func() { a.Request(far, "Double", "OnNum", 5) })
	_, _, reqID, _ = sentRequest(t, e.out.take())
	e.eng.Handle(rpc.MsgRequestReply, replyBody(a.ID(), reqID, nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: "gone"}))
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 no such entity" {
		t.Fatalf("no such entity: %q", got)
	}
	// The default timeout applies without one.
	e.eng.Run(func() { a.Request(far, "Double", "OnNum", 5) })
	e.clock.Advance(DefaultRequestTimeout - time.Millisecond)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 0 {
		t.Fatalf("timed out before the default timeout: %q", got)
	}
	e.clock.Advance(2 * time.Millisecond)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 timeout" {
		t.Fatalf("default timeout: %q", got)
	}
}

// TestRequestAcrossFreeze: a pending request is frozen with its caller
// (it is one of its timers): after the restore, the answer runs the
// callback of the restored entity, once, and a second pending request
// still times out once.
func TestRequestAcrossFreeze(t *testing.T) {
	e := newEnv(t, withRequestTypes(t))
	a := e.create("Asker", nil)
	far := rpc.NewEntityID()
	e.eng.Run(func() {
		a.RequestTimeout(far, time.Minute, "Double", "OnNum", 5)
		a.RequestTimeout(far, 2*time.Minute, "Double", "OnNum", 6)
	})
	var ids []uint64
	for _, f := range e.out.take() {
		if f.typ == rpc.MsgRequestEntityMethod {
			_, _, id, _ := sentRequest(t, []frame{f})
			ids = append(ids, id)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("%d requests sent", len(ids))
	}
	fz, err := e.eng.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeFrozen(fz)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeFrozen(data)
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, withRequestTypes(t))
	if _, err := e2.eng.Restore(dec); err != nil {
		t.Fatal(err)
	}
	a2 := e2.w.Entity(a.ID())
	if a2 == nil || a2.PendingRequests() != 2 {
		t.Fatalf("restored caller %v with %d pending requests, want 2", a2, a2.PendingRequests())
	}
	e2.eng.Handle(rpc.MsgRequestReply, replyBody(a.ID(), ids[0], 99, nil))
	if got := e2.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 99 ok" {
		t.Fatalf("answer after the restore: %q", got)
	}
	e2.clock.Advance(3 * time.Minute)
	e2.eng.RunTimers(e2.clock.Now())
	if got := e2.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 timeout" {
		t.Fatalf("timeout after the restore: %q", got)
	}
}

// TestClientRequests: a client's request is answered with a MsgReply to
// that client, refused ones included (not exposed, not its entity, bad
// arguments), without disconnecting it; a one-way call to a method with
// results still runs.
func TestClientRequests(t *testing.T) {
	e := newEnv(t, withRequestTypes(t))
	s := e.create("Answerer", nil)
	e.bind(s, 1, 100)
	e.out.take()
	req := func(client rpc.ClientID, id rpc.EntityID, reqID uint32, method string, args ...any) (uint32, []byte, *rpc.ReplyError) {
		t.Helper()
		b := rpc.AppendEntityID(nil, id)
		b = rpc.AppendUint16(b, 1)
		b = rpc.AppendUint64(b, uint64(client))
		b = rpc.AppendUint32LE(b, reqID)
		b = rpc.AppendString(b, method)
		b, _ = rpc.AppendArgs(b, args)
		e.eng.Handle(rpc.MsgClientRequest, b)
		ms := clientMsgs(t, e.out.take())
		if len(ms) != 1 || ms[0].typ != rpc.MsgReply || ms[0].client != client {
			t.Fatalf("%s: client frames %+v, want one reply", method, ms)
		}
		r := rpc.NewReader(ms[0].body)
		got := r.Uint32()
		res, rerr, err := rpc.DecodeReply(r.Rest())
		if err != nil {
			t.Fatal(err)
		}
		return got, res, rerr
	}
	id, res, rerr := req(100, s.ID(), 77, "Double", 4)
	if v, _, _ := rpc.DecodeAny(res); id != 77 || rerr != nil || v != int64(8) {
		t.Fatalf("Double: id %d, %v, %v", id, v, rerr)
	}
	for _, c := range []struct {
		client rpc.ClientID
		method string
		args   []any
		code   rpc.ErrorCode
	}{
		{100, "Hidden", nil, rpc.CodeNoMethod},
		{200, "Double", []any{1}, rpc.CodeNoMethod},
		{100, "Double", []any{"x"}, rpc.CodeBadArgs},
		{100, "Refuse", []any{3}, rpc.CodeUser + 1},
		{100, "Boom", nil, rpc.CodePanicked},
	} {
		if _, _, rerr := req(c.client, s.ID(), 1, c.method, c.args...); rerr == nil || rerr.Code != c.code {
			t.Errorf("%s from client %d: %v, want code %v", c.method, c.client, rerr, c.code)
		}
	}
	if _, _, rerr := req(100, rpc.NewEntityID(), 2, "Double", 1); rerr == nil || rerr.Code != rpc.CodeNoEntity {
		t.Errorf("unknown entity: %v", rerr)
	}
	if k := kicks(t, e.out.take()); len(k) != 0 {
		t.Fatalf("refused requests kicked the client: %+v", k)
	}
	// A one-way call to a method with results runs; nothing answers.
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, s.ID(), 1, 100, "Double", 2))
	if ms := clientMsgs(t, e.out.take()); len(ms) != 0 {
		t.Fatalf("a one-way call was answered: %+v", ms)
	}
}

// TestSlowCall: a method that holds the loop longer than slow_call is
// logged with its type, entity and method.
func TestSlowCall(t *testing.T) {
	e := newEnv(t, withRequestTypes(t), func(_ *env, c *WorldConfig) { c.SlowCall = time.Nanosecond })
	s := e.create("Answerer", nil)
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, s.ID(), "Nothing"))
	found := false
	for _, en := range e.logs.AllEntries() {
		if strings.Contains(en.Message, "slow call") && strings.Contains(en.Message, "Answerer.Nothing") && en.Data["entity"] == s.String() {
			found = true
		}
	}
	if !found {
		t.Fatal("no slow call warning naming Answerer.Nothing and the entity")
	}
}

// TestRequestIsNotATimer: a pending request is not one of the entity's
// timers for game code: not counted, not cancellable.
func TestRequestIsNotATimer(t *testing.T) {
	e := newEnv(t, withRequestTypes(t))
	a := e.create("Asker", nil)
	e.eng.Run(func() { a.Request(rpc.NewEntityID(), "Double", "OnNum", 1) })
	if a.TimerCount() != 0 || a.PendingRequests() != 1 {
		t.Fatalf("TimerCount %d, PendingRequests %d", a.TimerCount(), a.PendingRequests())
	}
	for id := TimerID(0); id < 5; id++ {
		if a.CancelTimer(id) {
			t.Fatalf("CancelTimer(%d) cancelled the request", id)
		}
	}
	e.clock.Advance(DefaultRequestTimeout + time.Second)
	e.eng.RunTimers(e.clock.Now())
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 timeout" {
		t.Fatalf("timeout: %q", got)
	}
}
