package gate_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/testcert"
	"github.com/goworld-engine/goworld/rpc"
)

// TestWebSocketClientsChatWithTCPClients: WebSocket, TCP and KCP players
// share a room; what each says reaches all three.
func TestWebSocketClientsChatWithTCPClients(t *testing.T) {
	c, _ := start(t, cluster.Options{WebSocket: true, KCP: true})
	ws := dialPlayer(t, c.GateWSURL(0))
	tcp := dialPlayer(t, c.GateAddr(0))
	kcp, err := client.Dial(c.GateAddr(0), client.Options{KCP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kcp.Close() })
	for {
		if ev, ok := next(t, kcp).(client.EntityCreated); ok && ev.IsPlayer {
			break
		}
	}
	all := []*client.Client{tcp, kcp, ws}
	for _, cl := range all {
		cl.CallPlayer("Join", "mixed")
		expect(t, cl, "OnJoined")
	}
	for i, from := range all {
		msg := strings.Repeat("m", 1+i*20000) // WebSocket's, the longest, spans many reads
		from.CallPlayer("Say", msg)
		for _, to := range all {
			if got := expect(t, to, "OnSay"); got[0] != msg {
				t.Fatalf("sender %d: got %d bytes, want %d", i, len(got[0].(string)), len(msg))
			}
		}
	}
	if n := c.Gates[0].NumClients(); n != 3 {
		t.Fatalf("gate has %d clients, want 3", n)
	}
	ws.Close()
	for deadline := time.Now().Add(5 * time.Second); c.Gates[0].NumClients() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the WebSocket client closed the gate has %d clients, want 2", c.Gates[0].NumClients())
		}
	}
}

// rawWS is a WebSocket client that speaks frames by hand.
type rawWS struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRawWS(t *testing.T, url string, header http.Header) *rawWS {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial %s: %v (HTTP %s)", url, err, resp.Status)
		}
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	// Every client's first frame: the hello with the protocol version.
	if err := ws.WriteMessage(websocket.BinaryMessage, helloFrame()); err != nil {
		t.Fatal(err)
	}
	return &rawWS{t: t, ws: ws}
}

// send sends each part as one binary message.
func (r *rawWS) send(parts ...[]byte) {
	r.t.Helper()
	for _, p := range parts {
		if err := r.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
			r.t.Fatal(err)
		}
	}
}

// frames reads binary messages and splits them into frames until the
// connection ends, which it reports with the close error (nil: no close
// message, a plain EOF).
func (r *rawWS) frames(fn func(t rpc.MsgType, body []byte) bool) (closeErr *websocket.CloseError) {
	r.t.Helper()
	r.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var stream []byte
	for {
		mt, msg, err := r.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				r.t.Fatal("the gate neither sent what was expected nor closed the connection")
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
				return ce
			}
			return nil
		}
		if mt != websocket.BinaryMessage {
			r.t.Fatalf("the gate sent message type %d", mt)
		}
		stream = append(stream, msg...)
		for len(stream) >= rpc.HeaderSize {
			n := int(binary.LittleEndian.Uint32(stream)) + 4
			if len(stream) < n {
				break
			}
			typ := rpc.MsgType(binary.LittleEndian.Uint16(stream[4:]))
			if !fn(typ, stream[rpc.HeaderSize:n]) {
				return nil
			}
			stream = stream[n:]
		}
	}
}

// player waits for the boot entity and returns its ID.
func (r *rawWS) player() rpc.EntityID {
	r.t.Helper()
	var id rpc.EntityID
	r.frames(func(t rpc.MsgType, body []byte) bool {
		if t == rpc.MsgCreateEntity {
			id = rpc.NewReader(body).EntityID()
			return false
		}
		return true
	})
	if id == "" {
		r.t.Fatal("no boot entity")
	}
	return id
}

// kick reads until the gate closes and returns its kick reason and the
// close message's code (0: none).
func (r *rawWS) kick() (reason string, code int) {
	r.t.Helper()
	ce := r.frames(func(t rpc.MsgType, body []byte) bool {
		if t == rpc.MsgKick {
			reason = rpc.NewReader(body).String()
		}
		return true
	})
	if ce != nil {
		code = ce.Code
	}
	return reason, code
}

func callFrame(id rpc.EntityID, method string, args ...any) []byte {
	body := rpc.AppendString(rpc.AppendEntityID(nil, id), method)
	body, _ = rpc.AppendArgs(body, args)
	return rpc.AppendFrame(nil, rpc.MsgCallEntity, body)
}

