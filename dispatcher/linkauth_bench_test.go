package dispatcher_test

import (
	"net"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// BenchmarkLinkConnect measures what a game or gate pays to join a real
// dispatcher on loopback: dial, hello, (with auth: challenge, proof,) ack,
// then close. plain is a dispatcher without a secret; auth one with a
// secret, which adds a round trip and four HMAC-SHA256s (two per side).
func BenchmarkLinkConnect(b *testing.B) {
	for _, tc := range []struct {
		name   string
		secret []byte
	}{{"plain", nil}, {"auth", testSecret}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startDispatcher(b, dispatcher.Config{Secret: tc.secret})
			var hdr [rpc.HeaderSize]byte
			b.ReportAllocs()
			for i := range b.N {
				nc, err := net.Dial("tcp", s.addr)
				if err != nil {
					b.Fatal(err)
				}
				nc.SetDeadline(time.Now().Add(waitLimit))
				h := rpc.Hello{Role: rpc.RoleGate, ID: uint16(1 + i%60000)}
				if tc.secret != nil {
					h.Auth, h.Nonce = rpc.AuthV1, rpc.NewNonce()
				}
				if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgHello, rpc.AppendHello(nil, h))); err != nil {
					b.Fatal(err)
				}
				typ, body, err := rpc.ReadFrame(nc, hdr[:], 1<<10)
				if tc.secret != nil {
					ch, err := rpc.DecodeChallenge(body)
					if err != nil || typ != rpc.MsgAuthChallenge {
						b.Fatalf("%v %v", typ, err)
					}
					proof := rpc.PeerProof(tc.secret, h, ch)
					if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgAuthProof, proof[:])); err != nil {
						b.Fatal(err)
					}
					if typ, body, err = rpc.ReadFrame(nc, hdr[:], 1<<10); err != nil || typ != rpc.MsgHelloAck ||
						!rpc.CheckProof(body[10:], rpc.DispatcherProof(tc.secret, h, ch)) {
						b.Fatalf("%v %v", typ, err)
					}
				} else if err != nil || typ != rpc.MsgHelloAck {
					b.Fatalf("%v %v", typ, err)
				}
				nc.Close()
			}
		})
	}
}

// BenchmarkLinkRoundTrip measures one call routed by a real dispatcher
// on a connection that joined with and without authentication: a game
// calls an entity of its own, the dispatcher routes the call back. After
// the hello both are the same code (rpc.Conn.Serve and the router): the
// two figures differ only by noise.
func BenchmarkLinkRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name   string
		secret []byte
	}{{"plain", nil}, {"auth", testSecret}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startDispatcher(b, dispatcher.Config{Secret: tc.secret})
			nc, err := net.Dial("tcp", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			nc.(*net.TCPConn).SetNoDelay(true)
			nc.SetDeadline(time.Now().Add(5 * time.Minute))
			var hdr [rpc.HeaderSize]byte
			h := rpc.Hello{Role: rpc.RoleGame, ID: 1}
			if tc.secret != nil {
				h.Auth, h.Nonce = rpc.AuthV1, rpc.NewNonce()
			}
			nc.Write(rpc.AppendFrame(nil, rpc.MsgHello, rpc.AppendHello(nil, h)))
			typ, body, err := rpc.ReadFrame(nc, hdr[:], 1<<10)
			if tc.secret != nil {
				ch, _ := rpc.DecodeChallenge(body)
				proof := rpc.PeerProof(tc.secret, h, ch)
				nc.Write(rpc.AppendFrame(nil, rpc.MsgAuthProof, proof[:]))
				typ, _, err = rpc.ReadFrame(nc, hdr[:], 1<<10)
			}
			if err != nil || typ != rpc.MsgHelloAck {
				b.Fatalf("%v %v", typ, err)
			}
			e := rpc.NewEntityID()
			call := rpc.AppendFrame(nil, rpc.MsgCallEntityMethod, callBody(e, "Ping", 1))
			if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := nc.Write(call); err != nil {
					b.Fatal(err)
				}
				if typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<10); err != nil || typ != rpc.MsgCallEntityMethod {
					b.Fatalf("%v %v", typ, err)
				}
			}
		})
	}
}
