package gate_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// A gate with a certificate on its TCP port serves TLS clients as it
// serves plain ones (calls, kicks), refuses clients that do not speak TLS
// (closing them, serving the others), and a client that does not trust
// the certificate fails to dial with a clear error.
func TestTLSClients(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	cert, key, pool := selfSignedCert(t)
	g := startGate(t, c, gate.Config{TLSCertFile: cert, TLSKeyFile: key, GateTuning: config.GateTuning{ClientMsgRate: 50, ClientMsgBurst: 100}})
	addr := g.Addr().String()
	opts := client.Options{TLS: true, TLSConfig: &tls.Config{RootCAs: pool}}

	a, err := client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for {
		if ev, ok := next(t, a).(client.EntityCreated); ok && ev.IsPlayer {
			break
		}
	}
	a.CallPlayer("Echo", "over TLS")
	if got := expect(t, a, "OnEcho"); got[0] != "over TLS" {
		t.Fatalf("OnEcho %v", got)
	}

	// A plain client on the TLS port is closed; a still chats.
	plain, err := client.Dial(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SendRaw(rpc.MsgHeartbeat, nil) // what it says first is no ClientHello
	for {
		ev := next(t, plain)
		if _, ok := ev.(client.Disconnected); ok {
			break
		}
		if e, ok := ev.(client.EntityCreated); ok {
			t.Fatalf("a plain client got an entity from a TLS port: %#v", e)
		}
	}
	a.CallPlayer("Echo", "still here")
	if got := expect(t, a, "OnEcho"); got[0] != "still here" {
		t.Fatalf("OnEcho %v", got)
	}

	// Not trusting the certificate is an error at Dial.
	if x, err := client.Dial(addr, client.Options{TLS: true}); err == nil {
		x.Close()
		t.Fatal("Dial trusted a self-signed certificate")
	} else if !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}

	// A kick reaches a TLS client (the close lingers after close_notify).
	flood, err := client.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	for i := 0; i < 1000; i++ {
		flood.SendRaw(rpc.MsgHeartbeat, nil)
	}
	if r := expectKick(t, flood); r != "rate limit: more than 50 messages per second" {
		t.Fatalf("kick reason %q", r)
	}

	if _, err := client.Dial(addr, client.Options{TLS: true, KCP: true}); err == nil || !strings.Contains(err.Error(), "KCP") {
		t.Fatalf("TLS with KCP: %v", err)
	}
}

// A certificate that cannot be loaded is an error from New.
func TestTLSCertificateError(t *testing.T) {
	g, err := gate.New(gate.Config{ID: 9, ListenAddr: "127.0.0.1:0", Dispatchers: []string{"127.0.0.1:1"}, Logger: quietLogger(),
		TLSCertFile: "/nonexistent/cert.pem", TLSKeyFile: "/nonexistent/key.pem"})
	if err == nil {
		g.Close()
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("error %q", err)
	}
}

// TestTLSHandshakeIsBounded: a connection to a TLS port that never
// completes its handshake is closed after TLSHandshakeTimeout, where it
// used to hold its slot (and a boot entity) for the heartbeat timeout.
func TestTLSHandshakeIsBounded(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	cert, key, _ := selfSignedCert(t)
	g := startGate(t, c, gate.Config{TLSCertFile: cert, TLSKeyFile: key, TLSHandshakeTimeout: 300 * time.Millisecond})
	nc, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	began := time.Now()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("a client silent during the TLS handshake was not closed within 10s")
		}
	}
	// Closed by the handshake's bound, not the heartbeat timeout (30s).
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("closed after %v", took)
	}
	for deadline := time.Now().Add(5 * time.Second); g.NumClients() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients left after the close", g.NumClients())
		}
	}
}
