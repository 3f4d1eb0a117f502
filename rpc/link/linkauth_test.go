package link

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

var (
	secretA = []byte("cluster A's secret, 32 bytes....")
	secretB = []byte("cluster B's secret, 32 bytes....")
)

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
func impostor(t *testing.T, answer func(c *rpc.Conn, h rpc.Hello)) (addr string, conns chan rpc.Hello) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = make(chan rpc.Hello, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := rpc.NewConn(nc, rpc.ConnConfig{})
			nc.SetReadDeadline(time.Now().Add(linkWait))
			if typ, body, err := c.ReadFrame(); err == nil && typ == rpc.MsgHello {
				if h, err := rpc.DecodeHello(body); err == nil {
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
func startAuthLink(t *testing.T, addr string, secret []byte) (chan bool, *rpc.LinkAuthStats, *logHook) {
	t.Helper()
	connected := make(chan bool, 4)
	stats := &rpc.LinkAuthStats{}
	hook := &logHook{}
	log := logrus.New()
	log.SetOutput(nopWriter{})
	log.AddHook(hook)
	l := New(Config{
		Addr: addr, Role: rpc.RoleGate, ID: 7, Secret: secret, AuthStats: stats, Logger: log,
		OnConnect: func(*rpc.Conn, bool) { connected <- true },
		Handler:   func(rpc.MsgType, []byte) error { return nil },
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
		answer func(c *rpc.Conn, h rpc.Hello)
		log    string
	}{
		{"ack without a challenge (no secret, or an old dispatcher)", func(c *rpc.Conn, h rpc.Hello) {
			c.Send(rpc.MsgHelloAck, rpc.AppendUint64(rpc.AppendUint16(nil, 1), 42))
		}, "without authentication"},
		{"another secret", func(c *rpc.Conn, h rpc.Hello) {
			ch := rpc.Challenge{DispatcherID: 1, Instance: 42, Nonce: rpc.NewNonce()}
			c.Send(rpc.MsgAuthChallenge, rpc.AppendChallenge(nil, ch))
			if typ, _, err := c.ReadFrame(); err != nil || typ != rpc.MsgAuthProof {
				return
			}
			p := rpc.DispatcherProof(secretB, h, ch)
			c.Send(rpc.MsgHelloAck, append(rpc.AppendUint64(rpc.AppendUint16(nil, 1), 42), p[:]...))
		}, "failed to prove"},
		{"the peer's own proof reflected", func(c *rpc.Conn, h rpc.Hello) {
			ch := rpc.Challenge{DispatcherID: 1, Instance: 42, Nonce: rpc.NewNonce()}
			c.Send(rpc.MsgAuthChallenge, rpc.AppendChallenge(nil, ch))
			typ, proof, err := c.ReadFrame()
			if err != nil || typ != rpc.MsgAuthProof {
				return
			}
			c.Send(rpc.MsgHelloAck, append(rpc.AppendUint64(rpc.AppendUint16(nil, 1), 42), proof...))
		}, "failed to prove"},
		{"a bad challenge", func(c *rpc.Conn, h rpc.Hello) {
			c.Send(rpc.MsgAuthChallenge, []byte("short"))
		}, "auth challenge of 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := impostor(t, tc.answer)
			connected, stats, log := startAuthLink(t, addr, secretA)
			for range 2 { // it redials
				if h := await(t, conns, "hello"); h.Auth != rpc.AuthV1 {
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
	addr, conns := impostor(t, func(c *rpc.Conn, h rpc.Hello) {
		c.Send(rpc.MsgHelloRefused, rpc.AppendRefusal(nil, rpc.RefusedNoAuth, "requires link authentication\x1b[31m"))
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
