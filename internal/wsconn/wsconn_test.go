package wsconn_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every blocking step of these tests: a hang fails them.
const wait = 10 * time.Second

// pair is one WebSocket connection over a real socket on 127.0.0.1:
// server is the side an http.Server upgraded, client the side that
// dialed. Both are closed, and the server stopped, at the end of the test.
type pair struct{ server, client *websocket.Conn }

func newPair(t *testing.T) pair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}
	upgraded := make(chan *websocket.Conn, 1)
	srv := &http.Server{
		ReadHeaderTimeout: wait,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil) // answers the request itself on failure
			if err != nil {
				return
			}
			select {
			case upgraded <- ws:
			default: // not the test's connection
				ws.Close()
			}
		}),
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-served })

	d := websocket.Dialer{HandshakeTimeout: wait, ReadBufferSize: 1024, WriteBufferSize: 1024}
	client, _, err := d.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	select {
	case server := <-upgraded:
		t.Cleanup(func() { server.Close() })
		return pair{server: server, client: client}
	case <-time.After(wait):
		t.Fatal("the server did not upgrade the connection")
		return pair{}
	}
}

// sides runs f once with the server side wrapped in a Conn and the client
// as its raw peer, and once the other way round.
func sides(t *testing.T, f func(t *testing.T, c *wsconn.Conn, peer *websocket.Conn)) {
	t.Run("server", func(t *testing.T) {
		p := newPair(t)
		f(t, wsconn.New(p.server), p.client)
	})
	t.Run("server-own-writes", func(t *testing.T) {
		p := newPair(t)
		f(t, wsconn.NewServer(p.server), p.client)
	})
	t.Run("client", func(t *testing.T) {
		p := newPair(t)
		f(t, wsconn.New(p.client), p.server)
	})
}

// sendAll sends each part as one message of type mt, failing the test on
// an error.
func sendAll(t *testing.T, ws *websocket.Conn, mt int, parts ...[]byte) {
	t.Helper()
	ws.SetWriteDeadline(time.Now().Add(wait))
	for _, p := range parts {
		if err := ws.WriteMessage(mt, p); err != nil {
			t.Fatal(err)
		}
	}
}

// checked wraps a Conn for readers such as rpc.ReadFrame and fails the
// test if a Read breaks io.Reader's rules for a stream: returns nothing
// and no error, or more than asked for.
type checked struct {
	t *testing.T
	c *wsconn.Conn
}

func (r checked) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if len(p) > 0 && n == 0 && err == nil {
		r.t.Errorf("Read(%d bytes) returned 0 bytes and no error", len(p))
	}
	if n > len(p) {
		r.t.Errorf("Read(%d bytes) returned %d", len(p), n)
	}
	return n, err
}

// TestReadAcrossMessageBoundaries: Read returns the binary messages'
// payloads as one stream, whatever the message boundaries, skipping
// empty messages, and returns what a message holds without waiting for
// more.
func TestReadAcrossMessageBoundaries(t *testing.T) {
	a := rpc.AppendFrame(nil, 7, []byte("first frame"))
	b := rpc.AppendFrame(nil, 8, nil)
	c := rpc.AppendFrame(nil, 9, bytes.Repeat([]byte{0xab}, 300))
	want := []struct {
		t    rpc.MsgType
		body string
	}{{7, "first frame"}, {8, ""}, {9, string(c[rpc.HeaderSize:])}}
	readFrames := func(t *testing.T, r io.Reader) {
		t.Helper()
		hdr := make([]byte, rpc.HeaderSize)
		for i, w := range want {
			mt, body, err := rpc.ReadFrame(r, hdr, 1<<20)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if mt != w.t || string(body) != w.body {
				t.Fatalf("frame %d: type %d, %d bytes; want type %d, %d bytes", i, mt, len(body), w.t, len(w.body))
			}
		}
	}

	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetReadDeadline(time.Now().Add(wait))
		r := checked{t, conn}

		// One frame over five messages, two of them empty, the last of
		// which also starts the next frame; then the rest of that frame.
		sendAll(t, peer, websocket.BinaryMessage, a[:1], nil, a[1:4], nil, a[4:], append(append([]byte{}, b...), c[:2]...), c[2:])
		readFrames(t, r)

		// Several frames in one message, and empty messages around it.
		sendAll(t, peer, websocket.BinaryMessage, nil, nil, append(append(append([]byte{}, a...), b...), c...), nil)
		readFrames(t, r)

		// A message larger than the reader's buffer comes in pieces of at
		// most the buffer's size, and the next message follows it.
		big := make([]byte, 200_000)
		for i := range big {
			big[i] = byte(rand.Uint32())
		}
		sendAll(t, peer, websocket.BinaryMessage, big, []byte("next"))
		var got []byte
		buf := make([]byte, 1000)
		for reads := 0; len(got) < len(big) && reads < len(big); reads++ {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(got), err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got[:min(len(got), len(big))], big) {
			t.Fatalf("the large message read back differs (%d bytes read)", len(got))
		}
		if n, err := io.ReadFull(r, buf[:4]); err != nil || string(buf[:n]) != "next" || len(got) != len(big) {
			t.Fatalf("after the large message: %q, %v (%d bytes of it read, want %d)", buf[:n], err, len(got), len(big))
		}

		// Read returns what one message holds without waiting for the
		// rest of the buffer: the peer sends nothing more, and the
		// deadline would turn a wait into a failure.
		sendAll(t, peer, websocket.BinaryMessage, []byte("abc"))
		if n, err := r.Read(make([]byte, 64)); err != nil || n != 3 {
			t.Fatalf("Read of a 3-byte message: %d bytes, %v", n, err)
		}
	})
}

