package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// countHellos runs a KCP handshake with maxGap against a UDP socket that
// never answers, for timeout, and returns how many hellos it received.
func countHellos(t *testing.T, timeout, maxGap time.Duration) int {
	t.Helper()
	gate, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = kcpHandshake(context.Background(), conn, gate.LocalAddr(), timeout, maxGap)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("handshake with a silent gate: %v, want ErrNoAnswer", err)
	}
	// Every hello is in the silent gate's socket buffer by now.
	gate.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 64)
	n := 0
	for {
		if _, _, err := gate.ReadFrom(buf); err != nil {
			return n
		}
		n++
	}
}

// A reconnect's KCP handshake keeps resending its hello every 250 ms
// rather than backing off to a second, so that a player whose network
// comes back mid-attempt is answered soon; a first dial backs off.
func TestReconnectResendsKCPHellosOften(t *testing.T) {
	const timeout = 1600 * time.Millisecond
	// Doubling from 250 ms to 1 s: hellos at 0, 0.25, 0.75 and 1.75 s,
	// so 3 within the timeout; every 250 ms: 7 (fewer if the machine is
	// slow to wake the handshake, but far more than 3).
	if n := countHellos(t, timeout, helloGapDial); n > 4 {
		t.Fatalf("a first dial sent %d hellos in %v, want it to back off (at most 4)", n, timeout)
	}
	if n := countHellos(t, timeout, helloGapReconnect); n < 5 {
		t.Fatalf("a reconnect sent %d hellos in %v, want one every %v (at least 5)", n, timeout, helloGapReconnect)
	}
}
