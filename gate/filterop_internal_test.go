package gate

import (
	"io"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// broadcastBody encodes a MsgFilteredBroadcast carrying a MsgCallClient frame.
func broadcastBody(op rpc.FilterOp, key, val string) []byte {
	b := rpc.AppendUint8(nil, uint8(op))
	b = rpc.AppendString(rpc.AppendString(b, key), val)
	b = rpc.AppendUint16(b, uint16(rpc.MsgCallClient))
	b = append(b, make([]byte, rpc.EntityIDLength)...)
	return append(rpc.AppendString(b, "OnChat"), 0x90)
}

// testGate is a gate with no dispatcher, for its client table alone.
func testGate(t testing.TB) *Gate {
	log := logrus.New()
	log.SetOutput(io.Discard)
	g, err := New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Dispatchers: []string{"127.0.0.1:1"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		setClients(g, "", nil) // these have no connection to close
		g.Close()
	})
	return g
}

// setClients replaces the gate's clients with one per value, each with
// property key = value (none for an empty value), through the index.
func setClients(g *Gate, key string, vals []string) []*client {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.clients {
		g.unindexLocked(c)
	}
	clear(g.clients)
	cs := make([]*client, len(vals))
	for i, v := range vals {
		c := &client{id: rpc.ClientID(i + 1)}
		g.clients[c.id] = c
		g.setPropLocked(c, key, v)
		cs[i] = c
	}
	return cs
}

func recipients(g *Gate, op rpc.FilterOp, key, val string) map[*client]int {
	got := map[*client]int{}
	g.mu.RLock()
	g.eachRecipientLocked(op, key, val, func(c *client) { got[c]++ })
	g.mu.RUnlock()
	return got
}

