package rpc

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

var (
	secretA = []byte("cluster A's secret, 32 bytes....")
	secretB = []byte("cluster B's secret, 32 bytes....")
)

func TestHelloEncoding(t *testing.T) {
	plain := Hello{Role: RoleGame, ID: 513, Instance: 0x0102030405060708}
	auth := plain
	auth.Auth, auth.Nonce = AuthV1, NewNonce()
	for _, h := range []Hello{plain, auth, {Role: RoleGate, ID: 1}} {
		got, err := DecodeHello(AppendHello(nil, h))
		if err != nil || got != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, got, err)
		}
	}
	// The oldest form: role and ID only.
	if h, err := DecodeHello([]byte{byte(RoleGate), 7, 0}); err != nil || h.Role != RoleGate || h.ID != 7 || h.Auth != 0 {
		t.Fatalf("3-byte hello: %+v, %v", h, err)
	}
	full := AppendHello(nil, auth)
	for n := 0; n < len(full)+2; n++ {
		if n == 3 || n == helloPlainSize || n == helloAuthSize {
			continue
		}
		b := append(full[:n:n], make([]byte, max(0, n-len(full)))...)
		if _, err := DecodeHello(b); !errors.Is(err, ErrBadHello) {
			t.Errorf("%d-byte hello: %v, want ErrBadHello", n, err)
		}
	}
	v2 := append(AppendHello(nil, plain), 2)
	if _, err := DecodeHello(append(v2, make([]byte, NonceSize)...)); !errors.Is(err, ErrAuthVersion) {
		t.Fatalf("version 2: %v, want ErrAuthVersion", err)
	}
	if _, err := DecodeHello(v2); !errors.Is(err, ErrAuthVersion) {
		t.Fatalf("version 2 without a nonce: %v, want ErrAuthVersion", err)
	}
}

// Each proof binds the side, both nonces and both identities: changing
// any of them changes it, and a peer's proof is not a dispatcher's.
func TestProofsBindTheTranscript(t *testing.T) {
	h := Hello{Role: RoleGame, ID: 2, Instance: 5, Auth: AuthV1, Nonce: NewNonce()}
	c := Challenge{DispatcherID: 1, Instance: 9, Nonce: NewNonce()}
	p := PeerProof(secretA, h, c)
	if !CheckProof(p[:], PeerProof(secretA, h, c)) {
		t.Fatal("a proof does not check against itself")
	}
	if CheckProof(p[:], DispatcherProof(secretA, h, c)) {
		t.Fatal("a peer's proof checks as the dispatcher's")
	}
	if CheckProof(p[:], PeerProof(secretB, h, c)) {
		t.Fatal("a proof checks with another secret")
	}
	for name, f := range map[string]func(*Hello, *Challenge){
		"role": func(h *Hello, _ *Challenge) { h.Role = RoleGate }, "id": func(h *Hello, _ *Challenge) { h.ID++ },
		"instance before":  func(h *Hello, _ *Challenge) { h.Instance++ },
		"peer nonce":       func(h *Hello, _ *Challenge) { h.Nonce[31]++ },
		"dispatcher id":    func(_ *Hello, c *Challenge) { c.DispatcherID++ },
		"instance":         func(_ *Hello, c *Challenge) { c.Instance++ },
		"dispatcher nonce": func(_ *Hello, c *Challenge) { c.Nonce[0]++ },
	} {
		h2, c2 := h, c
		f(&h2, &c2)
		if CheckProof(p[:], PeerProof(secretA, h2, c2)) {
			t.Errorf("changing the %s keeps the proof valid", name)
		}
	}
	if CheckProof(p[:31], PeerProof(secretA, h, c)) || CheckProof(nil, PeerProof(secretA, h, c)) {
		t.Fatal("a short proof checks")
	}
}

func TestRefusalEncoding(t *testing.T) {
	code, reason := DecodeRefusal(AppendRefusal(nil, RefusedBadProof, "wrong cluster secret"))
	if code != RefusedBadProof || reason != "wrong cluster secret" {
		t.Fatalf("%v %q", code, reason)
	}
	// A long or hostile reason (from whatever answered on the port) is
	// cut and escaped before it reaches a log line.
	code, reason = DecodeRefusal(AppendString([]byte{99}, strings.Repeat("\x1b[2J\n", 1000)))
	if code.String() != "code_99" || len(reason) > 4*MaxRefusalReason || strings.ContainsAny(reason, "\x1b\n") {
		t.Fatalf("%v %q", code, reason)
	}
	if _, reason = DecodeRefusal([]byte{1, 200}); reason != "(unreadable reason)" {
		t.Fatalf("truncated refusal: %q", reason)
	}
	if len(AppendRefusal(nil, 1, strings.Repeat("x", 1000))) != 3+MaxRefusalReason {
		t.Fatal("AppendRefusal does not cut the reason")
	}
	if err := CheckSecret([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret accepted")
	}
	if err := CheckSecret(secretA); err != nil {
		t.Fatal(err)
	}
}

// logHook records log entries for the tests below.
type logHook struct {
	mu      sync.Mutex
	entries []string
}

func (h *logHook) Levels() []logrus.Level { return []logrus.Level{logrus.ErrorLevel} }
func (h *logHook) Fire(e *logrus.Entry) error {
	msg, _ := e.String()
	h.mu.Lock()
	h.entries = append(h.entries, msg)
	h.mu.Unlock()
	return nil
}
func (h *logHook) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

// impostor is a "dispatcher" on a real socket that answers each hello
// with answer; it counts the connections it got.
func impostor(t *testing.T, answer func(c *Conn, h Hello)) (addr string, conns chan Hello) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = make(chan Hello, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := NewConn(nc, ConnConfig{})
			nc.SetReadDeadline(time.Now().Add(linkWait))
			if typ, body, err := c.ReadFrame(); err == nil && typ == MsgHello {
				if h, err := DecodeHello(body); err == nil {
					answer(c, h)
					select {
					case conns <- h:
					default:
					}
				}
			}
			c.CloseAfterFlush(nil)
			select {
			case <-c.Done():
			case <-time.After(linkWait):
				c.Close(nil)
			}
			c.Wait()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), conns
}

