package entity

import (
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// TestClientAddrFollowsTheClient: the address in MsgClientConnected is
// the boot entity's ClientAddr before its OnClientConnected runs; it
// travels with GiveClientTo and through a freeze; a handover from an older
// game (two arguments) gives an entity without an address; an entity
// without a client has none.
func TestClientAddrFollowsTheClient(t *testing.T) {
	e := newEnv(t)
	boot := rpc.NewEntityID()
	e.eng.Handle(rpc.MsgClientConnected, rpc.AppendString(clientBody(boot, 1, 10), "192.0.2.7:4242"))
	acc := e.w.Entity(boot)
	if acc == nil || acc.ClientAddr() != "192.0.2.7:4242" {
		t.Fatalf("boot entity's ClientAddr %q", acc.ClientAddr())
	}
	// An older gate: no address.
	old := rpc.NewEntityID()
	e.eng.Handle(rpc.MsgClientConnected, clientBody(old, 1, 11))
	if a := e.w.Entity(old); a == nil || a.ClientAddr() != "" {
		t.Fatalf("no address: %+v", a)
	}

	av := e.create("Avatar", nil)
	e.eng.Run(func() { acc.GiveClientTo(av.ID()) })
	if acc.ClientAddr() != "" || av.ClientAddr() != "192.0.2.7:4242" {
		t.Fatalf("after GiveClientTo: %q, %q", acc.ClientAddr(), av.ClientAddr())
	}

	e.store.flush(e.eng) // the avatar's first save
	f, err := e.eng.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeFrozen(f)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := DecodeFrozen(data)
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t)
	if _, err := e2.eng.Restore(f2); err != nil {
		t.Fatal(err)
	}
	if got := e2.w.Entity(av.ID()).ClientAddr(); got != "192.0.2.7:4242" {
		t.Fatalf("after a freeze: %q", got)
	}

	// A handover in the old format (gate, client).
	other := e.create("Avatar", nil)
	args, err := rpc.AppendArgs(nil, []any{uint16(1), uint64(11)})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, append(rpc.AppendString(rpc.AppendEntityID(nil, other.ID()), methodTakeClient), args...))
	if c, ok := other.Client(); !ok || c != (ClientRef{Gate: 1, ID: 11}) || other.ClientAddr() != "" {
		t.Fatalf("old handover: %v %v %q", c, ok, other.ClientAddr())
	}
	e.eng.Run(func() { av.setClient(nil) })
	if av.ClientAddr() != "" {
		t.Fatalf("no client, address %q", av.ClientAddr())
	}
}
