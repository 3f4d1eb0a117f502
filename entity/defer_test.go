package entity

import (
	"errors"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// Deferrer puts its answers off and gives them later.
type Deferrer struct{ Entity }

func (d *Deferrer) DescribeEntityType(desc *TypeDesc) {
	desc.DefineAttr("pending", 0)
	desc.ExposeToClient("Later")
}

// Later defers its answer (keeping it in an attribute) and returns what
// must be discarded.
func (d *Deferrer) Later() (int, error) {
	p, ok := d.DeferReply()
	if !ok {
		record(&d.Entity, "not a request")
		return 0, nil
	}
	d.Attrs.Set("pending", string(p))
	return -1, errors.New("discarded")
}

// Finish answers the pending request with n, or fails it if n < 0.
func (d *Deferrer) Finish(n int) {
	p := PendingReply(d.Attrs.GetString("pending"))
	var err error
	if n < 0 {
		err = rpc.NewError(rpc.CodeUser+2, "failed later")
	}
	if aerr := d.World().Answer(p, n, err); aerr != nil {
		record(&d.Entity, "answer: %v", aerr)
	}
}

// DeferThenBoom defers, then panics.
func (d *Deferrer) DeferThenBoom() (int, error) {
	d.DeferReply()
	panic("boom after deferring")
}

// TestDeferReply: a request's method that defers its answer answers
// nothing at once (what it returns is discarded) and the caller, an
// entity or a client, gets exactly what World.Answer gives later, from
// another method; a second answer is a late reply, dropped; a panic after
// deferring is answered at once; outside a request DeferReply does
// nothing; a PendingReply that DeferReply did not make is refused.
func TestDeferReply(t *testing.T) {
	e := newEnv(t, withRequestTypes(t), func(e *env, _ *WorldConfig) { mustRegister(t, e.reg, "Deferrer", &Deferrer{}) })
	a, d := e.create("Asker", nil), e.create("Deferrer", nil)
	e.events()

	// From an entity: the result, then the game's own error code.
	for _, c := range []struct {
		n    int
		want string
	}{{4, "num 4 ok"}, {-1, "num 0 code 1002"}} {
		e.w.Run(func() { a.Request(d.ID(), "Later", "OnNum") })
		if got := e.eventsOf(a.ID()); len(got) != 0 || a.PendingRequests() != 1 {
			t.Fatalf("deferred: callbacks %q and %d pending at once, want none and 1", got, a.PendingRequests())
		}
		e.w.Run(func() { d.Call(d.ID(), "Finish", c.n) })
		if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != c.want {
			t.Fatalf("answered %d: callbacks %q, want [%q]", c.n, got, c.want)
		}
	}
	// A second answer to the same request is late: dropped, counted.
	e.w.Run(func() { d.Call(d.ID(), "Finish", 5) })
	if got := e.eventsOf(a.ID()); len(got) != 0 {
		t.Fatalf("a second answer ran callbacks %q", got)
	}
	if _, _, late := e.w.RequestStats(); late != 1 {
		t.Fatalf("%d late replies, want 1", late)
	}
	// A panic after deferring is answered at once.
	e.w.Run(func() { a.Request(d.ID(), "DeferThenBoom", "OnNum") })
	if got := e.eventsOf(a.ID()); len(got) != 1 || got[0] != "num 0 callee panicked" {
		t.Fatalf("panic after deferring: callbacks %q", got)
	}
	// Outside a request, DeferReply says so and defers nothing.
	e.w.Run(func() { d.Call(d.ID(), "Later") })
	if got := e.eventsOf(d.ID()); len(got) != 1 || got[0] != "not a request" {
		t.Fatalf("a one-way call to Later: %q", got)
	}

	// From a client: no frame at once, then one reply with its ID.
	e.bind(d, 1, 100)
	e.out.take()
	b := rpc.AppendUint64(rpc.AppendUint16(rpc.AppendEntityID(nil, d.ID()), 1), 100)
	b = rpc.AppendString(rpc.AppendUint32LE(b, 77), "Later")
	b, _ = rpc.AppendArgs(b, nil)
	e.w.Handle(rpc.MsgClientRequest, b)
	if ms := clientMsgs(t, e.out.take()); len(ms) != 0 {
		t.Fatalf("a deferred client request was answered at once: %+v", ms)
	}
	e.w.Run(func() { d.Call(d.ID(), "Finish", 9) })
	ms := clientMsgs(t, e.out.take())
	if len(ms) != 1 || ms[0].typ != rpc.MsgReply || ms[0].client != 100 {
		t.Fatalf("client frames %+v, want one reply", ms)
	}
	r := rpc.NewReader(ms[0].body)
	id := r.Uint32()
	res, rerr, err := rpc.DecodeReply(r.Rest())
	if v, _, _ := rpc.DecodeAny(res); err != nil || id != 77 || rerr != nil || v != int64(9) {
		t.Fatalf("client reply: id %d, %v, %v, %v", id, v, rerr, err)
	}

	// Not a PendingReply: refused, nothing sent.
	for _, p := range []PendingReply{"", "x", "AAAA", PendingReply(make([]byte, 100))} {
		if err := e.w.Answer(p, 1, nil); err == nil {
			t.Errorf("Answer(%q) accepted", p)
		}
	}
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("bad answers sent %v", f)
	}
}

// FuzzPendingReply: decoding any string as a PendingReply never panics,
// and what decodes encodes back to the same string.
func FuzzPendingReply(f *testing.F) {
	f.Add(string(encodePending(&replyTo{caller: rpc.NewEntityID(), id: 3})))
	f.Add(string(encodePending(&replyTo{client: &ClientRef{Gate: 2, ID: 9}, id: 77})))
	f.Add("")
	f.Add("ZQ")
	f.Fuzz(func(t *testing.T, s string) {
		to, err := decodePending(PendingReply(s))
		if err != nil {
			return
		}
		if back := encodePending(to); string(back) != s {
			t.Fatalf("%q decodes to %+v, which encodes to %q", s, to, back)
		}
	})
}
