package dispatcher_test

import (
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// FuzzDispatcherFrames connects to a real dispatcher as game 2 or gate 2
// (the first byte of the input chooses), says hello, and sends the rest
// of the input as the stream of frames. Whatever it holds, the
// dispatcher must not crash and must not hang: once the peer stops
// sending, the dispatcher closes the connection within seconds. And it
// must keep routing: every 128 inputs, and at the start, a gate's client
// call reaches the game that registered the entity.
//
// State may carry over from one input to the next (entities that game 2
// registered, a freeze it started), as it would with a real peer that
// reconnects; a crasher may need the inputs before it to reproduce.
func FuzzDispatcherFrames(f *testing.F) {
	s := startDispatcher(f, dispatcher.Config{})
	e := rpc.EntityID("EntityEntityEnt0")
	toClient := rpc.AppendUint16(rpc.AppendUint64(rpc.AppendUint16(nil, 2), 5), uint16(rpc.MsgCallClient))
	for _, seed := range []struct {
		asGate bool
		stream []byte
	}{
		{false, nil},
		{false, rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)),
			rpc.MsgCallEntityMethod, callBody(e, "M", 1, "x"))},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, e), 7)),
			rpc.MsgRegisterEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, e), 3))},
		{false, rpc.AppendFrame(nil, rpc.MsgCreateEntitySomewhere, createBody(e, "Avatar", map[string]any{"a": 1}))},
		{false, rpc.AppendFrame(nil, rpc.MsgLoadEntitySomewhere, loadBody(e, "Avatar"))},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)),
			rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(loadBody(e, "Avatar"), e), "OnLoaded"))},
		{false, rpc.AppendFrame(nil, rpc.MsgLoadEntityResult,
			rpc.AppendString(rpc.AppendUint8(rpc.AppendString(rpc.AppendString(rpc.AppendEntityID(rpc.AppendEntityID(nil, e), e), "Avatar"), "OnLoaded"), 1), "not found"))},
		{false, rpc.AppendFrame(nil, rpc.MsgCallOffline, offlineBody(e, "Avatar", "Mail"))},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)),
			rpc.MsgCallOffline, offlineBody(e, "Avatar", "Mail"))},
		{true, rpc.AppendFrame(nil, rpc.MsgCallOffline, offlineBody(e, "Avatar", "Forged"))},
		{false, rpc.AppendFrame(nil, rpc.MsgEnsureService, ensureBody(e, 2, "Svc"))},
		{false, rpc.AppendFrame(nil, rpc.MsgRequestOffline, requestOfflineBody(e, e, 1, "Avatar", "Mail"))},
		{true, rpc.AppendFrame(nil, rpc.MsgRequestOffline, requestOfflineBody(e, e, 1, "Avatar", "Mail"))},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)),
			rpc.MsgEnsureService, ensureBody(e, 9, "Svc"))},
		{false, rpc.AppendFrame(nil, rpc.MsgEnsureService, rpc.AppendEntityID(nil, e))},
		{true, rpc.AppendFrame(nil, rpc.MsgEnsureService, ensureBody(e, 2, "Svc"))},
		{false, rpc.AppendFrame(nil, rpc.MsgToClient, toClient)},
		{false, rpc.AppendFrame(nil, rpc.MsgKickClient, kickBody(2, 5, "bye"))},
		{false, rpc.AppendFrame(nil, rpc.MsgFilteredBroadcast, broadcastBody(rpc.FilterEq, "room", "a", rpc.MsgCallClient, []byte{1}))},
		{false, rpc.AppendFrame(nil, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, e))},
		{false, rpc.AppendFrame(nil, rpc.MsgFreezeGame, nil)},
		{false, rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgFreezeGame, nil), rpc.MsgUnfreezeGame, nil)},
		{false, rpc.AppendFrame(nil, rpc.MsgHello, helloBody(rpc.RoleGame, 2))},
		{true, nil},
		{true, rpc.AppendFrame(nil, rpc.MsgClientConnected, clientBody("", 2, 5))},
		{true, rpc.AppendFrame(nil, rpc.MsgClientCall, clientCallBody(e, 2, 5, "Echo", "hi"))},
		{true, rpc.AppendFrame(nil, rpc.MsgClientDisconnected, clientBody(e, 2, 5))},
		{true, []byte{0xff, 0xff, 0xff, 0xff, 1, 0}},
		{true, []byte{1, 0, 0, 0}},
	} {
		role := byte(0)
		if seed.asGate {
			role = 1
		}
		f.Add(append([]byte{role}, seed.stream...))
	}

	inputs := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		if inputs%128 == 0 {
			routes(t, s, inputs/128, connect)
		}
		inputs++
		role := rpc.RoleGame
		if len(data) > 0 && data[0]&1 == 1 {
			role = rpc.RoleGate
		}
		if len(data) > 0 {
			data = data[1:]
		}
		// Each input is a connection, which ends in TIME_WAIT: spread them
		// over source addresses (all of 127/8 is loopback on Linux) so that
		// a long run does not use up one address's ephemeral ports.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(1+rand.IntN(250)), byte(rand.IntN(256)), byte(1+rand.IntN(250)))}}
		if runtime.GOOS != "linux" {
			d.LocalAddr = nil
		}
		nc, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(waitLimit))
		if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgHello, helloBody(role, 2))); err != nil {
			t.Fatal(err)
		}
		var hdr [rpc.HeaderSize]byte
		if typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<10); err != nil || typ != rpc.MsgHelloAck {
			// Game 2 may still count as connected (its last connection
			// not yet cleaned up): refused, which is fine.
			return
		}
		if _, err := nc.Write(data); err != nil {
			return // the dispatcher hung up first: fine
		}
		nc.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the dispatcher did not close the connection within %v of the end of %d bytes", waitLimit, len(data))
			}
		}
	})
}

