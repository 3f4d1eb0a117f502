package entity

import (
	"errors"
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// Matcher defers its answers: Wait keeps the handle in an attribute,
// Release answers it later (a result, or an error).
type Matcher struct{ Entity }

func (m *Matcher) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("handle", 0)
	d.ExposeToClient("Wait")
}

func (m *Matcher) Wait(n int) (int, error) {
	h, err := m.DeferReply()
	if err != nil {
		return 0, err
	}
	m.Attrs.Set("handle", string(h))
	return -1, nil // not sent: deferred
}

func (m *Matcher) Release(n int, fail bool) {
	var err error
	if fail {
		err = rpc.NewError(rpc.CodeUser+7, "no match")
	}
	if rerr := m.Reply(ReplyHandle(m.Attrs.GetString("handle")), n, err); rerr != nil {
		record(&m.Entity, "Reply: %v", rerr)
	}
}

func (m *Matcher) WaitThenPanic() (int, error) {
	if _, err := m.DeferReply(); err != nil {
		return 0, err
	}
	panic("after deferring")
}

// TestDeferredReply: a method that defers sends nothing when it returns;
// the answer its entity sends later with Reply reaches the caller once;
// a handle survives as an attribute; a panic after deferring answers
// CodePanicked; DeferReply outside a request and a bad handle are errors.
func TestDeferredReply(t *testing.T) {
	e := newEnv(t, withRequestTypes(t), func(e *env, _ *WorldConfig) { mustRegister(t, e.reg, "Matcher", &Matcher{}) })
	asker := e.create("Asker", nil)
	m := e.create("Matcher", nil)
	e.eng.Run(func() {
		if err := asker.Request(m.ID(), "Wait", "OnNum", 1); err != nil {
			t.Error(err)
		}
	})
	if got := e.eventsOf(asker.ID()); len(got) != 0 {
		t.Fatalf("answered before Reply: %q", got)
	}
	if asker.PendingRequests() != 1 || m.Attrs.GetString("handle") == "" {
		t.Fatalf("pending %d, handle %q", asker.PendingRequests(), m.Attrs.GetString("handle"))
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "Release", 42, false))
	if got := e.eventsOf(asker.ID()); !slices.Equal(got, []string{"num 42 ok"}) {
		t.Fatalf("answer %q", got)
	}
	// Once: a second Reply for the handle finds no pending request.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "Release", 43, false))
	if got := e.eventsOf(asker.ID()); len(got) != 0 {
		t.Fatalf("a second answer ran the callback: %q", got)
	}
	// An error answer keeps its code.
	e.eng.Run(func() { asker.Request(m.ID(), "Wait", "OnNum", 2) })
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "Release", 0, true))
	if got := e.eventsOf(asker.ID()); !slices.Equal(got, []string{"num 0 code 1007"}) {
		t.Fatalf("error answer %q", got)
	}
	// A panic after deferring answers at once.
	e.eng.Run(func() { asker.Request(m.ID(), "WaitThenPanic", "OnNum") })
	if got := e.eventsOf(asker.ID()); !slices.Equal(got, []string{"num 0 callee panicked"}) {
		t.Fatalf("panic answer %q", got)
	}

	// A remote caller: the answer is a MsgRequestReply to its ID.
	remote := rpc.NewEntityID()
	req := rpc.AppendString(rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, m.ID()), remote), 9), "Wait")
	req, _ = rpc.AppendArgs(req, []any{1})
	e.out.take()
	e.eng.Handle(rpc.MsgRequestEntityMethod, req)
	if n := len(e.out.ofType(rpc.MsgRequestReply)); n != 0 {
		t.Fatalf("%d replies before Reply", n)
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "Release", 5, false))
	rs := e.out.ofType(rpc.MsgRequestReply)
	if len(rs) != 1 {
		t.Fatalf("%d replies after Reply", len(rs))
	}
	r := rpc.NewReader(rs[0].body)
	if id, reqID := r.EntityID(), r.Uint64(); id != remote || reqID != 9 {
		t.Fatalf("reply to %s request %d", id, reqID)
	}

	// A client's request: a MsgReply to that client, later.
	e.bind(m, 1, 10)
	e.out.take()
	creq := rpc.AppendString(rpc.AppendUint32LE(clientBody(m.ID(), 1, 10), 77), "Wait")
	creq, _ = rpc.AppendArgs(creq, []any{1})
	e.eng.Handle(rpc.MsgClientRequest, creq)
	for _, cm := range clientMsgs(t, e.out.take()) {
		if cm.typ == rpc.MsgReply {
			t.Fatal("a client's deferred request was answered at once")
		}
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, m.ID(), "Release", 6, false))
	var replies int
	for _, cm := range clientMsgs(t, e.out.take()) {
		if cm.typ == rpc.MsgReply && cm.gate == 1 && cm.client == 10 {
			replies++
		}
	}
	if replies != 1 {
		t.Fatalf("%d replies to the client, want 1", replies)
	}

	if _, err := m.DeferReply(); err == nil {
		t.Error("DeferReply outside a request did not fail")
	}
	for _, bad := range []ReplyHandle{"", "!!", "ZZZZ", ReplyHandle(make([]byte, 100))} {
		if err := m.Reply(bad, 1, nil); !errors.Is(err, errBadHandle) {
			t.Errorf("Reply(%q): %v", bad, err)
		}
	}
	if err := m.Reply(ReplyHandle(m.Attrs.GetString("handle")), make(chan int), nil); err == nil {
		t.Error("an unencodable result did not fail")
	}
}

func FuzzReplyHandle(f *testing.F) {
	f.Add(string((&replyTo{caller: "AAAAAAAAAAAAAAAA", id: 3}).handle()))
	f.Add(string((&replyTo{client: &ClientRef{Gate: 1, ID: 2}, id: 3}).handle()))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		to, err := parseHandle(ReplyHandle(s))
		if err != nil {
			return
		}
		// Any accepted handle is one the engine makes: its own handle
		// for what it names is the same string.
		if back := to.handle(); string(back) != s {
			t.Fatalf("handle %q parsed to %+v, whose handle is %q", s, to, back)
		}
	})
}
