package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	kcp "github.com/xtaci/kcp-go/v5"
)

// ErrKCPVersion is returned (wrapped) by Dial and KCPHandshake when the
// gate answers the KCP hello with another handshake version than this
// client's (rpc.KCPHandshakeVersion).
var ErrKCPVersion = errors.New("client: the gate speaks another KCP handshake version")

// KCPHandshake runs the KCP handshake (docs/protocol.md, section 3.2) on
// conn, an unconnected UDP socket, with the gate at gate: it sends hellos
// (again after 250 ms, 500 ms, then every second; a resumable session's
// reconnect resends every 250 ms) until the gate answers
// one, and returns the cookie to use as the KCP conversation ID on the
// same socket. It gives up after timeout with an error that wraps
// ErrNoAnswer, and fails at once with ErrKCPVersion if the gate speaks
// another version. conn's read deadline is cleared when it returns.
// Dial runs it for Options.KCP; it is exported for tools that drive KCP
// themselves.
func KCPHandshake(conn net.PacketConn, gate net.Addr, timeout time.Duration) (uint32, error) {
	return kcpHandshake(context.Background(), conn, gate, timeout, helloGapDial)
}

// The longest wait between two hellos of a handshake: on a first dial the
// wait doubles up to helloGapDial, sparing a gate that is slow to answer
// many clients at once; a reconnect (a resumable session coming back)
// keeps resending every helloGapReconnect, so that a player whose network
// returns in the middle of an attempt is answered within that, not a
// second later (a few bytes per hello).
const (
	helloGapDial      = time.Second
	helloGapReconnect = 250 * time.Millisecond
)

// kcpHandshake is KCPHandshake that also gives up when ctx ends, with
// hellos at most maxGap apart.
func kcpHandshake(ctx context.Context, conn net.PacketConn, gate net.Addr, timeout, maxGap time.Duration) (uint32, error) {
	defer conn.SetReadDeadline(time.Time{})
	// A read under way wakes up at once when ctx ends.
	defer context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })()
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	nonce := binary.LittleEndian.Uint64(b[:])
	hello := rpc.AppendKCPHello(nil, nonce)
	ga, err := net.ResolveUDPAddr("udp", gate.String())
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	want := ga.AddrPort()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64)
	for wait := min(250*time.Millisecond, maxGap); ; wait = min(2*wait, maxGap) {
		if _, err := conn.WriteTo(hello, gate); err != nil {
			return 0, fmt.Errorf("client: KCP hello to %s: %w", gate, err)
		}
		resend := time.Now().Add(wait)
		if resend.After(deadline) {
			resend = deadline
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("client: KCP handshake with %s: %w", gate, ctx.Err())
		}
		conn.SetReadDeadline(resend)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					return 0, fmt.Errorf("client: KCP handshake with %s: %w", gate, err)
				}
				if ctx.Err() != nil {
					return 0, fmt.Errorf("client: KCP handshake with %s: %w", gate, ctx.Err())
				}
				if !time.Now().Before(deadline) {
					return 0, fmt.Errorf("%w: no answer to the KCP handshake within %v (the gate is down or unreachable, serves no KCP, is too busy, or is older than this client and has no handshake)", ErrNoAnswer, timeout)
				}
				break // resend
			}
			fa, ok := from.(*net.UDPAddr)
			if !ok || fa.AddrPort().Addr().Unmap() != want.Addr().Unmap() || fa.AddrPort().Port() != want.Port() {
				continue // not from the gate
			}
			c, ok := rpc.ParseKCPCookie(buf[:n])
			if !ok || c.Nonce != nonce {
				continue // not the answer to this hello
			}
			if c.Status != rpc.KCPCookieOK || c.Cookie == 0 {
				return 0, fmt.Errorf("%w: the gate speaks version %d (status %d), this client %d", ErrKCPVersion, c.Version, c.Status, rpc.KCPHandshakeVersion)
			}
			return c.Cookie, nil
		}
	}
}

// dialKCP opens a KCP session with the gate at addr: a new UDP socket,
// the handshake on it (hellos at most helloGap apart), and the session
// with the gate's cookie as its conversation ID.
func dialKCP(ctx context.Context, addr string, timeout, helloGap time.Duration) (*kcp.UDPSession, error) {
	ga, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: kcp dial %s: %w", addr, err)
	}
	network := "udp4"
	if ga.IP.To4() == nil {
		network = "udp"
	}
	conn, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, fmt.Errorf("client: kcp dial %s: %w", addr, err)
	}
	conv, err := kcpHandshake(ctx, conn, ga, timeout, helloGap)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s, err := kcp.NewConn4(conv, ga, nil, 0, 0, true, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("client: kcp dial %s: %w", addr, err)
	}
	return s, nil
}
