package gate_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
)

// helloFrame is the MsgClientHello frame of this protocol version, the
// first frame every client sends.
func helloFrame() []byte {
	return helloOf(rpc.ProtocolVersion)
}

func helloOf(version uint16) []byte {
	return rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendClientHello(nil, version))
}

// numEntities counts the entities of a game, read on its loop.
func numEntities(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	n := make(chan int, 1)
	c.Games[0].Post(func() { n <- c.Games[0].World().NumEntities() })
	select {
	case v := <-n:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the game loop did not run a posted function within 10s")
	}
	return 0
}

// TestProtocolVersion: on every transport (TCP, TLS, KCP, WebSocket), a
// client whose first frame is a ClientHello of the gate's version gets
// its boot entity; one of another version, one whose first frame is
// anything else, and one with a malformed hello are kicked with a reason
// that says what to do, before any entity exists for them (the game's
// entity count is unchanged, the gate counts the refusals by version);
// the real Go client, on each transport, gets in.
func TestProtocolVersion(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	cert, key, pool := selfSignedCert(t)
	g := startGate(t, c, gate.Config{TLSCertFile: cert, TLSKeyFile: key, KCP: true})
	tlsConf := &tls.Config{RootCAs: pool}
	dialers := map[string]func() net.Conn{
		"tcp": func() net.Conn {
			nc, err := net.Dial("tcp", c.GateAddr(0))
			if err != nil {
				t.Fatal(err)
			}
			return nc
		},
		"tls": func() net.Conn {
			nc, err := tls.Dial("tcp", g.Addr().String(), tlsConf)
			if err != nil {
				t.Fatal(err)
			}
			return nc
		},
		"kcp": func() net.Conn { return rawKCP(t, g.Addr().String()) },
		"websocket": func() net.Conn {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.WSAddr().String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			return wsconn.New(ws)
		},
	}
	opts := map[string]struct {
		addr string
		o    client.Options
	}{
		"tcp":       {c.GateAddr(0), client.Options{}},
		"tls":       {g.Addr().String(), client.Options{TLS: true, TLSConfig: tlsConf}},
		"kcp":       {g.Addr().String(), client.Options{KCP: true}},
		"websocket": {"ws://" + g.WSAddr().String() + "/", client.Options{}},
	}
	wrong := rpc.ProtocolVersion + 1
	cases := []struct {
		name  string
		first []byte
		kick  string // the kick's reason begins with it; "": no kick, a boot entity
	}{
		{"another version", helloOf(wrong),
			fmt.Sprintf("unsupported protocol version %d: this gate speaks protocol version %d; update the client (docs/protocol.md, Versioning)", wrong, rpc.ProtocolVersion)},
		{"version 0", helloOf(0), "unsupported protocol version 0: this gate speaks protocol version 1"},
		{"no hello: a heartbeat first", rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil),
			fmt.Sprintf("protocol error: the first frame must be a ClientHello (type 5) with the protocol version, not type 1: this gate speaks protocol version %d; update the client", rpc.ProtocolVersion)},
		{"no hello: a call first", rpc.AppendFrame(nil, rpc.MsgCallEntity, append(rpc.AppendString(rpc.AppendEntityID(nil, rpc.NewEntityID()), "Echo"), 0x91, 0xa1, 'x')),
			"protocol error: the first frame must be a ClientHello (type 5) with the protocol version, not type 3"},
		{"a malformed hello", rpc.AppendFrame(nil, rpc.MsgClientHello, []byte{1}), "protocol error: malformed ClientHello (1 bytes)"},
		{"a hello with more after the version", rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendString(rpc.AppendClientHello(nil, rpc.ProtocolVersion), "later fields")), ""},
		{"the hello", helloFrame(), ""},
	}
	for _, transport := range []string{"tcp", "tls", "kcp", "websocket"} {
		for _, tc := range cases {
			before := numEntities(t, c)
			nc := dialers[transport]()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(tc.first); err != nil {
				t.Fatalf("%s, %s: write: %v", transport, tc.name, err)
			}
			var hdr [rpc.HeaderSize]byte
			for {
				typ, body, err := rpc.ReadFrame(nc, hdr[:], 1<<20)
				if err != nil {
					t.Fatalf("%s, %s: %v before a kick or a boot entity", transport, tc.name, err)
				}
				if typ == rpc.MsgCreateEntity {
					if tc.kick != "" {
						t.Fatalf("%s, %s: a boot entity, want the kick %q", transport, tc.name, tc.kick)
					}
					break
				}
				if typ == rpc.MsgKick {
					reason := rpc.NewReader(body).String()
					if tc.kick == "" || !strings.HasPrefix(reason, tc.kick) {
						t.Fatalf("%s, %s: kicked with %q, want %q", transport, tc.name, reason, tc.kick)
					}
					if n := numEntities(t, c); n != before {
						t.Fatalf("%s, %s: the game has %d entities after the refusal, %d before", transport, tc.name, n, before)
					}
					break
				}
			}
			nc.Close()
		}
		// The real client.
		o := opts[transport]
		cl, err := client.Dial(o.addr, o.o)
		if err != nil {
			t.Fatalf("%s: %v", transport, err)
		}
		for {
			if ev, ok := next(t, cl).(client.EntityCreated); ok && ev.IsPlayer {
				break
			}
		}
		cl.CallPlayer("Echo", "v"+transport)
		if got := expect(t, cl, "OnEcho"); got[0] != "v"+transport {
			t.Fatalf("%s: OnEcho %v", transport, got)
		}
		cl.Close()
	}
	// Refusals of a version are counted (gate 2 saw three transports',
	// two versions each).
	if got, _ := gateMetrics(t, g).Sum("goworld_gate_protocol_version_refused_total"); got != 6 {
		t.Errorf("goworld_gate_protocol_version_refused_total = %v, want 6", got)
	}
}
