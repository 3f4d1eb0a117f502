package csharpclient_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
)

func frame(t rpc.MsgType, body []byte) []byte { return rpc.AppendFrame(nil, t, body) }

const bootID = "AAECAwQFBgcICQoL"

func bootCreate() []byte {
	return frame(rpc.MsgCreateEntity, append(rpc.AppendString(append(rpc.AppendEntityID(nil, bootID), 1), "Account"), 0x80))
}

func position(x, y, z, yaw float32) []byte {
	var b []byte
	for _, f := range []float32{x, y, z, yaw} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// fakeScenario is what one fake gate does after reading the client's
// hello and first heartbeat; it returns an error for what the client got
// wrong.
type fakeScenario func(c net.Conn) error

var fakeScenarios = map[string]fakeScenario{
	"split": func(c net.Conn) error {
		all := append(bootCreate(), frame(rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, bootID), "OnHi"), 0x91, 0xa2, 'h', 'i'))...)
		for i := range all {
			if _, err := c.Write(all[i : i+1]); err != nil {
				return err
			}
		}
		pos := frame(rpc.MsgPositions, append(rpc.AppendEntityID([]byte{1, 0}, bootID), position(1, 2, 3, 0.5)...))
		_, err := c.Write(append(pos, frame(rpc.MsgKick, rpc.AppendString(nil, "bye for now"))...))
		return err
	},
	"silent": func(c net.Conn) error {
		// Announce 100 ms / 400 ms, then say nothing: the client must
		// keep sending heartbeats at 100 ms and give up by itself.
		ack := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 100), 400)
		if _, err := c.Write(append(frame(rpc.MsgHeartbeatAck, ack), bootCreate()...)); err != nil {
			return err
		}
		start := time.Now()
		n, err := countHeartbeats(c)
		if err != nil {
			return err
		}
		if d := time.Since(start); n < 2 {
			return fmt.Errorf("%d heartbeats in %v of silence, want one every 100 ms", n, d)
		}
		return nil
	},
	"huge": func(c net.Conn) error {
		_, err := c.Write([]byte{0xff, 0xff, 0xff, 0x7f, 0x0a, 0x00})
		return err
	},
	"short": func(c net.Conn) error {
		_, err := c.Write([]byte{1, 0, 0, 0, 0x0a})
		return err
	},
	"unknown": func(c net.Conn) error {
		_, err := c.Write(frame(999, nil))
		return err
	},
	"bye": func(c net.Conn) error {
		_, err := c.Write(frame(rpc.MsgBye, nil))
		return err
	},
	"eof": func(c net.Conn) error {
		_, err := c.Write(bootCreate())
		return err
	},
	"truncated": func(c net.Conn) error {
		_, err := c.Write(frame(rpc.MsgCreateEntity, []byte("AAE")))
		return err
	},
	"diverge": func(c net.Conn) error {
		change := append(append(rpc.AppendEntityID(nil, bootID), 1), 0x92, 0xa1, 'a', 0xa1, 'b', 0x01)
		_, err := c.Write(append(bootCreate(), frame(rpc.MsgAttrChange, change)...))
		return err
	},
	"divergelong": func(c net.Conn) error {
		// A change whose path does not resolve, at a 5,000-byte key: the
		// reason the client gives must be cut to MaxReasonLength.
		key := bytes.Repeat([]byte{'k'}, 5000)
		path := append(append([]byte{0x92, 0xda, byte(len(key) >> 8), byte(len(key))}, key...), 0xa1, 'b')
		change := append(append(append(rpc.AppendEntityID(nil, bootID), 1), path...), 0x01)
		_, err := c.Write(append(bootCreate(), frame(rpc.MsgAttrChange, change)...))
		return err
	},
	"expire": func(c net.Conn) error {
		// Two requests, never answered; then the end of the stream: both
		// must end in the client with code Disconnected, exactly once,
		// though the first callback to run throws.
		if _, err := c.Write(bootCreate()); err != nil {
			return err
		}
		if err := readUntil(c, rpc.MsgRequest, 2); err != nil {
			return err
		}
		return c.(*net.TCPConn).CloseWrite()
	},
	"nobye": func(c net.Conn) error {
		// The client's MsgBye gets no answer: the gate just ends the
		// stream, and the client's Close must not wait out its timeout.
		if _, err := c.Write(bootCreate()); err != nil {
			return err
		}
		if err := readUntil(c, rpc.MsgBye, 1); err != nil {
			return err
		}
		return c.(*net.TCPConn).CloseWrite()
	},
	"gone": func(c net.Conn) error {
		// Two frames: the client (MaxQueuedBytes 1, no Poll) queues the
		// first and its reader waits with the second, reading nothing
		// more; then the gate closes the socket, so the client's writes
		// fail (the gate answers them with a reset).
		call := frame(rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, bootID), "OnHi"), 0x90))
		if _, err := c.Write(append(append(bootCreate(), call...), call...)); err != nil {
			return err
		}
		if err := readUntil(c, rpc.MsgCallEntity, 1); err != nil {
			return err
		}
		return c.Close()
	},
	"close": func(c net.Conn) error {
		if _, err := c.Write(bootCreate()); err != nil {
			return err
		}
		// The client's next frames: heartbeats, perhaps, then its MsgBye,
		// which the gate answers; then the client closes.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			typ, _, err := readFrame(c)
			if err != nil {
				return fmt.Errorf("before the client's MsgBye: %v", err)
			}
			if typ == rpc.MsgBye {
				break
			}
			if typ != rpc.MsgHeartbeat {
				return fmt.Errorf("the client sent type %d", typ)
			}
		}
		if _, err := c.Write(frame(rpc.MsgBye, nil)); err != nil {
			return err
		}
		if _, _, err := readFrame(c); err != io.EOF {
			return fmt.Errorf("after the bye: %v, want the end of the stream", err)
		}
		return nil
	},
}

