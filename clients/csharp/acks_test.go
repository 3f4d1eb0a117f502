package csharpclient_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
)

// TestResumeAcksNeverGoBackwards: a resumable session's client acknowledges
// the gate's session frames from two threads (the reader, every 32 KiB;
// the heartbeat thread, with every heartbeat), while the game thread
// writes large calls. The gate kicks a client whose MsgAck goes
// backwards (protocol.md 8.1), so the acks must leave in the order they
// were counted. A Go stand-in gate streams session frames for 3 s and
// checks every MsgAck against the one before it and against what it
// sent (tests/AckTests.cs heartbeats every millisecond, to ack often).
func TestResumeAcksNeverGoBackwards(t *testing.T) {
	exe := build(t, "tests/AckTests.cs")[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		wg      sync.WaitGroup
		gateErr error
		acks    int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			gateErr = err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		acks, gateErr = ackGate(c)
	}()
	// What the gate saw explains a failed client: reported even when
	// Run fails the test.
	waited := false
	defer func() {
		if !waited {
			wg.Wait()
			if gateErr != nil {
				t.Errorf("gate: %v", gateErr)
			}
		}
	}()
	out := monotest.Run(t, monoTimeout, exe, ln.Addr().String())
	wg.Wait()
	waited = true
	if gateErr != nil {
		t.Fatalf("gate: %v\nclient:\n%s", gateErr, out)
	}
	if acks < 100 {
		t.Fatalf("%d acks in the session, want at least 100 (the test did not exercise them)\n%s", acks, out)
	}
	if !strings.Contains(out, "acks: ok") {
		t.Fatalf("AckTests did not report ok:\n%s", out)
	}
	t.Logf("%d acks, all in order", acks)
}

// ackGate plays the gate's side: the hello with the resume flag, then
// MsgSession, the boot entity and session frames until the client's
// MsgBye (at most 200,000 frames); it returns the number of acks, or
// the first that went backwards or beyond what was sent.
func ackGate(c net.Conn) (int, error) {
	typ, body, err := readFrame(c)
	if err != nil || typ != rpc.MsgClientHello {
		return 0, fmt.Errorf("first frame: type %d, %v", typ, err)
	}
	if _, flags, err := rpc.DecodeClientHelloFlags(body); err != nil || flags&1 == 0 {
		return 0, fmt.Errorf("hello without the resume flag (%x, %v)", body, err)
	}
	var sess rpc.Session
	sess.Token[0] = 1
	sess.Window, sess.Limit = time.Minute, 1<<20
	if _, err := c.Write(append(frame(rpc.MsgSession, rpc.AppendSession(nil, sess)), bootCreate()...)); err != nil {
		return 0, err
	}
	var sent atomic.Uint64
	sent.Store(1) // the boot entity
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		data := append(rpc.AppendString(rpc.AppendEntityID(nil, bootID), "OnData"), 0x91, 0xc5, 0x0f, 0xa0)
		f := frame(rpc.MsgCallClient, append(data, make([]byte, 4000)...))
		for i := 0; i < 200000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1) // before the write: the client may ack it before Write returns
			if _, err := c.Write(f); err != nil {
				return // the client closed
			}
		}
	}()
	defer func() {
		if stop != nil {
			close(stop)
			c.Close() // unblocks a write
			<-done
		}
	}()
	var last uint64
	acks := 0
	for {
		typ, body, err := readFrameMax(c, 1<<17)
		if errors.Is(err, io.EOF) {
			return acks, errors.New("the stream ended before the client's MsgBye")
		}
		if err != nil {
			return acks, err
		}
		switch typ {
		case rpc.MsgBye:
			// Answered, as a real gate does; the writer stops first.
			close(stop)
			<-done
			stop = nil
			_, err := c.Write(frame(rpc.MsgBye, nil))
			return acks, err
		case rpc.MsgAck:
			n, err := rpc.DecodeAck(body)
			if err != nil {
				return acks, err
			}
			if n < last || n > sent.Load() {
				return acks, fmt.Errorf("ack %d after %d, with %d sent: the gate kicks for it", n, last, sent.Load())
			}
			last = n
			acks++
		}
	}
}

// readFrameMax reads one frame of at most max bytes of body.
func readFrameMax(c net.Conn, max uint32) (rpc.MsgType, []byte, error) {
	var h [6]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n < 2 || n-2 > max {
		return 0, nil, fmt.Errorf("frame length %d", n)
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return rpc.MsgType(binary.LittleEndian.Uint16(h[4:])), body, nil
}
