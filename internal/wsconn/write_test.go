package wsconn_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/nowait"
	"github.com/goworld-engine/goworld/internal/wsconn"
)

// TestTryWriteFinishedByWrite: a server Conn's TryWrite writes in place
// what the socket takes; what it leaves, the next Write finishes before
// anything else, given alone or followed by more (as rpc.Conn's writer
// does). Pings answered meanwhile go between messages, never inside one.
// The socket's send buffer is small and the messages up to 100 KB, so
// that TryWrite often stops inside a message; the peer must read the
// stream whole and in order, and every pong.
func TestTryWriteFinishedByWrite(t *testing.T) {
	if !nowait.Supported {
		t.Skip("no writes in place on this system")
	}
	p := newPair(t)
	p.server.NetConn().(*net.TCPConn).SetWriteBuffer(4096)
	conn := wsconn.NewServer(p.server)
	if !conn.WritesInPlace() {
		t.Fatal("a server Conn on a TCP socket does not write in place")
	}
	const pings = 200
	var pingsAnswered atomic.Int64
	p.server.SetPingHandler(func(data string) error {
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wait))
		pingsAnswered.Add(1)
		return err
	})
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); io.Copy(io.Discard, conn) }() // runs the ping handler
	defer func() { conn.CloseNow(); <-readerDone }()

	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([][]byte, 300)
	for i := range msgs {
		var n int
		switch rng.IntN(6) {
		case 0, 1, 2:
			n = rng.IntN(126) // a one-byte length
		case 3, 4:
			n = 126 + rng.IntN(20_000) // a 16-bit length
		default:
			n = 65536 + rng.IntN(40_000) // a 64-bit length
		}
		msgs[i] = make([]byte, n)
		for j := range msgs[i] {
			msgs[i][j] = byte(rng.Uint32())
		}
	}
	var partial atomic.Int64 // TryWrites the socket took only in part
	wrote := make(chan error, 1)
	go func() {
		conn.SetWriteDeadline(time.Now().Add(wait))
		for i := 0; i < len(msgs); i++ {
			m := msgs[i]
			n, err := conn.TryWrite(m)
			if err != nil {
				wrote <- err
				return
			}
			if n == len(m) {
				continue
			}
			partial.Add(1)
			rest := append([]byte(nil), m[n:]...)
			if i+1 < len(msgs) && i%2 == 0 { // the rest and the next message in one Write
				i++
				rest = append(rest, msgs[i]...)
			}
			if k, err := conn.Write(rest); err != nil || k != len(rest) {
				wrote <- errors.Join(err, errors.New("short write"))
				return
			}
		}
		// The last message goes once every ping has been answered: the
		// peer has read every pong when it reads it.
		deadline := time.Now().Add(wait)
		for pingsAnswered.Load() < pings && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling a counter, bounded by deadline
		}
		_, err := conn.Write([]byte("fin"))
		wrote <- err
	}()
	var pongs atomic.Int64
	p.client.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	pinged := make(chan error, 1)
	go func() {
		for range pings {
			if err := p.client.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(wait)); err != nil {
				pinged <- err
				return
			}
		}
		pinged <- nil
	}()
	// The stream is what counts (a TryWrite that took nothing leaves the
	// Write after it to send the rest and the next message as one).
	var want []byte
	for _, m := range msgs {
		want = append(want, m...)
	}
	var got []byte
	p.client.SetReadDeadline(time.Now().Add(wait))
	for len(got) < len(want) {
		mt, m, err := p.client.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("a message of type %d", mt)
		}
		got = append(got, m...)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the stream differs from what was written at byte %d of %d", i, len(want))
	}
	if _, got, err := p.client.ReadMessage(); err != nil || string(got) != "fin" {
		t.Fatalf("the last message: %q, %v", got, err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
	if got := pongs.Load(); got != pings {
		t.Fatalf("%d pongs read, want %d", got, pings)
	}
	if partial.Load() == 0 {
		t.Fatal("no TryWrite stopped inside a message: the test did not test it")
	}
	t.Logf("%d of %d TryWrites finished by Write", partial.Load(), len(msgs))
}

// TestCloseMessageWaitsForTheMessageBeingWritten: the close message goes
// after a message that TryWrite left unfinished, once Write finishes it;
// and a close message that cannot wait that long gives up with a timeout
// rather than cut into the message.
func TestCloseMessageWaitsForTheMessageBeingWritten(t *testing.T) {
	if !nowait.Supported {
		t.Skip("no writes in place on this system")
	}
	p := newPair(t)
	p.server.NetConn().(*net.TCPConn).SetWriteBuffer(4096)
	conn := wsconn.NewServer(p.server)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than the socket holds
	n, err := conn.TryWrite(big)
	if err != nil || n == len(big) {
		t.Fatalf("TryWrite of 1 MiB: %d, %v; want a part of it", n, err)
	}
	if err := conn.SendClose(10 * time.Millisecond); err == nil {
		t.Fatal("the close message was sent inside an unfinished message")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("SendClose while a message is unfinished: %v; want a timeout", err)
	}
	closed := make(chan error, 1)
	go func() {
		conn.SetWriteDeadline(time.Now().Add(wait))
		if _, err := conn.Write(big[n:]); err != nil {
			closed <- err
			return
		}
		closed <- conn.SendClose(wait)
	}()
	p.client.SetReadDeadline(time.Now().Add(wait))
	if _, got, err := p.client.ReadMessage(); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the message: %d bytes, %v; want it whole", len(got), err)
	}
	if _, _, err := p.client.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the message: %v; want the close message", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
