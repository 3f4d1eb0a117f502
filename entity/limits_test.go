package entity

import (
	"errors"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Method names at the bound: rpc.MaxMethodNameLen (256) bytes is the
// longest a client may call (gates refuse longer), so registration
// accepts exactly that and refuses one byte more.
type longNameOK struct{ Entity }

func (e *longNameOK) DescribeEntityType(d *TypeDesc) {
	d.ExposeToClient("Maaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
}
func (e *longNameOK) Maaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa() {
}

type longNameBad struct{ Entity }

func (e *longNameBad) Mbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb() {
}

// A helper with a result is no RPC target, so its length does not matter.
type longHelper struct{ Entity }

func (e *longHelper) Mbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb() int {
	return 0
}

func TestRegisterMethodNameBound(t *testing.T) {
	if len("Maaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") != rpc.MaxMethodNameLen {
		t.Fatal("test names out of date")
	}
	r := NewRegistry()
	if err := r.Register("OK", &longNameOK{}); err != nil {
		t.Fatalf("a %d-byte method name refused: %v", rpc.MaxMethodNameLen, err)
	}
	err := r.Register("Bad", &longNameBad{})
	if !errors.Is(err, ErrRegister) || !strings.Contains(err.Error(), "name of 257 bytes") || len(err.Error()) > 300 {
		t.Fatalf("a 257-byte method name: %v", err)
	}
	if err := r.Register("Helper", &longHelper{}); err != nil {
		t.Fatalf("a long helper: %v", err)
	}
	name := "T" + strings.Repeat("x", rpc.MaxMethodNameLen)
	if err := r.Register(name, &longHelper{}); err == nil || !strings.Contains(err.Error(), "type names are at most 256") {
		t.Fatalf("a 257-byte type name: %v", err)
	}
}

// TestHugeMethodNameRefusedWithShortKick: the crash of issue 13 at the
// unit level. A client's call with a 65,500-byte method name (a valid
// identifier, which a gate of an older version forwarded) used to panic
// in rpc.AppendString while the world built the kick reason. Now the
// reason quotes a bounded part, the kick is sent, and a flood of such
// calls logs a bounded number of lines.
func TestHugeMethodNameRefusedWithShortKick(t *testing.T) {
	e := newEnv(t)
	acc := e.connect(1, 100)
	e.out.take()
	huge := "M" + strings.Repeat("a", 65500-1)
	for i := 0; i < 100; i++ {
		e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 1, 100, huge))
	}
	ks := kicks(t, e.out.take())
	if len(ks) != 100 {
		t.Fatalf("%d kicks, want 100", len(ks))
	}
	for _, k := range ks {
		if len(k.reason) > 400 || !strings.Contains(k.reason, "call Account.\"Maaaa") || !strings.Contains(k.reason, "(65500 bytes)") {
			t.Fatalf("kick reason of %d bytes: %.300q", len(k.reason), k.reason)
		}
	}
	var refused, summaries int
	for _, en := range e.logs.AllEntries() {
		if len(en.Message) > 1000 {
			t.Fatalf("a log line of %d bytes", len(en.Message))
		}
		switch {
		case strings.HasPrefix(en.Message, "refused client call"):
			refused++
		case strings.Contains(en.Message, `"refused client call" lines`):
			summaries++
		}
	}
	if refused != logBurst {
		t.Errorf("%d refused-call lines for 100 refusals, want %d (rate-limited)", refused, logBurst)
	}
	e.w.lines.Close() // writes the summary now
	for _, en := range e.logs.AllEntries() {
		if strings.Contains(en.Message, `and 95 more "refused client call" lines`) {
			summaries++
		}
	}
	if summaries != 1 {
		t.Errorf("%d summaries of the suppressed lines, want 1", summaries)
	}
}

// TestClientStringLimit: a client's string argument over the world's
// ClientStringLimit refuses the call with a kick that says why, briefly;
// at the limit it is delivered; servers' calls are not limited.
func TestClientStringLimit(t *testing.T) {
	e := newEnv(t, func(_ *env, c *WorldConfig) { c.ClientStringLimit = 100 })
	acc := e.connect(1, 100)
	e.out.take()
	e.events()
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 1, 100, "Echo", strings.Repeat("x", 100)))
	if ev := e.eventsOf(acc.ID()); len(ev) != 1 {
		t.Fatalf("at the limit: %q", ev)
	}
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 1, 100, "Echo", strings.Repeat("x", 101)))
	ks := kicks(t, e.out.take())
	if ev := e.eventsOf(acc.ID()); len(ev) != 0 || len(ks) != 1 {
		t.Fatalf("over the limit: events %q, kicks %v", ev, ks)
	}
	if want := "101 bytes, over the limit of 100 (max_client_string)"; !strings.Contains(ks[0].reason, want) || len(ks[0].reason) > 200 {
		t.Fatalf("kick reason %q, want it to contain %q", ks[0].reason, want)
	}
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, acc.ID(), "Echo", strings.Repeat("y", 5000)))
	if ev := e.eventsOf(acc.ID()); len(ev) != 1 {
		t.Fatalf("a server's long string: %q", ev)
	}

	d := newEnv(t) // the default
	acc = d.connect(1, 100)
	d.out.take()
	d.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 1, 100, "Echo", strings.Repeat("x", DefaultClientStringLimit+1)))
	if ks := kicks(t, d.out.take()); len(ks) != 1 {
		t.Fatalf("over the default limit: kicks %v", ks)
	}
}

// TestBadIDsAndLongPropsAreErrors: game code that passes a client's
// text where an entity ID or a filter property goes gets a logged error,
// not a panic or a megabyte on the wire.
func TestBadIDsAndLongPropsAreErrors(t *testing.T) {
	e := newEnv(t)
	acc := e.connect(1, 100)
	e.out.take()
	bad := rpc.EntityID(strings.Repeat("z", 70000))
	e.eng.Run(func() {
		acc.Call(bad, "Echo", "x")
		acc.GiveClientTo("short")
		acc.SetClientFilterProp("room", strings.Repeat("r", rpc.MaxFilterPropLen+1))
		acc.SetClientFilterProp("room", strings.Repeat("r", rpc.MaxFilterPropLen)) // at the bound: set
		e.w.CallFilteredClients("room", strings.Repeat("r", rpc.MaxFilterPropLen+1), "Hi")
	})
	if e.logged(logrus.ErrorLevel, "panic") {
		t.Fatal("a panic was logged")
	}
	if !acc.HasClient() {
		t.Fatal("GiveClientTo an invalid ID dropped the client")
	}
	var props, broadcasts int
	for _, f := range e.out.take() {
		switch f.typ {
		case rpc.MsgSetClientFilterProp:
			props++
		case rpc.MsgFilteredBroadcast, rpc.MsgCallEntityMethod:
			broadcasts++
		}
	}
	if props != 1 || broadcasts != 0 {
		t.Fatalf("%d filter properties sent (want the one at the bound), %d calls or broadcasts (want none)", props, broadcasts)
	}
	for _, want := range []string{"not a valid entity ID; call dropped", "not a valid entity ID; the client stays", "at most 256 bytes; not set", "at most 256 bytes; dropped"} {
		if !e.logged(logrus.ErrorLevel, want) {
			t.Errorf("no error logged containing %q", want)
		}
	}
	for _, en := range e.logs.AllEntries() {
		if len(en.Message) > 1000 {
			t.Fatalf("a log line of %d bytes", len(en.Message))
		}
	}
}
