package dispatcher_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// rawGame joins d as game id on a connection that reads only when asked,
// so that what the dispatcher sends it beyond what the sockets hold
// waits in the dispatcher's own queue.
func rawGame(t *testing.T, addr string, id uint16) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitLimit))
	if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgHello, helloBody(rpc.RoleGame, id))); err != nil {
		t.Fatal(err)
	}
	var hdr [rpc.HeaderSize]byte
	if typ, _, err := rpc.ReadFrame(nc, hdr[:], 1<<20); err != nil || typ != rpc.MsgHelloAck {
		t.Fatalf("hello: %v %v", typ, err)
	}
	return nc
}

// queueForRawGame registers an entity of the raw game g and has gate gw
// route n calls of size bytes to it, returning once the dispatcher has
// routed them all (they wait in its queue for g, which is not reading).
func queueForRawGame(t *testing.T, g net.Conn, gw *peer, n, size int) {
	t.Helper()
	id := rpc.NewEntityID()
	// The registration has been routed once the game's own call to the
	// entity, sent after it, comes back to the game.
	frames := rpc.AppendFrame(nil, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, id))
	frames = rpc.AppendFrame(frames, rpc.MsgCallEntityMethod, callBody(id, "sync"))
	if _, err := g.Write(frames); err != nil {
		t.Fatal(err)
	}
	var hdr [rpc.HeaderSize]byte
	if typ, _, err := rpc.ReadFrame(g, hdr[:], 1<<20); err != nil || typ != rpc.MsgCallEntityMethod {
		t.Fatalf("the raw game's own call: %v %v", typ, err)
	}
	payload := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		gw.send(t, rpc.MsgClientCall, clientCallBody(id, 1, 1, "Fill", i, payload))
	}
	// A request for an entity that does not exist is answered to the
	// gate by the dispatcher, after everything the gate sent before it.
	req := rpc.AppendUint32LE(clientBody(rpc.NewEntityID(), 1, 1), 99)
	req = rpc.AppendString(req, "Nothing")
	req, _ = rpc.AppendArgs(req, nil)
	gw.send(t, rpc.MsgClientRequest, req)
	gw.expect(t, rpc.MsgToClient)
}

// drain reads g until the dispatcher closes it and returns the number of
// calls received.
func drain(t *testing.T, g net.Conn) (calls int, err error) {
	t.Helper()
	g.SetDeadline(time.Now().Add(waitLimit))
	var hdr [rpc.HeaderSize]byte
	for {
		typ, _, err := rpc.ReadFrame(g, hdr[:], 1<<20)
		if err != nil {
			return calls, err
		}
		if typ == rpc.MsgClientCall {
			calls++
		}
	}
}

// TestCancelShutsDownGracefully: cancelling Run's context writes every
// frame already routed to a peer before closing it, and Run returns the
// context's error only once every connection has ended.
func TestCancelShutsDownGracefully(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := dispatcher.New(dispatcher.Config{ID: dispatcherID, ListenAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	s := &server{d: d, addr: d.Addr().String()}
	g := rawGame(t, s.addr, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	const n, size = 128, 64 << 10 // 8 MiB: more than the sockets hold for a game that reads nothing
	queueForRawGame(t, g, gw, n, size)

	cancel()
	calls, err := drain(t, g)
	if calls != n || !errors.Is(err, io.EOF) {
		t.Fatalf("after a graceful stop the game read %d calls, then %v; want %d, then EOF", calls, err, n)
	}
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the graceful stop")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close after the stop: %v", err)
	}
}

// TestShutdownDeadlineCloses: a Shutdown whose context ends before the
// peers have taken what is queued for them closes them at once, returns
// the context's error once every goroutine has ended, and Run returns
// ErrServerClosed.
func TestShutdownDeadlineCloses(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := dispatcher.New(dispatcher.Config{ID: dispatcherID, ListenAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(context.Background()) }()
	s := &server{d: d, addr: d.Addr().String()}
	g := rawGame(t, s.addr, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	const n, size = 128, 64 << 10
	queueForRawGame(t, g, gw, n, size)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a game that reads nothing: %v, want context.DeadlineExceeded", err)
	}
	if err := <-runErr; !errors.Is(err, dispatcher.ErrServerClosed) {
		t.Fatalf("Run returned %v, want ErrServerClosed", err)
	}
	if calls, _ := drain(t, g); calls >= n {
		t.Fatalf("the game read all %d calls: the queue was not dropped", calls)
	}
	gw.expectClosed(t)
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatalf("a second Shutdown: %v", err)
	}
}
