package csharpclient_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
)

// TestKcp: the C# client's KCP (GoWorld.Kcp.cs, tests/KcpTests.cs).
//
// core: the golden vectors of protocol.md 3.2 against the server's own
// encoding; endpoint pairs over a seeded link that loses, duplicates and
// reorders deliver every message once and in order; a message over the
// MSS goes as fragments and reassembles; hostile datagrams (a truncated
// header, a length past the datagram, a huge frg, another conv, an
// unknown command, an una beyond what was sent) are dropped; a bounded
// fuzz of Input.
//
// handshake: ConnectKcp against fake gates on UDP sockets of 127.0.0.1:
// forged answers (another nonce from the gate's address, the right nonce
// from another address) are ignored, the hellos are resent after 250 ms
// and 500 ms with one nonce, and the dial times out with the documented
// message; a gate of another handshake version is refused at once;
// datagrams after the cookie from another address, over the MTU, of
// another conv, with frg 200 or a length past the datagram are dropped,
// and the session ends with the gate's real kick, acknowledged; a
// gate that answers the second hello gets a first segment that holds the
// client's hello and heartbeat whole (sn 0, frg 0, conv the cookie), and
// a session it never answers is given up after the dial timeout, and a
// write waiting for room in the full send window fails then.
func TestKcp(t *testing.T) {
	exe := build(t, "tests/KcpTests.cs")[0]

	t.Run("core", func(t *testing.T) {
		const nonce, cookie = 0x1122334455667788, 0x9abcdef1
		hello := hex.EncodeToString(rpc.AppendKCPHello(nil, nonce))
		answer := hex.EncodeToString(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, cookie))
		out := monotest.Run(t, monoTimeout, exe, "core", hello, answer, "200000")
		if !strings.Contains(out, "kcp core: ok") {
			t.Fatalf("KcpTests core did not report ok:\n%s", out)
		}
	})

	t.Run("handshake", func(t *testing.T) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		args := []string{"handshake", "127.0.0.1"}
		for name, gate := range fakeKCPGates {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			args = append(args, name+"="+strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := gate(conn); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %v", name, err))
					mu.Unlock()
				}
			}()
		}
		out := monotest.Run(t, monoTimeout, exe, args...)
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		if !strings.Contains(out, "kcp handshake: ok") {
			t.Fatalf("KcpTests handshake did not report ok:\n%s", out)
		}
	})
}

// readKCPHello reads the client's next KCP hello (within d) and checks it.
func readKCPHello(conn *net.UDPConn, d time.Duration) (uint64, *net.UDPAddr, error) {
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil {
		return 0, nil, err
	}
	if n != rpc.KCPHelloSize {
		return 0, nil, fmt.Errorf("a hello of %d bytes, want %d", n, rpc.KCPHelloSize)
	}
	v, nonce, ok := rpc.ParseKCPHello(buf[:n])
	if !ok || v != rpc.KCPHandshakeVersion {
		return 0, nil, fmt.Errorf("not a hello of version %d: %x", rpc.KCPHandshakeVersion, buf[:n])
	}
	return nonce, from, nil
}

