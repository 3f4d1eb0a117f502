package dispatcher_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

var (
	testSecret  = []byte("the cluster secret, 32 bytes....")
	otherSecret = []byte("another cluster's secret, 32 b..")
)

// authHello sends an authenticated hello as role/id with secret, answers
// the challenge, and returns the hello, the challenge and the frames it
// sent (to replay).
func (p *peer) authHello(t testing.TB, role rpc.Role, id uint16, secret []byte) (rpc.Hello, rpc.Challenge, []byte) {
	t.Helper()
	h := rpc.Hello{Role: role, ID: id, Auth: rpc.AuthV1, Nonce: rpc.NewNonce()}
	sent := rpc.AppendFrame(nil, rpc.MsgHello, rpc.AppendHello(nil, h))
	p.sendRaw(t, sent)
	ch, err := rpc.DecodeChallenge(p.expect(t, rpc.MsgAuthChallenge))
	if err != nil || ch.DispatcherID != dispatcherID || ch.Instance == 0 {
		t.Fatalf("%s: challenge %+v (%v)", p.name, ch, err)
	}
	proof := rpc.PeerProof(secret, h, ch)
	frame := rpc.AppendFrame(nil, rpc.MsgAuthProof, proof[:])
	p.sendRaw(t, frame)
	return h, ch, append(sent, frame...)
}

// authConnect connects as role/id with the right secret and checks the
// dispatcher's proof in the ack.
func authConnect(t testing.TB, s *server, role rpc.Role, id uint16) *peer {
	t.Helper()
	p := dial(t, s, role.String())
	h, ch, _ := p.authHello(t, role, id, testSecret)
	ack := p.expect(t, rpc.MsgHelloAck)
	r := rpc.NewReader(ack)
	if r.Uint16() != dispatcherID || r.Uint64() != ch.Instance || len(ack) != 10+rpc.MACSize ||
		!rpc.CheckProof(ack[10:], rpc.DispatcherProof(testSecret, h, ch)) {
		t.Fatalf("ack %x does not prove the secret", ack)
	}
	return p
}

func metricsText(t testing.TB, d *dispatcher.Dispatcher) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func expectMetric(t testing.TB, d *dispatcher.Dispatcher, line string) {
	t.Helper()
	if m := metricsText(t, d); !strings.Contains(m, line+"\n") {
		t.Fatalf("metrics lack %q:\n%s", line, m)
	}
}

