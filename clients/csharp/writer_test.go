package csharpclient_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
)

// readHello reads the client's hello and first heartbeat.
func readHello(c net.Conn) error {
	for _, want := range []rpc.MsgType{rpc.MsgClientHello, rpc.MsgHeartbeat} {
		typ, _, err := readFrame(c)
		if err != nil || typ != want {
			return fmt.Errorf("the client began with type %d (%v), want %d", typ, err, want)
		}
	}
	return nil
}

// answerBye reads the client's frames until its MsgBye (through check,
// for the calls), answers it and waits for the end of the stream.
func answerBye(c net.Conn, check func(typ rpc.MsgType, body []byte) error) error {
	for {
		typ, body, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("before the client's MsgBye: %v", err)
		}
		if typ == rpc.MsgBye {
			break
		}
		if check != nil {
			if err := check(typ, body); err != nil {
				return err
			}
		}
	}
	if _, err := c.Write(frame(rpc.MsgBye, nil)); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("after the bye: %v", err)
	}
	return nil
}

// callArgs decodes a MsgCallEntity body: its method and arguments.
func callArgs(body []byte) (string, []any, error) {
	r := rpc.NewReader(body)
	r.EntityID()
	m := r.String()
	if r.Err() != nil {
		return "", nil, r.Err()
	}
	args, err := rpc.DecodeAnyArgs(r.Rest())
	return m, args, err
}

func asInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case uint64:
		return int(x)
	case int:
		return x
	}
	return -1
}

// seqChecker checks calls "method(thread, seq, …)": every thread's seq
// counts up from 0 by one.
type seqChecker struct {
	method string
	next   map[int]int
}

func (s *seqChecker) check(typ rpc.MsgType, body []byte) error {
	if typ != rpc.MsgCallEntity {
		return nil // heartbeats
	}
	m, args, err := callArgs(body)
	if err != nil {
		return fmt.Errorf("a call that does not decode (a frame cut or mixed with another?): %v", err)
	}
	if m != s.method || len(args) < 2 {
		return fmt.Errorf("call %s%v, want %s(thread, seq, …)", m, args, s.method)
	}
	th, seq := asInt(args[0]), asInt(args[1])
	if seq != s.next[th] {
		return fmt.Errorf("thread %d's call %d came after its %d: lost or out of order", th, seq, s.next[th]-1)
	}
	s.next[th]++
	return nil
}

func callClient(method string, args []byte) []byte {
	return frame(rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, bootID), method), args...))
}

