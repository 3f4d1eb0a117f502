package gate_test

import (
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// rawCall sends MsgCallEntity with any method name (the client package
// refuses the bad ones itself).
func rawCall(t *testing.T, c *client.Client, method string, args ...any) {
	t.Helper()
	me, _ := c.Player()
	body := rpc.AppendString(rpc.AppendEntityID(nil, me.ID), method)
	body, err := rpc.AppendArgs(body, args)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendRaw(rpc.MsgCallEntity, body); err != nil {
		t.Fatal(err)
	}
}

// maxKickReason is what the regression tests of issue 13 accept as a
// "short" kick reason.
const maxKickReason = 300

// TestOverLongStringsAreKickedAndOthersChatOn is issue 13's first bug
// through a real cluster (real sockets, the real client): a client that
// calls its own entity with a 65,500-byte method name that is a valid
// identifier used to crash the game (the refusal's reason overflowed a
// string field); a 65,000-byte name that is not an identifier made the
// gate panic. Now each is a protocol error at the gate with a short
// reason, a 64 KiB argument string is refused by the game with a short
// reason (also one sent as a msgpack bin for the string parameter, which
// passed unbounded until the sweep of 7 December), and two players chat
// before and after each.
func TestOverLongStringsAreKickedAndOthersChatOn(t *testing.T) {
	c, l := start(t, cluster.Options{ClientStringLimit: entity.DefaultClientStringLimit})
	addr := c.GateAddr(0)
	p := newPair(t, addr)
	p.check(t)

	for _, tc := range []struct {
		name string
		send func(*client.Client)
		want string
	}{
		{"65,500-byte identifier", func(cl *client.Client) { rawCall(t, cl, "M"+strings.Repeat("a", 65499)) },
			"protocol error: method name of 65500 bytes, over the limit of 256"},
		{"65,000-byte non-identifier", func(cl *client.Client) { rawCall(t, cl, strings.Repeat("-", 65000)) },
			"protocol error: method name of 65000 bytes, over the limit of 256"},
		{"257-byte identifier", func(cl *client.Client) { rawCall(t, cl, "M"+strings.Repeat("b", 256)) },
			"method name of 257 bytes, over the limit of 256"},
		{"short non-identifier with control bytes", func(cl *client.Client) { rawCall(t, cl, "a\nb\x00"+strings.Repeat("c", 200)) },
			`protocol error: method name "a\nb\x00cccc`},
		{"64 KiB argument string", func(cl *client.Client) { cl.CallPlayer("Echo", strings.Repeat("x", 65000)) },
			"call Player.Echo refused: Player.Echo: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes, over the limit of 4096 (max_client_string)"},
		{"64 KiB argument string sent as binary", func(cl *client.Client) { rawCall(t, cl, "Echo", []byte(strings.Repeat("y", 65000))) },
			"call Player.Echo refused: Player.Echo: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes, over the limit of 4096 (max_client_string)"},
		{"64 KiB room name", func(cl *client.Client) { cl.CallPlayer("Join", strings.Repeat("r", 65000)) },
			"call Player.Join refused: Player.Join: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes"},
		{"SyncPosition with a zero entity ID", func(cl *client.Client) {
			cl.SendRaw(rpc.MsgSyncPosition, make([]byte, 2*rpc.EntityIDLength+rpc.PositionSize))
		},
			"protocol error: SyncPosition without an entity ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialPlayer(t, addr)
			tc.send(bad)
			r := expectKick(t, bad)
			if !strings.Contains(r, tc.want) || len(r) > maxKickReason || strings.Contains(r, "<nil>") {
				t.Fatalf("kick reason (%d bytes) %.400q, want a short one containing %q", len(r), r, tc.want)
			}
			p.check(t)
		})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if len(e) > 2000 {
			t.Fatalf("a log line of %d bytes: %.300q", len(e), e)
		}
	}
}