// routes checks that s still routes: a game registers an entity, and a
// client call from a gate reaches it. Each check uses a game and a gate
// ID of its own (the dispatcher notices that the previous check's peers
// left only after the next one may have connected, and tells the new
// peers: PeerGone frames are skipped, anything else is an error).
//
// dial connects a peer as the dispatcher expects: connect, or
// authConnect for a dispatcher with testSecret.
func routes(t *testing.T, s *server, check int, dial func(testing.TB, *server, rpc.Role, uint16) *peer) {
	t.Helper()
	id16 := uint16(3 + check%60000)
	g := dial(t, s, rpc.RoleGame, id16)
	defer g.close()
	gw := dial(t, s, rpc.RoleGate, id16)
	defer gw.close()
	id := rpc.NewEntityID()
	g.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, id))
	sync := callBody(id, "sync", g.name)
	g.send(t, rpc.MsgCallEntityMethod, sync)
	expectSkippingPeerGone(t, g, rpc.MsgCallEntityMethod, sync)
	call := clientCallBody(id, id16, 1, "Alive")
	gw.send(t, rpc.MsgClientCall, call)
	expectSkippingPeerGone(t, g, rpc.MsgClientCall, call)
}

func expectSkippingPeerGone(t *testing.T, p *peer, typ rpc.MsgType, body []byte) {
	t.Helper()
	for {
		fr := p.next(t)
		if fr.t == rpc.MsgPeerGone {
			continue
		}
		if fr.t != typ || string(fr.body) != string(body) {
			t.Fatalf("%s: got %v %x, want %v %x", p.name, fr.t, fr.body, typ, body)
		}
		return
	}
}

// FuzzDispatcherHello sends the input, as it is, as the first bytes of a
// connection to a real dispatcher that has a cluster secret: the hello
// and whatever follows it (a proof, frames). Whatever it holds, the
// dispatcher must not crash or hang (it closes the connection within
// seconds of the input's end), must never acknowledge it (no input can
// prove the secret against a fresh nonce), and must keep admitting
// peers that do prove it: every 64 inputs, and at the start, a game and
// a gate authenticate and a client call is routed between them.
func FuzzDispatcherHello(f *testing.F) {
	s := startDispatcher(f, dispatcher.Config{Secret: testSecret})
	h := rpc.Hello{Role: rpc.RoleGame, ID: 2, Auth: rpc.AuthV1, Nonce: rpc.NewNonce()}
	hello := rpc.AppendFrame(nil, rpc.MsgHello, rpc.AppendHello(nil, h))
	for _, seed := range [][]byte{
		nil,
		hello,
		rpc.AppendFrame(hello, rpc.MsgAuthProof, make([]byte, rpc.MACSize)),
		rpc.AppendFrame(nil, rpc.MsgHello, helloBody(rpc.RoleGate, 2)),
		rpc.AppendFrame(nil, rpc.MsgHello, append(rpc.AppendUint64(helloBody(rpc.RoleGate, 2), 0), 7)),
		rpc.AppendFrame(nil, rpc.MsgAuthProof, make([]byte, rpc.MACSize)),
		rpc.AppendFrame(rpc.AppendFrame(hello, rpc.MsgAuthProof, make([]byte, rpc.MACSize)), rpc.MsgRegisterEntity, make([]byte, 16)),
		{0xff, 0xff, 0xff, 0xff, 0xe8, 0x03},
	} {
		f.Add(seed)
	}
	inputs := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		if inputs%64 == 0 {
			routes(t, s, inputs/64, authConnect)
		}
		inputs++
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(1+rand.IntN(250)), byte(rand.IntN(256)), byte(1+rand.IntN(250)))}}
		if runtime.GOOS != "linux" {
			d.LocalAddr = nil
		}
		nc, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(waitLimit))
		if _, err := nc.Write(data); err != nil {
			return // the dispatcher hung up first: fine
		}
		nc.(*net.TCPConn).CloseWrite()
		var hdr [rpc.HeaderSize]byte
		for {
			typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<10)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("the dispatcher did not close the connection within %v of the end of %d bytes", waitLimit, len(data))
				}
				return
			}
			if typ == rpc.MsgHelloAck {
				t.Fatalf("the dispatcher acknowledged an unauthenticated input %x", data)
			}
		}
	})
}