func readFrame(c net.Conn) (rpc.MsgType, []byte, error) {
	var h [6]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n < 2 || n > 1<<16 {
		return 0, nil, fmt.Errorf("frame length %d", n)
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return rpc.MsgType(binary.LittleEndian.Uint16(h[4:])), body, nil
}

// readUntil reads the client's frames until n of type typ (at most 10 s).
func readUntil(c net.Conn, typ rpc.MsgType, n int) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for n > 0 {
		got, _, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("waiting for %d frames of type %d: %v", n, typ, err)
		}
		if got == typ {
			n--
		}
	}
	return nil
}

// countHeartbeats reads heartbeats until the client closes (at most 10 s).
func countHeartbeats(c net.Conn) (int, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for {
		typ, _, err := readFrame(c)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if typ != rpc.MsgHeartbeat {
			return n, fmt.Errorf("the client sent type %d", typ)
		}
		n++
	}
}

// TestAgainstFakeGate: the C# client against fake gates on real sockets
// (tests/FakeGateTests.cs), for what a real gate never does: frames
// split into single bytes, a gate gone silent after announcing short
// heartbeats, a frame over the size limit, a length below 2, an unknown
// type, an unasked MsgBye, the end of the stream, a truncated body, an
// attribute change that does not apply (also at a 5,000-byte key, whose
// reason is cut); requests that end with the
// connection while a callback throws; a MsgBye with no answer; writes
// to a connection the gate closed; and a clean close.
func TestAgainstFakeGate(t *testing.T) {
	exe := build(t, "tests/FakeGateTests.cs")[0]
	gates := map[string]func(net.Conn) error{}
	for name, scenario := range fakeScenarios {
		gates[name] = func(c net.Conn) error {
			// Every client starts with its hello and a heartbeat.
			var first [14]byte
			if _, err := io.ReadFull(c, first[:]); err != nil {
				return err
			}
			want := append(frame(rpc.MsgClientHello, rpc.AppendClientHello(nil, rpc.ProtocolVersion)), frame(rpc.MsgHeartbeat, nil)...)
			if !bytes.Equal(first[:], want) {
				return fmt.Errorf("the client began with %x, want %x", first, want)
			}
			if err := scenario(c); err != nil || name == "eof" || name == "gone" {
				return err
			}
			// Then wait for the client to close: what it does, it
			// does by itself, not because the stream ended.
			_, err := io.Copy(io.Discard, c)
			return err
		}
	}
	fg := serveFakeGates(t, gates, time.Minute)
	out := monotest.Run(t, monoTimeout, exe, fg.args...)
	for _, err := range fg.stop() {
		t.Error(err)
	}
	if !bytes.Contains([]byte(out), []byte("fakegate: ok")) {
		t.Fatalf("FakeGateTests did not report ok:\n%s", out)
	}
}

// fakeGates serves scenarios of stand-in gates, each on its own
// 127.0.0.1 listener (see serveFakeGates).
type fakeGates struct {
	args []string // "127.0.0.1", then name=port for each scenario
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
	lns  []net.Listener
}

// serveFakeGates listens for each scenario of gates on a free 127.0.0.1
// port and runs it on the first connection there, within deadline; stop
// ends them and returns their errors.
func serveFakeGates(t *testing.T, gates map[string]func(net.Conn) error, deadline time.Duration) *fakeGates {
	t.Helper()
	f := &fakeGates{args: []string{"127.0.0.1"}}
	for name, gate := range gates {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.lns = append(f.lns, ln)
		f.args = append(f.args, fmt.Sprintf("%s=%d", name, ln.Addr().(*net.TCPAddr).Port))
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			c, err := ln.Accept()
			if err != nil {
				return // the test ended without this scenario's client
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(deadline))
			f.report(name, gate(c))
		}()
	}
	return f
}

// report records a scenario's error, if any.
func (f *fakeGates) report(name string, err error) {
	if err != nil {
		f.mu.Lock()
		f.errs = append(f.errs, fmt.Errorf("%s: %v", name, err))
		f.mu.Unlock()
	}
}

// stop closes the listeners, waits for the scenarios and returns their
// errors.
func (f *fakeGates) stop() []error {
	for _, ln := range f.lns {
		ln.Close()
	}
	f.wg.Wait()
	return f.errs
}