// fakeKCPGates are the UDP gates of TestKcp's handshake run, each
// serving one client dial; each returns what the client got wrong.
var fakeKCPGates = map[string]func(conn *net.UDPConn) error{
	"forged": func(conn *net.UDPConn) error {
		other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer other.Close()
		// The client's 1.5 s dial: hellos at 0, 250 and 750 ms, then it
		// gives up at 1.5 s; one nonce for the dial.
		var nonces []uint64
		var at []time.Duration
		start := time.Now()
		for {
			nonce, from, err := readKCPHello(conn, 3*time.Second)
			if err != nil {
				break // the client gave up
			}
			nonces = append(nonces, nonce)
			at = append(at, time.Since(start))
			conn.WriteToUDP(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce+1, 7), from)    // another nonce
			other.WriteToUDP(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, 8), from)     // another address
			conn.WriteToUDP(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, 9)[:23], from) // short
		}
		if len(nonces) != 3 {
			return fmt.Errorf("%d hellos (at %v), want 3", len(nonces), at)
		}
		if nonces[0] != nonces[1] || nonces[1] != nonces[2] {
			return fmt.Errorf("the resent hellos have other nonces: %x", nonces)
		}
		if gap := at[1] - at[0]; gap < 200*time.Millisecond || gap > 2*time.Second {
			return fmt.Errorf("the second hello %v after the first, want 250 ms", gap)
		}
		if gap := at[2] - at[1]; gap < 450*time.Millisecond || gap > 3*time.Second {
			return fmt.Errorf("the third hello %v after the second, want 500 ms", gap)
		}
		return nil
	},
	"version": func(conn *net.UDPConn) error {
		nonce, from, err := readKCPHello(conn, 30*time.Second)
		if err != nil {
			return err
		}
		answer := rpc.AppendKCPCookie(nil, rpc.KCPCookieBadVersion, nonce, 0)
		answer[8] = 2 // the version the gate speaks
		_, err = conn.WriteToUDP(answer, from)
		return err
	},
	"hostile": func(conn *net.UDPConn) error {
		// A cookie, then datagrams that must all be dropped, each a
		// PUSH of sn 0 holding a kick: from another address, over the
		// MTU, of another conv, with frg 200, with a length past the
		// datagram; then the real one, whose kick reason the client
		// must end with. The client acknowledges it.
		nonce, from, err := readKCPHello(conn, 30*time.Second)
		if err != nil {
			return err
		}
		const cookie = 0x0a0b0c0d
		if _, err := conn.WriteToUDP(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, cookie), from); err != nil {
			return err
		}
		if _, err := readSegment(conn, cookie, 81); err != nil {
			return fmt.Errorf("no first segment: %v", err)
		}
		other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer other.Close()
		kick := func(reason string) []byte { return frame(rpc.MsgKick, rpc.AppendString(nil, reason)) }
		other.WriteToUDP(pushSegment(cookie, 0, kick("from another address")), from)
		conn.WriteToUDP(pushSegment(cookie, 0, kick(strings.Repeat("m", 1400))), from)
		conn.WriteToUDP(pushSegment(cookie+1, 0, kick("another conv")), from)
		conn.WriteToUDP(pushSegment(cookie, 200, kick("frg 200")), from)
		conn.WriteToUDP(pushSegment(cookie, 0, kick("a length past the datagram"))[:40], from)
		conn.WriteToUDP(pushSegment(cookie, 0, kick("the real kick")), from)
		if _, err := readSegment(conn, cookie, 82); err != nil {
			return fmt.Errorf("no ACK of the kick: %v", err)
		}
		return nil
	},
	"silent": func(conn *net.UDPConn) error {
		if _, _, err := readKCPHello(conn, 30*time.Second); err != nil {
			return err
		}
		// The second hello gets the answer.
		nonce, from, err := readKCPHello(conn, 2*time.Second)
		if err != nil {
			return fmt.Errorf("no second hello: %v", err)
		}
		const cookie = 0x01020304
		if _, err := conn.WriteToUDP(rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, cookie), from); err != nil {
			return err
		}
		// The session's first datagram: one PUSH, sn 0, frg 0, conv the
		// cookie, holding the hello and a heartbeat. Hellos the client
		// resent meanwhile are skipped. Then nothing is answered.
		buf := make([]byte, 2048)
		for {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return fmt.Errorf("no first segment: %v", err)
			}
			if _, _, ok := rpc.ParseKCPHello(buf[:n]); ok {
				continue
			}
			d := buf[:n]
			want := append(frame(rpc.MsgClientHello, rpc.AppendClientHello(nil, rpc.ProtocolVersion)), frame(rpc.MsgHeartbeat, nil)...)
			if n < 24 || binary.LittleEndian.Uint32(d) != cookie || d[4] != 81 || d[5] != 0 ||
				binary.LittleEndian.Uint32(d[12:]) != 0 || binary.LittleEndian.Uint32(d[20:]) != uint32(len(want)) ||
				n < 24+len(want) || string(d[24:24+len(want)]) != string(want) {
				return fmt.Errorf("the first datagram %x, want a PUSH of conv %x, sn 0, frg 0 holding %x", d, cookie, want)
			}
			return nil
		}
	},
}

// pushSegment is a KCP PUSH of sn 0 (una 0, window 128) holding data.
func pushSegment(conv uint32, frg byte, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, conv)
	b = append(b, 81, frg, 128, 0)
	b = binary.LittleEndian.AppendUint32(b, 0) // ts
	b = binary.LittleEndian.AppendUint32(b, 0) // sn
	b = binary.LittleEndian.AppendUint32(b, 1) // una: the client's first segment is acknowledged
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// readSegment reads the client's datagrams (within 5 s, skipping
// hellos) until one of conv whose first segment has command cmd.
func readSegment(conn *net.UDPConn, conv uint32, cmd byte) ([]byte, error) {
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		d := buf[:n]
		if n >= 24 && binary.LittleEndian.Uint32(d) == conv && d[4] == cmd {
			return d, nil
		}
	}
}