// TestWebSocketMessageBoundaries: the payloads of a client's binary
// messages form one stream, however frames are split over messages or
// packed into them, and empty messages change nothing.
func TestWebSocketMessageBoundaries(t *testing.T) {
	c, _ := start(t, cluster.Options{WebSocket: true})
	r := dialRawWS(t, c.GateWSURL(0), nil)
	id := r.player()
	a, b, d := callFrame(id, "Echo", "one"), callFrame(id, "Echo", "two"), callFrame(id, "Echo", "three")
	r.send(a[:3], nil, a[3:10], a[10:]) // one frame over three messages and an empty one
	r.send(append(append([]byte{}, b...), d...))
	var got []string
	r.frames(func(t rpc.MsgType, body []byte) bool {
		if t == rpc.MsgCallClient {
			rd := rpc.NewReader(body)
			rd.EntityID()
			if rd.String() == "OnEcho" {
				args, err := rpc.DecodeAnyArgs(rd.Rest())
				if err != nil {
					r.t.Fatal(err)
				}
				got = append(got, args[0].(string))
			}
		}
		return len(got) < 3
	})
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("echoes %q", got)
	}
}

// TestWebSocketBadInput: what a WebSocket client can get wrong closes that
// client, with a reason where the protocol allows one, and the others
// chat on.
func TestWebSocketBadInput(t *testing.T) {
	c, l := start(t, cluster.Options{WebSocket: true})
	url := c.GateWSURL(0)
	p := newPair(t, url)
	p.check(t)

	t.Run("text message", func(t *testing.T) {
		r := dialRawWS(t, url, nil)
		r.player()
		r.ws.WriteMessage(websocket.TextMessage, []byte(`{"hello":"json"}`))
		reason, code := r.kick()
		if !strings.Contains(reason, "text message") {
			t.Fatalf("kick reason %q", reason)
		}
		if code != websocket.CloseNormalClosure {
			t.Fatalf("close code %d, want %d", code, websocket.CloseNormalClosure)
		}
		p.check(t)
	})

	t.Run("4 GiB length header", func(t *testing.T) {
		r := dialRawWS(t, url, nil)
		r.send([]byte{0xff, 0xff, 0xff, 0xff, byte(rpc.MsgCallEntity), 0})
		if reason, _ := r.kick(); !strings.Contains(reason, "frame too large") {
			t.Fatalf("kick reason %q", reason)
		}
		l.wait(t, "frame too large", "client disconnected on error")
		p.check(t)
	})

	t.Run("unknown message type", func(t *testing.T) {
		bad := dialPlayer(t, url)
		bad.SendRaw(4242, []byte("hello"))
		if r := expectKick(t, bad); !strings.Contains(r, "unexpected message type 4242") {
			t.Fatalf("kick reason %q", r)
		}
		p.check(t)
	})

	t.Run("another player's entity", func(t *testing.T) {
		bad := dialPlayer(t, url)
		victim, _ := p.b.Player()
		bad.Call(victim.ID, "Echo", "pwned")
		if r := expectKick(t, bad); !strings.Contains(r, "not this client's") {
			t.Fatalf("kick reason %q", r)
		}
		p.check(t)
	})

	t.Run("a close in the middle of a frame", func(t *testing.T) {
		r := dialRawWS(t, url, nil)
		id := r.player()
		f := callFrame(id, "Echo", "half")
		r.send(f[:len(f)/2])
		r.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		r.kick() // the gate closes it; nothing is delivered half
		p.check(t)
	})

	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http" + strings.TrimPrefix(url, "ws"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "WebSocket only") {
			t.Fatalf("HTTP %s: %q", resp.Status, body)
		}
		p.check(t)
	})

	t.Run("not HTTP at all", func(t *testing.T) {
		nc, err := net.Dial("tcp", c.Gates[0].WSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("\x00\x01\x02 definitely not a request\r\n\r\n"))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("the gate did not close the connection: %v", err)
		}
		if !strings.HasPrefix(string(reply), "HTTP/1.1 400") {
			t.Fatalf("reply %q", reply)
		}
		p.check(t)
	})

	t.Run("a request that never ends", func(t *testing.T) {
		// Sends half a request line and stops: the handshake timeout
		// (10s) closes it; meanwhile nobody else waits.
		nc, err := net.Dial("tcp", c.Gates[0].WSAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("GET / HT"))
		p.check(t)
	})
}

