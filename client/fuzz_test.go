package client_test

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// FuzzClientFrames feeds arbitrary bytes to a client as its server's
// stream. Whatever they hold, the client must end with Disconnected (then
// close its events channel), without panicking, and the heartbeat
// settings it follows (announced in MsgHeartbeatAck) stay within rpc's
// bounds.
//
// An input that begins with a MsgSession frame plays a resumable
// session (the client dials with Options.Resume): the first connection
// gets that frame only and then ends, a drop; the client reconnects and
// the second connection answers its MsgResume with the rest of the
// input (MsgResumed or anything else, then the session's frames and
// acks); a third is refused. Malformed MsgSession, MsgResumed and MsgAck
// bodies, acks and resumes that count more than was sent, and the
// session frames in the wrong places must all end cleanly.
//
// An input of odd length is delivered through Options.OnEvent (the
// handler hands each event to the test's loop) rather than the Events
// channel: the same events, the same end.
func FuzzClientFrames(f *testing.F) {
	id, other := rpc.EntityID("AAAAAAAAAAAAAAAA"), rpc.EntityID("BBBBBBBBBBBBBBBB")
	frame := rpc.AppendFrame
	create := frame(nil, rpc.MsgCreateEntity, createBody(f, id, true, "Avatar",
		map[string]any{"name": "a", "bag": []any{"x", []any{1}}, "stats": map[string]any{"hp": 1}}))
	seeds := [][]byte{
		nil,
		create,
		frame(nil, rpc.MsgHeartbeatAck, nil),
		// The gate's heartbeat settings: 1s and 3s, cut short, out of
		// bounds both ways, with trailing bytes; and a goodbye.
		frame(nil, rpc.MsgHeartbeatAck, []byte{0xe8, 3, 0, 0, 0xb8, 0x0b, 0, 0}),
		frame(nil, rpc.MsgHeartbeatAck, []byte{0xe8, 3, 0, 0, 0xb8}),
		frame(frame(nil, rpc.MsgHeartbeatAck, make([]byte, 8)), rpc.MsgHeartbeatAck, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}),
		frame(frame(create, rpc.MsgHeartbeatAck, []byte{100, 0, 0, 0, 0, 0, 0, 0}), rpc.MsgBye, nil),
		frame(nil, rpc.MsgBye, []byte("trailing")),
		frame(nil, rpc.MsgKick, kickBody("bye")),
		frame(nil, rpc.MsgCallClient, callBody(f, "", "OnSay", "hi", 1)),
		frame(frame(nil, rpc.MsgCreateEntity, createBody(f, other, false, "Monster", nil)),
			rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, other)),
	}
	for _, ch := range []struct {
		op    rpc.AttrOp
		path  []any
		value any
	}{
		{rpc.AttrSet, path("stats", "hp"), 2},
		{rpc.AttrSet, path("bag", 1, 0), "y"},
		{rpc.AttrDelete, path("name"), nil},
		{rpc.AttrAppend, path("bag", 1), map[string]any{"k": []any{}}},
		{rpc.AttrPop, path("bag"), nil},
	} {
		seeds = append(seeds, frame(create, rpc.MsgAttrChange, attrBody(f, id, ch.op, ch.path, ch.value)))
	}
	seeds = append(seeds, frame(frame(create, rpc.MsgCallClient, callBody(f, id, "OnX", []any{1, "2"})),
		rpc.MsgKick, kickBody("done")))
	// Spaces: entering one, an entity created with a position, positions.
	enter := rpc.AppendPosition(rpc.AppendString(rpc.AppendEntityID(nil, other), "Arena"), rpc.Vector3{X: 1, Z: 2}, 0.5)
	withPos := rpc.AppendPosition(createBody(f, other, false, "Monster", map[string]any{"name": "m"}), rpc.Vector3{X: 3}, 0)
	positions := rpc.AppendPosition(rpc.AppendEntityID([]byte{2, 0}, other), rpc.Vector3{X: 4}, 1)
	positions = rpc.AppendPosition(rpc.AppendEntityID(positions, id), rpc.Vector3{Y: 5}, 2)
	seeds = append(seeds,
		frame(frame(frame(create, rpc.MsgEnterSpace, enter), rpc.MsgCreateEntity, withPos), rpc.MsgPositions, positions),
		frame(create, rpc.MsgPositions, positions[:20]),
		frame(create, rpc.MsgEnterSpace, enter[:10]),
	)
	// Answers to requests: a result, an error, one for no request, a
	// malformed one.
	okReply := rpc.AppendReplyOK(rpc.AppendUint32LE(nil, 1), []byte{0x92, 0x01, 0xa1, 'x'})
	seeds = append(seeds,
		frame(create, rpc.MsgReply, okReply),
		frame(create, rpc.MsgReply, rpc.AppendReplyError(rpc.AppendUint32LE(nil, 2), rpc.CodeUser, "no")),
		frame(create, rpc.MsgReply, okReply[:6]),
		frame(create, rpc.MsgReply, append(rpc.AppendReplyError(rpc.AppendUint32LE(nil, 3), rpc.CodeTimeout, "late"), 0)),
	)
	// Resumable sessions: a session, then the answer to the resume.
	var token rpc.ResumeToken
	token[0] = 7
	session := frame(nil, rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: token, Window: time.Second, Limit: 1 << 20}))
	resumed := frame(nil, rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: token}))
	seeds = append(seeds,
		frame(nil, rpc.MsgSession, nil),
		frame(nil, rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: token})[:20]),
		frame(nil, rpc.MsgAck, rpc.AppendAck(nil, 0)),
		frame(nil, rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: token})),
		session,
		append(append([]byte(nil), session...), resumed...),
		append(append(append([]byte(nil), session...), resumed...), create...),
		frame(frame(frame(append([]byte(nil), session...), rpc.MsgResumed, nil), rpc.MsgAck, nil), rpc.MsgAck, nil),
		frame(append(append([]byte(nil), session...), resumed...), rpc.MsgAck, rpc.AppendAck(nil, 0)),
		frame(append(append([]byte(nil), session...), resumed...), rpc.MsgAck, rpc.AppendAck(nil, 3)),
		frame(append(append([]byte(nil), session...), resumed...), rpc.MsgAck, []byte{1, 2, 3}),
		frame(append(append([]byte(nil), session...), resumed...), rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: token})),
		frame(append(append([]byte(nil), session...), resumed...), rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: token})),
		frame(append([]byte(nil), session...), rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: token, Received: 3})),
		frame(append([]byte(nil), session...), rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: token})[:30]),
		frame(append([]byte(nil), session...), rpc.MsgKick, kickBody("resume refused: unknown or expired session")),
		frame(append(append([]byte(nil), session...), create...), rpc.MsgBye, nil),
		frame(nil, rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: token})), // window 0
	)
	for _, s := range seeds {
		f.Add(s)
	}

	// One fake gate for the whole run. A listener per input (dialFake)
	// costs an ephemeral port for the listener as well as the client's,
	// and a few thousand inputs a second used up the range within
	// seconds ("bind: address already in use"). With one listener, the
	// client's port is the only one taken per input, and a TIME_WAIT on
	// loopback does not keep it (net.ipv4.tcp_tw_reuse, 2 by default, lets
	// a connect reuse it).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Heartbeats on (the default), so that the settings a gate
		// announces are followed.
		opts := client.Options{MaxPacketSize: 64 << 10, EventBuffer: 16}
		streams := [][]byte{data}
		if len(data) >= rpc.HeaderSize && rpc.MsgType(binary.LittleEndian.Uint16(data[4:])) == rpc.MsgSession {
			opts.Resume = true
			opts.ReconnectDelay, opts.ReconnectDelayMax, opts.ReconnectMax = time.Microsecond, time.Microsecond, 5*time.Second
			if n := 4 + int(binary.LittleEndian.Uint32(data)); n < len(data) {
				streams = [][]byte{data[:n], data[n:]}
			}
			streams = append(streams, frame(nil, rpc.MsgKick, kickBody("resume refused: fuzz")))
		}
		next, stop := fuzzEvents(t, &opts, len(data)%2 == 1)
		defer stop()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(eventTimeout))
		c, err := client.Dial(ln.Addr().String(), opts)
		if err != nil {
			t.Fatal(err)
		}
		// Serve the client's connections (inputs run one at a time: they
		// are c's), each stream once, then the last one again.
		served := make(chan struct{})
		go func() {
			defer close(served)
			var wg sync.WaitGroup
			defer wg.Wait()
			for i := 0; ; i++ {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func(stream []byte) {
					defer wg.Done()
					nc.Write(stream) // fails if the client hangs up first
					// End the stream, and read what the client sent (its
					// heartbeats) until it closes: closing with that
					// unread would reset the connection, which may lose
					// the input.
					nc.(*net.TCPConn).CloseWrite()
					nc.SetReadDeadline(time.Now().Add(eventTimeout))
					io.Copy(io.Discard, nc)
					nc.Close()
				}(streams[min(i, len(streams)-1)])
			}
		}()
		for {
			ev := next(c)
			// The view stays readable and consistent meanwhile.
			if e, ok := c.Player(); ok && !e.IsPlayer {
				t.Fatalf("Player() is not a player: %#v", e)
			}
			if iv, to := c.Heartbeat(); iv < rpc.MinHeartbeatInterval || iv > rpc.MaxHeartbeatInterval || to < 2*iv || to > 4*iv {
				t.Fatalf("Heartbeat() = %v, %v: out of bounds", iv, to)
			}
			switch ev := ev.(type) {
			case client.Reconnecting, client.Resumed:
				if !opts.Resume {
					t.Fatalf("%#v without Resume", ev)
				}
			case client.Disconnected:
				if ev.Err == nil || ev.Reason == "" || strings.Contains(ev.Reason, "panic") {
					t.Fatalf("disconnected with %#v", ev)
				}
			}
			if _, ok := ev.(client.Disconnected); ok {
				break
			}
		}
		expectClosed(t, c)
		c.Close()
		// Every connection the client made has been accepted: its
		// attempts end before Disconnected.
		ln.(*net.TCPListener).SetDeadline(time.Now())
		<-served
	})
}

// fuzzEvents returns how FuzzClientFrames reads a client's events: from
// its Events channel, or, with handler, from what the Options.OnEvent it
// sets in opts hands over. stop releases a handler still waiting (a
// failed input must not leave the reader stuck).
func fuzzEvents(t *testing.T, opts *client.Options, handler bool) (next func(*client.Client) client.Event, stop func()) {
	if !handler {
		return func(c *client.Client) client.Event { return nextEvent(t, c) }, func() {}
	}
	handed, done := make(chan client.Event, opts.EventBuffer), make(chan struct{})
	opts.OnEvent = func(ev client.Event) {
		select {
		case handed <- ev:
		case <-done:
		}
	}
	next = func(*client.Client) client.Event {
		select {
		case ev := <-handed:
			return ev
		case <-time.After(eventTimeout):
			t.Fatal("no event in time")
		}
		return nil
	}
	return next, func() { close(done) }
}
