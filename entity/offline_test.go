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
	e.w.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "first"))
	e.w.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "second"))
	e.store.flush(e.w)
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
	e.w.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.w.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "queued"))
	// An offline call that finds it loading waits with the calls.
	e.w.Handle(rpc.MsgCallOffline, offlineFrame(t, id, "Avatar", "Note", "offline while loading"))
	e.store.flush(e.w)
	want := []string{"OnCreated", "Note(first)", "Note(second)", "Note(queued)", "Note(offline while loading)"}
	if got := e.eventsOf(id); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if m := e.store.mail[storeKey("Avatar", string(id))]; len(m) != 0 {
		t.Fatalf("%d messages left after the load", len(m))
	}
	// A notice to the live entity takes an empty mailbox: nothing runs.
	e.w.Handle(rpc.MsgCallEntityMethod, rpc.AppendString(rpc.AppendEntityID(nil, id), methodMail))
	e.store.flush(e.w)
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
	e.w.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"))
	e.store.flush(e.w)
	want := []string{"OnCreated", "Note(ok)"}
	if got := e.eventsOf(id); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !e.logged(logrus.ErrorLevel, "malformed offline call") {
		t.Fatal("the malformed messages were not logged")
	}
}
