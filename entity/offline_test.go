package entity

import (
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// storedAvatar puts an avatar in e's store, not live.
func storedAvatar(t *testing.T, e *env, id rpc.EntityID) {
	t.Helper()
	data, err := msgpack.Marshal(map[string]any{"name": "a"})
	if err != nil {
		t.Fatal(err)
	}
	e.store.entities[storeKey("Avatar", string(id))] = data
}

func offlineFrame(t *testing.T, id rpc.EntityID, typ, method string, args ...any) []byte {
	t.Helper()
	b, err := rpc.AppendArgs(appendMail(rpc.AppendString(rpc.AppendEntityID(nil, id), typ), method, nil), args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOfflineMailRunsBeforeQueuedCalls: an offline call for an entity
// not here is stored in its mailbox and announced (@mail to the entity);
// its load runs the stored calls in order right after OnCreated, before
// the calls that waited for the load.
func TestOfflineMailRunsBeforeQueuedCalls(t *testing.T) {
	e := newEnv(t)
	const id rpc.EntityID = "AvatarAvatarAvat"
	storedAvatar(t, e, id)
	e.eng.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "first"))
	e.eng.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "second"))
	e.store.flush(e.eng)
	if got := len(e.store.mail[storeKey("Avatar", string(id))]); got != 2 {
		t.Fatalf("%d messages stored, want 2", got)
	}
	notices := 0
	for _, f := range e.out.ofType(rpc.MsgCallEntityMethod) {
		r := rpc.NewReader(f.body)
		if r.EntityID() == id && r.String() == methodMail {
			notices++
		}
	}
	if notices != 2 {
		t.Fatalf("%d @mail notices sent, want one per stored call", notices)
	}
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "queued"))
	// An offline call that finds it loading waits with the calls.
	e.eng.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "offline while loading"))
	e.store.flush(e.eng)
	want := []string{"OnCreated", "Note(first)", "Note(second)", "Note(queued)", "Note(offline while loading)"}
	if got := e.eventsOf(id); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if m := e.store.mail[storeKey("Avatar", string(id))]; len(m) != 0 {
		t.Fatalf("%d messages left after the load", len(m))
	}
	// A notice to the live entity takes an empty mailbox: nothing runs.
	e.eng.Handle(rpc.MsgCallEntityMethod, rpc.AppendString(rpc.AppendEntityID(nil, id), methodMail))
	e.store.flush(e.eng)
	if got := e.eventsOf(id); len(got) != 0 {
		t.Fatalf("events after an empty take: %q", got)
	}
	if s, d, r := e.w.OfflineStats(); s != 2 || d != 0 || r != 2 {
		t.Fatalf("stats stored %d dropped %d run %d, want 2 0 2", s, d, r)
	}
}

// TestOfflineMailRefusesInternalMethods: a stored message naming an
// internal method, or none, is logged and dropped, and never runs.
func TestOfflineMailRefusesInternalMethods(t *testing.T) {
	for _, m := range []string{"@takeClient", "@loaded", "@mail", ""} {
		if _, _, err := decodeMail(appendMail(nil, m, nil)); err == nil {
			t.Errorf("decodeMail accepted method %q", m)
		}
	}
	e := newEnv(t)
	const id rpc.EntityID = "AvatarAvatarAvat"
	storedAvatar(t, e, id)
	okMail, err := rpc.AppendArgs(appendMail(nil, "Note", nil), []any{"ok"})
	if err != nil {
		t.Fatal(err)
	}
	e.store.mail = map[string][][]byte{storeKey("Avatar", string(id)): {
		appendMail(nil, "@takeClient", []byte{1}), {0xd9}, okMail,
	}}
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.store.flush(e.eng)
	want := []string{"OnCreated", "Note(ok)"}
	if got := e.eventsOf(id); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !e.logged(logrus.ErrorLevel, "malformed offline call") {
		t.Fatal("the malformed messages were not logged")
	}
}

// TestRequestOfflineAnswers: RequestOffline's callback hears, once, that
// the call was stored, or why not (mailbox full, no such entity), or the
// method ran on the live entity; the request travels as
// MsgRequestOffline when the entity is not here, and the storing game
// answers the caller through MsgRequestReply.
func TestRequestOfflineAnswers(t *testing.T) {
	e := newEnv(t, withRequestTypes(t), func(_ *env, c *WorldConfig) { c.MailboxLimit = 1 })
	asker := e.create("Asker", nil)
	const stored, nobody rpc.EntityID = "AvatarAvatarAvat", "NobodyNobodyNobo"
	storedAvatar(t, e, stored)

	// Not here: sent to the dispatcher.
	for _, id := range []rpc.EntityID{stored, stored, nobody} {
		if err := asker.RequestOffline("Avatar", id, "Note", "OnDone", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	var reqs [][]byte
	for _, f := range e.out.take() {
		if f.typ == rpc.MsgRequestOffline {
			reqs = append(reqs, f.body)
		}
	}
	if len(reqs) != 3 {
		t.Fatalf("%d MsgRequestOffline sent, want 3", len(reqs))
	}
	r := rpc.NewReader(reqs[0])
	if id, caller, _, typ := r.EntityID(), r.EntityID(), r.Uint64(), r.String(); id != stored || caller != asker.ID() || typ != "Avatar" {
		t.Fatalf("request for %s from %s of type %s", id, caller, typ)
	}
	// This game stores them (as the dispatcher's chosen game would): the
	// answers come back to the asker, here, as local replies.
	for _, b := range reqs {
		e.eng.Handle(rpc.MsgRequestOffline, b)
	}
	e.store.flush(e.eng)
	want := []string{"done ok", "done overloaded", "done no such entity"}
	if got := e.eventsOf(asker.ID()); !slices.Equal(got, want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
	if asker.PendingRequests() != 0 {
		t.Fatal("requests still pending")
	}
	if !e.logged(logrus.ErrorLevel, "mailbox is full") {
		t.Error("the dropped call was not logged")
	}

	// Live: the method runs and answers.
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(stored, "Avatar"))
	e.store.flush(e.eng)
	e.events()
	if err := asker.RequestOffline("Avatar", stored, "Note", "OnDone", "live"); err != nil {
		t.Fatal(err)
	}
	e.eng.Run(func() {})
	if got := e.events(); !slices.Contains(got, string(stored)+" Note(live)") || !slices.Contains(got, string(asker.ID())+" done ok") {
		t.Fatalf("events %q", got)
	}
	// Refused at once: a method the type lacks, a callback the asker lacks.
	if err := asker.RequestOffline("Avatar", stored, "Nope", "OnDone"); err == nil {
		t.Error("an unknown method was not refused")
	}
	if err := asker.RequestOffline("Avatar", stored, "Note", "Nope", "x"); err == nil {
		t.Error("an unknown callback was not refused")
	}
}