// TestTextMessage: a text message reads as ErrTextMessage, a peer fault,
// and every later Read returns it again without reading further: the
// binary message that followed the text is still there for gorilla.
func TestTextMessage(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetReadDeadline(time.Now().Add(wait))
		sendAll(t, peer, websocket.BinaryMessage, []byte("ok"))
		sendAll(t, peer, websocket.TextMessage, []byte(`{"json":true}`))
		sendAll(t, peer, websocket.BinaryMessage, []byte("after"))

		buf := make([]byte, 16)
		if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "ok" {
			t.Fatalf("first Read: %q, %v", buf[:n], err)
		}
		for i := range 2000 {
			n, err := conn.Read(buf)
			if n != 0 || err != wsconn.ErrTextMessage {
				t.Fatalf("Read %d after the text message: %d bytes, %v; want ErrTextMessage", i+1, n, err)
			}
		}
		var pf rpc.PeerFault
		if !errors.As(wsconn.ErrTextMessage, &pf) || !pf.PeerFault() {
			t.Fatal("ErrTextMessage is not an rpc.PeerFault")
		}
		mt, r, err := conn.WebSocket().NextReader()
		if err != nil || mt != websocket.BinaryMessage {
			t.Fatalf("the message after the text one: type %d, %v", mt, err)
		}
		if after, err := io.ReadAll(r); err != nil || string(after) != "after" {
			t.Fatalf("the message after the text one: %q, %v", after, err)
		}
	})
}

// TestFailedReadIsKept: once a read fails, Read returns the same error
// for good and never asks gorilla again, which panics after 1000 reads of
// a failed connection.
func TestFailedReadIsKept(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetReadDeadline(time.Now().Add(wait))
		peer.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(wait))
		_, first := conn.Read(make([]byte, 16))
		if first == nil || first == io.EOF {
			t.Fatalf("Read after a close with code 4000: %v", first)
		}
		for i := range 2000 {
			n, err := conn.Read(make([]byte, 16))
			if n != 0 || err == nil || err.Error() != first.Error() {
				t.Fatalf("Read %d after the failure: %d bytes, %v; want %v", i+1, n, err, first)
			}
		}
		// The premise: gorilla itself panics on the 1000th failed read
		// (our first Read was one). If this stops panicking, gorilla
		// changed and this test's reason to exist with it.
		panicked := func() (p any) {
			defer func() { p = recover() }()
			for range 999 {
				conn.WebSocket().NextReader()
			}
			return nil
		}()
		if panicked == nil {
			t.Fatal("gorilla did not panic on repeated reads of a failed connection")
		}
	})
}

// TestPeerClose: a peer's close message with code 1000, 1001 or none
// reads as io.EOF, after the data sent before it; another code reads as
// an error that names the code and the reason.
func TestPeerClose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		eof     bool
	}{
		{"1000", websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), true},
		{"1001", websocket.FormatCloseMessage(websocket.CloseGoingAway, "tab closed"), true},
		{"no status", websocket.FormatCloseMessage(websocket.CloseNoStatusReceived, ""), true},
		{"4000", websocket.FormatCloseMessage(4000, "custom reason"), false},
		{"1011", websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "oops"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
				conn.SetReadDeadline(time.Now().Add(wait))
				sendAll(t, peer, websocket.BinaryMessage, []byte("last words"))
				if err := peer.WriteControl(websocket.CloseMessage, tc.payload, time.Now().Add(wait)); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(checked{t, conn})
				if string(got) != "last words" {
					t.Fatalf("read %q before the close, want %q", got, "last words")
				}
				_, again := conn.Read(make([]byte, 1))
				if tc.eof {
					if err != nil || again != io.EOF { // ReadAll turns io.EOF into nil
						t.Fatalf("close %s: ReadAll %v, then Read %v; want io.EOF", tc.name, err, again)
					}
					return
				}
				if err == nil || errors.Is(err, io.EOF) {
					t.Fatalf("close %s read as %v", tc.name, err)
				}
				if !strings.Contains(err.Error(), tc.name) {
					t.Fatalf("the error %q does not name the code %s", err, tc.name)
				}
				if r := string(tc.payload[2:]); !strings.Contains(err.Error(), r) {
					t.Fatalf("the error %q does not give the reason %q", err, r)
				}
			})
		})
	}
}