// TestLinkAuth: with a secret, a peer that proves it joins and is routed
// to; a wrong secret, a hello without authentication (an older peer, or
// one without a secret), a replayed handshake, an unknown auth version
// and a wrong proof frame are each refused with a reason, logged and
// counted, and never become peers.
func TestLinkAuth(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{Secret: testSecret, HelloTimeout: 300 * time.Millisecond})
	g := authConnect(t, s, rpc.RoleGame, 1)
	gw := authConnect(t, s, rpc.RoleGate, 2)
	e := rpc.NewEntityID()
	register(t, g, e)
	call := clientCallBody(e, 2, 1, "Ping")
	gw.send(t, rpc.MsgClientCall, call)
	g.expectFrame(t, rpc.MsgClientCall, call)

	refusedLog := func(t *testing.T, want string) {
		t.Helper()
		s.logs.wait(t, "refusal logged", func(e logEntry) bool {
			return e.level == logrus.ErrorLevel && strings.Contains(e.msg, want)
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		p := dial(t, s, "wrong")
		p.authHello(t, rpc.RoleGame, 3, otherSecret)
		if r := p.expectRefused(t, rpc.RefusedBadProof); !strings.Contains(r, "wrong cluster secret") {
			t.Fatalf("reason %q", r)
		}
		refusedLog(t, "wrong cluster secret")
		expectMetric(t, s.d, `goworld_dispatcher_link_refusals_total{process="dispatcher7",reason="bad_proof"} 1`)
	})
	t.Run("old hello without auth", func(t *testing.T) {
		for _, body := range [][]byte{helloBody(rpc.RoleGate, 3), rpc.AppendUint64(helloBody(rpc.RoleGate, 3), 0)} {
			p := dial(t, s, "old")
			p.send(t, rpc.MsgHello, body)
			if r := p.expectRefused(t, rpc.RefusedNoAuth); !strings.Contains(r, "requires link authentication") {
				t.Fatalf("reason %q", r)
			}
		}
		refusedLog(t, "requires link authentication")
		expectMetric(t, s.d, `goworld_dispatcher_link_refusals_total{process="dispatcher7",reason="no_auth"} 2`)
	})
	t.Run("replayed handshake", func(t *testing.T) {
		p := dial(t, s, "recorded")
		_, _, sent := p.authHello(t, rpc.RoleGame, 4, testSecret)
		p.expect(t, rpc.MsgHelloAck)
		p.close()
		g.expectPeerGone(t, rpc.RoleGame, 4)
		gw.expectPeerGone(t, rpc.RoleGame, 4)
		// An eavesdropper replays what game 4 sent, byte for byte: the
		// dispatcher's nonce is new, so the proof is wrong.
		q := dial(t, s, "replay")
		q.sendRaw(t, sent)
		q.expect(t, rpc.MsgAuthChallenge)
		q.expectRefused(t, rpc.RefusedBadProof)
	})
	t.Run("unknown auth version", func(t *testing.T) {
		p := dial(t, s, "v9")
		body := append(rpc.AppendUint64(helloBody(rpc.RoleGame, 3), 0), 9)
		p.send(t, rpc.MsgHello, append(body, make([]byte, rpc.NonceSize)...))
		p.expectRefused(t, rpc.RefusedAuthVersion)
	})
	t.Run("not a proof", func(t *testing.T) {
		for _, f := range []frame{{rpc.MsgAuthProof, []byte("short")}, {rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)}, {rpc.MsgAuthProof, nil}} {
			p := dial(t, s, "noproof")
			h := rpc.Hello{Role: rpc.RoleGame, ID: 3, Auth: rpc.AuthV1, Nonce: rpc.NewNonce()}
			p.send(t, rpc.MsgHello, rpc.AppendHello(nil, h))
			p.expect(t, rpc.MsgAuthChallenge)
			p.send(t, f.t, f.body)
			p.expectRefused(t, rpc.RefusedBadProof)
		}
	})
	t.Run("silent after the challenge", func(t *testing.T) {
		p := dial(t, s, "silent")
		h := rpc.Hello{Role: rpc.RoleGame, ID: 3, Auth: rpc.AuthV1, Nonce: rpc.NewNonce()}
		p.send(t, rpc.MsgHello, rpc.AppendHello(nil, h))
		p.expect(t, rpc.MsgAuthChallenge)
		p.expectClosed(t)
	})
	// None of them joined: the dispatcher still has its two peers, which
	// are still served.
	expectMetric(t, s.d, `goworld_dispatcher_peers{process="dispatcher7",role="game"} 1`)
	expectMetric(t, s.d, `goworld_dispatcher_peers{process="dispatcher7",role="gate"} 1`)
	gw.send(t, rpc.MsgClientCall, call)
	g.expectFrame(t, rpc.MsgClientCall, call)
}

// TestLinkAuthNoSecret: a dispatcher without a secret refuses a peer that
// authenticates (it could not prove itself to it) and says so.
func TestLinkAuthNoSecret(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	p := dial(t, s, "authpeer")
	h := rpc.Hello{Role: rpc.RoleGate, ID: 3, Auth: rpc.AuthV1, Nonce: rpc.NewNonce()}
	p.send(t, rpc.MsgHello, rpc.AppendHello(nil, h))
	if r := p.expectRefused(t, rpc.RefusedNoSecret); !strings.Contains(r, "has none") {
		t.Fatalf("reason %q", r)
	}
	expectMetric(t, s.d, `goworld_dispatcher_link_refusals_total{process="dispatcher7",reason="no_secret"} 1`)
	connect(t, s, rpc.RoleGate, 3) // a plain hello from loopback joins
}

// TestIsLoopback: without a secret, only loopback peers are accepted (the
// tests cannot dial from another address: the rule is checked here).
func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.3.2.1"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 1}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.1"), Port: 1}, false},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1}, false},
		{&net.UnixAddr{Name: "x"}, false},
	} {
		if got := dispatcher.IsLoopback(tc.addr); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.addr, got, tc.want)
		}
	}
}