// TestWriter: the C# client's writer thread (tests/WriterTests.cs)
// against fake gates on real sockets: sends return at once while the
// gate does not read, and all arrive in order once it does; the send
// queue's bound ends the session with its reason; two threads' calls
// keep each thread's order, whole; positions written by SyncPosition on
// one thread and by Poll on another are never torn; the budget of values
// per frame refuses a frame of two million empty maps but decodes the
// largest frame and one of exactly the budget; Close while a resumable
// session redials does not wait for the dial.
func TestWriter(t *testing.T) {
	exe := build(t, "tests/WriterTests.cs")[0]
	release := make(chan struct{})  // the stalled gate may read
	finished := make(chan struct{}) // the C# program ended
	var finishOnce sync.Once
	defer finishOnce.Do(func() { close(finished) })
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })

	// Each scenario's fake gate gets the accepted connection (the
	// client's hello and first heartbeat not yet read) and returns
	// what the client got wrong.
	gates := map[string]func(net.Conn) error{
		"stall": func(c net.Conn) error {
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			if err := readHello(c); err != nil {
				return err
			}
			if _, err := c.Write(bootCreate()); err != nil {
				return err
			}
			<-release
			next := 0
			err := answerBye(c, func(typ rpc.MsgType, body []byte) error {
				if typ != rpc.MsgCallEntity {
					return nil
				}
				m, args, err := callArgs(body)
				if err != nil || m != "Seq" || len(args) != 2 {
					return fmt.Errorf("call %s%v (%v), want Seq(%d, pad)", m, args, err, next)
				}
				if i := asInt(args[0]); i != next {
					return fmt.Errorf("call %d after %d: lost or out of order", i, next-1)
				}
				next++
				return nil
			})
			if err == nil && next != 300 {
				err = fmt.Errorf("%d of 300 calls before the MsgBye", next)
			}
			return err
		},
		"bound": func(c net.Conn) error {
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			if err := readHello(c); err != nil {
				return err
			}
			if _, err := c.Write(bootCreate()); err != nil {
				return err
			}
			// Read nothing until the C# program has ended.
			<-finished
			io.Copy(io.Discard, c)
			return nil
		},
		"twothreads": func(c net.Conn) error {
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			if err := readHello(c); err != nil {
				return err
			}
			if _, err := c.Write(bootCreate()); err != nil {
				return err
			}
			s := &seqChecker{method: "T", next: map[int]int{}}
			if err := answerBye(c, s.check); err != nil {
				return err
			}
			if s.next[0] != 3000 || s.next[1] != 3000 {
				return fmt.Errorf("calls %v before the MsgBye, want 3000 from each thread", s.next)
			}
			return nil
		},
		"position": func(c net.Conn) error {
			if err := readHello(c); err != nil {
				return err
			}
			const spaceID = "BBECAwQFBgcICQoL"
			enter := frame(rpc.MsgEnterSpace, append(rpc.AppendString(rpc.AppendEntityID(nil, spaceID), "Field"), position(0, 0, 0, 0)...))
			if _, err := c.Write(append(bootCreate(), enter...)); err != nil {
				return err
			}
			// The positions go out once the client's handlers are set:
			// its first SyncPosition says so.
			if err := readUntil(c, rpc.MsgSyncPosition, 1); err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			// The client's SyncPositions, read while the positions go out.
			read := make(chan error, 1)
			go func() { read <- answerBye(c, nil) }()
			var batch []byte
			for k := 1; k <= 20000; k++ {
				f := float32(-k)
				batch = append(batch, frame(rpc.MsgPositions, append(rpc.AppendEntityID([]byte{1, 0}, bootID), position(f, f, f, f)...))...)
				if k%100 == 0 {
					if _, err := c.Write(batch); err != nil {
						return err
					}
					batch = batch[:0]
				}
			}
			return <-read
		},
		"budget": func(c net.Conn) error {
			if err := readHello(c); err != nil {
				return err
			}
			// The largest frame: a 16 MiB body, one bin.
			n := 16<<20 - 27
			big := append([]byte{0x91, 0xc6}, binary.BigEndian.AppendUint32(nil, uint32(n))...)
			big = callClient("Big", append(big, make([]byte, n)...))
			if len(big) != 6+16<<20 {
				return fmt.Errorf("the big frame has %d bytes", len(big))
			}
			// Exactly the budget: the args array, an array, and the
			// budget less two zeros.
			m := 1<<20 - 2
			full := append([]byte{0x91, 0xdd}, binary.BigEndian.AppendUint32(nil, uint32(m))...)
			full = callClient("Full", append(full, make([]byte, m)...))
			// Two million empty maps in 2 MiB.
			k := 2 << 20
			over := append([]byte{0x91, 0xdd}, binary.BigEndian.AppendUint32(nil, uint32(k))...)
			over = callClient("Over", append(over, bytes.Repeat([]byte{0x80}, k)...))
			for _, f := range [][]byte{bootCreate(), big, full, over} {
				if _, err := c.Write(f); err != nil {
					return err
				}
			}
			// The client closes on the bad frame.
			io.Copy(io.Discard, c)
			return nil
		},
	}

	fg := serveFakeGates(t, gates, 2*time.Minute)
	args := fg.args
	if redial, stop, err := redialGate(fg.report); err != nil {
		t.Logf("no redial scenario: %v", err)
	} else {
		defer stop()
		args = append(args, "redial="+redial)
	}

	ctx, cancel := context.WithTimeout(context.Background(), monoTimeout)
	defer cancel()
	p := monotest.Start(ctx, t, exe, args...)
	var out []string
	s := p.Stdout
	for s.Scan() {
		out = append(out, s.Text())
		if s.Text() == "RELEASE stall" {
			releaseOnce.Do(func() { close(release) })
		}
	}
	werr := p.Cmd.Wait()
	releaseOnce.Do(func() { close(release) })
	finishOnce.Do(func() { close(finished) })
	errs := fg.stop()
	log := strings.Join(out, "\n") + "\n" + p.Stderr.String()
	for _, err := range errs {
		t.Error(err)
	}
	if werr != nil || !strings.Contains(log, "writer: ok") {
		t.Fatalf("WriterTests: %v\n%s", werr, log)
	}
	t.Logf("WriterTests:\n%s", log)
}