// TestSocketClosedWithoutCloseMessage: a socket that ends without a close
// message reads as io.EOF after the data, as a TCP stream's end does;
// between messages or in the middle of one, since message boundaries
// mean nothing in the stream (the frame layer notices a cut frame).
func TestSocketClosedWithoutCloseMessage(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetReadDeadline(time.Now().Add(wait))
		sendAll(t, peer, websocket.BinaryMessage, []byte("tail"))
		peer.NetConn().Close()
		got, err := io.ReadAll(checked{t, conn})
		if err != nil || string(got) != "tail" {
			t.Fatalf("ReadAll: %q, %v; want \"tail\" and io.EOF", got, err)
		}
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after the end: %v, want io.EOF", err)
		}
	})
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetReadDeadline(time.Now().Add(wait))
		peer.SetWriteDeadline(time.Now().Add(wait))
		w, err := peer.NextWriter(websocket.BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		// More than the write buffer: the first fragments go out, the
		// final one never does.
		sent := bytes.Repeat([]byte("0123456789"), 1000)
		if _, err := w.Write(sent); err != nil {
			t.Fatal(err)
		}
		peer.NetConn().Close()
		got, err := io.ReadAll(checked{t, conn})
		if err != nil || len(got) == 0 || !bytes.HasPrefix(sent, got) {
			t.Fatalf("a message cut short by the socket's end: %d bytes, then %v; want a prefix of it and io.EOF", len(got), err)
		}
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after the end: %v, want io.EOF", err)
		}
	})
}

// TestReadDeadline: a read deadline gives a net.Error whose Timeout is
// true, and it ends reading for good: data that comes later is not read.
func TestReadDeadline(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		start := time.Now()
		conn.SetReadDeadline(start.Add(50 * time.Millisecond))
		_, err := conn.Read(make([]byte, 16))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %v, want a timeout", err)
		}
		if d := time.Since(start); d > wait {
			t.Fatalf("the timeout came after %v", d)
		}
		conn.SetReadDeadline(time.Time{})
		sendAll(t, peer, websocket.BinaryMessage, []byte("late"))
		if n, again := conn.Read(make([]byte, 16)); n != 0 || again != err {
			t.Fatalf("Read after the timeout: %d bytes, %v; want the timeout again", n, again)
		}
	})
}

// TestWriteDeadline: a write deadline that has passed gives a net.Error
// whose Timeout is true and which wraps os.ErrDeadlineExceeded, and the
// peer receives nothing.
func TestWriteDeadline(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetWriteDeadline(time.Now().Add(-time.Second))
		n, err := conn.Write([]byte("too late"))
		var ne net.Error
		if n != 0 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write past the deadline: %d, %v; want 0 and a timeout", n, err)
		}
		conn.CloseNow()
		peer.SetReadDeadline(time.Now().Add(wait))
		if _, msg, err := peer.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
			t.Fatalf("the peer read %q, %v; want nothing, then the socket's end", msg, err)
		}
	})
}

// TestWriteOneMessagePerCall: each Write is one binary message holding
// exactly its bytes, small, empty or larger than any buffer; then Close
// sends a close message with code 1000, so nothing else was sent.
func TestWriteOneMessagePerCall(t *testing.T) {
	payloads := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("b"), 5000), make([]byte, 70_000), []byte("z")}
	for i := range payloads[3] {
		payloads[3][i] = byte(i * 7)
	}
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		conn.SetWriteDeadline(time.Now().Add(wait))
		peer.SetReadDeadline(time.Now().Add(wait))
		wrote := make(chan error, 1)
		go func() { // the peer reads meanwhile: the socket need not hold it all
			for _, p := range payloads {
				if n, err := conn.Write(p); err != nil || n != len(p) {
					wrote <- errors.Join(err, errors.New("short write"))
					return
				}
			}
			wrote <- conn.Close()
		}()
		for i, p := range payloads {
			mt, got, err := peer.ReadMessage()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if mt != websocket.BinaryMessage || !bytes.Equal(got, p) {
				t.Fatalf("message %d: type %d, %d bytes; want binary, %d bytes", i, mt, len(got), len(p))
			}
		}
		_, _, err := peer.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("after the writes: %v; want the close message 1000", err)
		}
		select {
		case err := <-wrote:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(wait):
			t.Fatal("the writer did not finish")
		}
	})
}

// TestClose: Close sends a close message with code 1000 that the peer
// sees, then closes the socket, and later writes fail; CloseNow closes
// the socket without a close message.
func TestClose(t *testing.T) {
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(wait))
		_, _, err := peer.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Fatalf("the peer read %v; want a close message with code 1000", err)
		}
		// The socket is closed too: past the close message, the peer's
		// socket ends (rather than hit its deadline).
		if _, err := io.Copy(io.Discard, peer.NetConn()); err != nil {
			t.Fatalf("the socket after the close message: %v", err)
		}
		if _, err := conn.Write([]byte("x")); err == nil {
			t.Fatal("Write after Close succeeded")
		}
	})
	sides(t, func(t *testing.T, conn *wsconn.Conn, peer *websocket.Conn) {
		if err := conn.CloseNow(); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(wait))
		_, _, err := peer.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
			t.Fatalf("after CloseNow the peer read %v; want the socket's end (1006)", err)
		}
	})
}