// startAuthLink runs a gate link with secret to addr; it returns what
// OnConnect reports, the link's auth stats and its error log.
func startAuthLink(t *testing.T, addr string, secret []byte) (chan bool, *LinkAuthStats, *logHook) {
	t.Helper()
	connected := make(chan bool, 4)
	stats := &LinkAuthStats{}
	hook := &logHook{}
	log := logrus.New()
	log.SetOutput(nopWriter{})
	log.AddHook(hook)
	l := NewLink(LinkConfig{
		Addr: addr, Role: RoleGate, ID: 7, Secret: secret, AuthStats: stats, Logger: log,
		OnConnect: func(*Conn, bool) { connected <- true },
		Handler:   func(MsgType, []byte) error { return nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return connected, stats, hook
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// waitFor polls cond until it holds, or fails after linkWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(linkWait); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, linkWait)
		}
	}
}

// A link with a secret refuses a "dispatcher" that cannot prove it holds
// the same secret, however it answers, and keeps redialling: it never
// reports a connection, counts each refusal and logs why.
func TestLinkRefusesAnImpostor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(c *Conn, h Hello)
		log    string
	}{
		{"ack without a challenge (no secret, or an old dispatcher)", func(c *Conn, h Hello) {
			c.Send(MsgHelloAck, AppendUint64(AppendUint16(nil, 1), 42))
		}, "without authentication"},
		{"another secret", func(c *Conn, h Hello) {
			ch := Challenge{DispatcherID: 1, Instance: 42, Nonce: NewNonce()}
			c.Send(MsgAuthChallenge, AppendChallenge(nil, ch))
			if typ, _, err := c.ReadFrame(); err != nil || typ != MsgAuthProof {
				return
			}
			p := DispatcherProof(secretB, h, ch)
			c.Send(MsgHelloAck, append(AppendUint64(AppendUint16(nil, 1), 42), p[:]...))
		}, "failed to prove"},
		{"the peer's own proof reflected", func(c *Conn, h Hello) {
			ch := Challenge{DispatcherID: 1, Instance: 42, Nonce: NewNonce()}
			c.Send(MsgAuthChallenge, AppendChallenge(nil, ch))
			typ, proof, err := c.ReadFrame()
			if err != nil || typ != MsgAuthProof {
				return
			}
			c.Send(MsgHelloAck, append(AppendUint64(AppendUint16(nil, 1), 42), proof...))
		}, "failed to prove"},
		{"a bad challenge", func(c *Conn, h Hello) {
			c.Send(MsgAuthChallenge, []byte("short"))
		}, "auth challenge of 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := impostor(t, tc.answer)
			connected, stats, log := startAuthLink(t, addr, secretA)
			for range 2 { // it redials
				if h := await(t, conns, "hello"); h.Auth != AuthV1 {
					t.Fatalf("hello without auth: %+v", h)
				}
			}
			waitFor(t, "refusal counted and logged", func() bool {
				return stats.RefusedDispatcher.Load() >= 2 && log.has(tc.log)
			})
			select {
			case <-connected:
				t.Fatal("the link connected to an impostor")
			default:
			}
		})
	}
}

// A dispatcher's refusal reaches the link's log, cleaned, and is counted.
func TestLinkLogsTheDispatchersRefusal(t *testing.T) {
	addr, conns := impostor(t, func(c *Conn, h Hello) {
		c.Send(MsgHelloRefused, AppendRefusal(nil, RefusedNoAuth, "requires link authentication\x1b[31m"))
	})
	connected, stats, log := startAuthLink(t, addr, nil)
	await(t, conns, "hello")
	waitFor(t, "refusal counted and logged", func() bool {
		return stats.RefusedByDispatcher.Load() >= 1 && log.has(`dispatcher refused this process: requires link authentication\\x1b[31m (no_auth)`)
	})
	select {
	case <-connected:
		t.Fatal("connected though refused")
	default:
	}
}

// BenchmarkPeerProof is one HMAC-SHA256 of the handshake's transcript:
// each side computes two per connection.
func BenchmarkPeerProof(b *testing.B) {
	h := Hello{Role: RoleGame, ID: 2, Instance: 5, Auth: AuthV1, Nonce: NewNonce()}
	c := Challenge{DispatcherID: 1, Instance: 9, Nonce: NewNonce()}
	b.ReportAllocs()
	for range b.N {
		PeerProof(secretA, h, c)
	}
}