// TestWebSocketOrigins: with WSOrigins set, browsers from other origins
// are refused with 403; listed origins and programs (no Origin header)
// get in.
func TestWebSocketOrigins(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	g := startGate(t, c, gate.Config{WSOrigins: []string{"https://play.example"}})
	url := "ws://" + g.WSAddr().String() + "/"

	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another origin: err %v, response %v", err, resp)
	}
	dialRawWS(t, url, http.Header{"Origin": {"HTTPS://play.example"}}).player()
	dialPlayer(t, url) // the Go client sends no Origin
}

// TestWebSocketTLS: with a certificate the port serves wss://; a client
// that trusts it chats, a plain ws:// client is refused.
func TestWebSocketTLS(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	certFile, keyFile, pool := selfSignedCert(t)
	g := startGate(t, c, gate.Config{WSTLSCertFile: certFile, WSTLSKeyFile: keyFile})
	addr := g.WSAddr().String()

	cl, err := client.Dial("wss://"+addr+"/", client.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		if ev, ok := next(t, cl).(client.EntityCreated); ok && ev.IsPlayer {
			break
		}
	}
	cl.CallPlayer("Echo", "over TLS")
	if got := expect(t, cl, "OnEcho"); got[0] != "over TLS" {
		t.Fatalf("OnEcho %v", got)
	}
	if _, err := client.Dial("wss://"+addr+"/", client.Options{}); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
	if _, err := client.Dial("ws://"+addr+"/", client.Options{DialTimeout: 5 * time.Second}); err == nil {
		t.Fatal("a plain ws:// client connected to the TLS port")
	}
}

// TestWebSocketConfigErrors: a bad certificate or a taken port is an
// error from New that says what is wrong.
func TestWebSocketConfigErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		cfg  gate.Config
		want string
	}{
		{gate.Config{WSAddr: "127.0.0.1:0", WSTLSCertFile: "/nonexistent/cert.pem", WSTLSKeyFile: "/nonexistent/key.pem"}, "WebSocket TLS certificate"},
		{gate.Config{WSAddr: taken.Addr().String()}, "address already in use"},
	} {
		cfg := tc.cfg
		cfg.ID, cfg.ListenAddr, cfg.Dispatchers, cfg.Logger = 9, "127.0.0.1:0", []string{"127.0.0.1:1"}, quietLogger()
		g, err := gate.New(cfg)
		if err == nil {
			g.Close()
			t.Fatalf("%+v: no error", tc.cfg)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("error %q, want it to mention %q", err, tc.want)
		}
	}
}

// startGate starts one more gate (ID 2) with WebSocket on c's dispatcher,
// with cfg's WebSocket settings.
func startGate(t *testing.T, c *cluster.Cluster, cfg gate.Config) *gate.Gate {
	t.Helper()
	cfg.ID, cfg.ListenAddr, cfg.WSAddr, cfg.Logger = 2, "127.0.0.1:0", "127.0.0.1:0", quietLogger()
	cfg.Dispatchers = []string{c.Dispatchers[0].Addr().String()}
	g, err := gate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; g.Close() })
	select {
	case <-g.Ready():
	case err := <-done:
		t.Fatalf("gate stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gate not ready after 10s")
	}
	return g
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to files
// and returns their paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestWebSocketHeartbeatTimeout: a WebSocket client that sends nothing is
// kicked at the heartbeat timeout with the reason; WebSocket pings do not
// count as heartbeats.
func TestWebSocketHeartbeatTimeout(t *testing.T) {
	c, _ := start(t, cluster.Options{WebSocket: true, HeartbeatTimeout: 300 * time.Millisecond})
	began := time.Now() // before the gate's timer starts
	r := dialRawWS(t, c.GateWSURL(0), nil)
	r.player()
	stop := make(chan struct{})
	pinged := make(chan struct{})
	go func() { // pings, faster than the timeout, until the kick
		defer close(pinged)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if r.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) != nil {
					return
				}
			case <-stop:
				return
			}
		}
	}()
	reason, code := r.kick()
	close(stop)
	<-pinged
	if reason != "heartbeat timeout: nothing received for too long" || code != websocket.CloseNormalClosure {
		t.Fatalf("kick %q, close code %d", reason, code)
	}
	if el := time.Since(began); el < 300*time.Millisecond {
		t.Fatalf("kicked after %v, before the 300ms timeout", el)
	}
}