// TestBroadcastOperators: which clients each operator reaches at the gate,
// on properties that are numbers and on words.
func TestBroadcastOperators(t *testing.T) {
	g := testGate(t)
	cs := setClients(g, "level", []string{"3", "9", "10", "", "10.0", "12"})
	names := func(got map[*client]int) string {
		var s []string
		for i, c := range cs {
			if got[c] > 1 {
				t.Errorf("client %d reached %d times", i, got[c])
			}
			if got[c] > 0 {
				s = append(s, []string{"3", "9", "10", "none", "10.0", "12"}[i])
			}
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		op   rpc.FilterOp
		val  string
		want string
	}{
		{rpc.FilterEq, "10", "10"}, // bytes: "10.0" is not "10"
		{rpc.FilterNe, "10", "3 9 none 10.0 12"},
		{rpc.FilterLt, "10", "3 9"}, // numbers: 9 < 10, though "9" > "10" as strings
		{rpc.FilterLe, "10", "3 9 10 10.0"},
		{rpc.FilterGt, "10", "12"},
		{rpc.FilterGe, "10", "10 10.0 12"},
		{rpc.FilterAll, "", "3 9 10 none 10.0 12"},
		{rpc.FilterLt, "a", "3 9 10 10.0 12"}, // strings: digits sort before letters
		{rpc.FilterOp(7), "10", ""},
	} {
		if got := names(recipients(g, tc.op, "level", tc.val)); got != tc.want {
			t.Errorf("level %v %q reaches [%s], want [%s]", tc.op, tc.val, got, tc.want)
		}
	}
	// Through the decoder: an unknown op or an over-long value is dropped
	// (no client has a connection here: one sent to would panic).
	for _, body := range [][]byte{
		broadcastBody(rpc.FilterOp(9), "level", "10"),
		broadcastBody(rpc.FilterLt, "level", strings.Repeat("9", rpc.MaxFilterPropLen+1)),
		broadcastBody(rpc.FilterGe, strings.Repeat("k", rpc.MaxFilterPropLen+1), "1"),
	} {
		if err := g.handleDispatcher(&rpc.Batch{}, rpc.MsgFilteredBroadcast, body); err != nil {
			t.Errorf("dropped broadcast: %v", err)
		}
	}
	if err := g.handleDispatcher(&rpc.Batch{}, rpc.MsgFilteredBroadcast, []byte{3, 5, 0}); err == nil {
		t.Error("a truncated broadcast is not an error")
	}
	setClients(g, "level", nil)
}

// FuzzFilteredBroadcast decodes MsgFilteredBroadcast bodies and checks the
// recipients of each against the others' and the properties: == is the
// index, != its complement, < and >= split the clients with the
// property between them, and so do <= and >, == lies in both <= and >=,
// each client is reached at most once. The property values come from the
// fuzzer too (comma-separated, up to 16 clients).
func FuzzFilteredBroadcast(f *testing.F) {
	f.Add(broadcastBody(rpc.FilterLt, "k", "10"), "3,9,10,,10.0,12,a")
	f.Add(broadcastBody(rpc.FilterGe, "k", "b"), "a,b,c,1e3,-1")
	f.Add(broadcastBody(rpc.FilterNe, "k", ""), ",,x")
	f.Add(broadcastBody(rpc.FilterEq, "k", "x"), "x,x,y")
	f.Add(broadcastBody(rpc.FilterOp(200), "k", "x"), "x")
	f.Add([]byte{4, 1, 0}, "1")
	g := testGate(f)
	f.Fuzz(func(t *testing.T, body []byte, props string) {
		op, key, val, frame, err := decodeBroadcast(body)
		if err != nil {
			if !strings.Contains(err.Error(), "malformed FilteredBroadcast") {
				t.Fatalf("error: %v", err)
			}
			return
		}
		if len(frame) < 2 {
			t.Fatalf("decoded a frame of %d bytes", len(frame))
		}
		vals := strings.Split(props, ",")
		if len(vals) > 16 {
			vals = vals[:16]
		}
		for i, v := range vals {
			if len(v) > rpc.MaxFilterPropLen {
				vals[i] = v[:rpc.MaxFilterPropLen]
			}
		}
		cs := setClients(g, key, vals)
		by := map[rpc.FilterOp]map[*client]int{}
		for o := rpc.FilterEq; o <= rpc.FilterGe; o++ {
			by[o] = recipients(g, o, key, val)
			for c, n := range by[o] {
				if n != 1 {
					t.Fatalf("%v: a client reached %d times", o, n)
				}
				if _, has := c.props[key]; !has && o != rpc.FilterNe && o != rpc.FilterAll {
					t.Fatalf("%v reached a client without the property", o)
				}
			}
		}
		got := recipients(g, op, key, val)
		if !op.Valid() && len(got) != 0 || op.Valid() && len(got) != len(by[op]) {
			t.Fatalf("op %v: %d recipients", op, len(got))
		}
		for _, c := range cs {
			v, has := c.props[key]
			in := func(o rpc.FilterOp) bool { return by[o][c] == 1 }
			if in(rpc.FilterEq) != (has && v == val) || in(rpc.FilterNe) == in(rpc.FilterEq) || !in(rpc.FilterAll) {
				t.Fatalf("%q (has %v) vs %q: == %v, != %v, all %v", v, has, val, in(rpc.FilterEq), in(rpc.FilterNe), in(rpc.FilterAll))
			}
			if has && (in(rpc.FilterLt) == in(rpc.FilterGe) || in(rpc.FilterLe) == in(rpc.FilterGt) ||
				in(rpc.FilterLt) && !in(rpc.FilterLe) || in(rpc.FilterGt) && !in(rpc.FilterGe) ||
				in(rpc.FilterEq) && !(in(rpc.FilterLe) && in(rpc.FilterGe))) {
				t.Fatalf("%q vs %q: < %v, <= %v, > %v, >= %v, == %v", v, val,
					in(rpc.FilterLt), in(rpc.FilterLe), in(rpc.FilterGt), in(rpc.FilterGe), in(rpc.FilterEq))
			}
		}
		// The whole path, to no clients (none has a connection here).
		setClients(g, key, nil)
		if err := g.handleDispatcher(&rpc.Batch{}, rpc.MsgFilteredBroadcast, body); err != nil {
			t.Fatalf("handleDispatcher: %v", err)
		}
	})
}
