package gate

// Tests of the KCP filter on its own (kcpfilter.go): real UDP sockets on
// 127.0.0.1 for the answers it sends, a clock the tests move.

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goclient "github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	kcp "github.com/xtaci/kcp-go/v5"
	"golang.org/x/net/ipv4"
)

// newTestFilter returns a filter on a new socket of 127.0.0.1, whose drop
// log writes to nowhere.
func newTestFilter(tb testing.TB, cfg kcpFilterConfig) *kcpFilter {
	tb.Helper()
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	d := newDropLog(log, func() []dropCount { return nil })
	f := newKCPFilter(uc, cfg, d)
	tb.Cleanup(func() { d.close(); uc.Close() })
	return f
}

// peer is a client socket: what the filter sends it can be read.
func peer(tb testing.TB) *net.UDPConn {
	tb.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	return pc
}

func udpAddr(c *net.UDPConn) *net.UDPAddr { return c.LocalAddr().(*net.UDPAddr) }

// segment returns a KCP segment header of conversation conv with command
// cmd and sequence number sn, followed by data.
func segment(conv uint32, cmd byte, sn uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, conv)
	b = append(b, cmd, 0)
	b = binary.LittleEndian.AppendUint16(b, 128)
	b = binary.LittleEndian.AppendUint32(b, 7) // ts
	b = binary.LittleEndian.AppendUint32(b, sn)
	b = binary.LittleEndian.AppendUint32(b, 0) // una
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// readReply reads one datagram sent to p within a second, or nil.
func readReply(tb testing.TB, p *net.UDPConn) []byte {
	tb.Helper()
	buf := make([]byte, 2048)
	p.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := p.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// expectNoReply checks that nothing was sent to p (within 50 ms).
func expectNoReply(tb testing.TB, p *net.UDPConn) {
	tb.Helper()
	buf := make([]byte, 2048)
	p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := p.ReadFromUDP(buf); err == nil {
		tb.Fatalf("the filter sent %d bytes: %x", n, buf[:n])
	}
}

// TestKCPCookies: a cookie is good for its slot and the next, and only
// for the address it was made for; it is never 0 (the conversation of
// handshake datagrams).
func TestKCPCookies(t *testing.T) {
	f := newTestFilter(t, kcpFilterConfig{handshakeTimeout: time.Second})
	a := addrKey(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	b := addrKey(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001})
	t0 := f.epoch.Add(time.Millisecond)
	c := f.cookie(a, f.slot(t0))
	for _, tc := range []struct {
		at   time.Time
		addr string
		want bool
	}{
		{t0, "a", true},
		{t0.Add(kcpCookieSlot - 2*time.Millisecond), "a", true}, // same slot
		{t0.Add(kcpCookieSlot), "a", true},                      // the next slot
		{t0.Add(2*kcpCookieSlot - 2*time.Millisecond), "a", true},
		{t0.Add(2 * kcpCookieSlot), "a", false}, // two slots on
		{t0.Add(3 * kcpCookieSlot), "a", false},
		{t0, "b", false},
	} {
		key := a
		if tc.addr == "b" {
			key = b
		}
		if got := f.validCookie(c, key, tc.at); got != tc.want {
			t.Errorf("cookie of a at %v, checked for %s at %v: valid = %v, want %v", t0.Sub(f.epoch), tc.addr, tc.at.Sub(f.epoch), got, tc.want)
		}
	}
	if f.validCookie(c^0x80, a, t0) || f.validCookie(c+2, a, t0) {
		t.Error("a changed cookie is valid")
	}
	for port := 1; port <= 20000; port++ {
		k := addrKey(&net.UDPAddr{IP: net.IPv4(10, 0, byte(port>>8), byte(port)), Port: port})
		for slot := uint64(1); slot <= 2; slot++ {
			if c := f.cookie(k, slot); c == 0 || uint64(c&1) != slot&1 {
				t.Fatalf("cookie %#x for slot %d", c, slot)
			}
		}
	}
	// Another gate (another secret) makes other cookies.
	g := newTestFilter(t, kcpFilterConfig{handshakeTimeout: time.Second})
	g.epoch = f.epoch
	if g.validCookie(c, a, t0) {
		t.Error("another gate's cookie is valid")
	}
}

// TestKCPFilterHello: a hello is answered with a cookie for its sender,
// never with more bytes than it had; a short one, one of another version
// and those over kcp_hello_rate are not answered with a cookie; no hello
// reaches kcp-go or leaves state behind.
func TestKCPFilterHello(t *testing.T) {
	f := newTestFilter(t, kcpFilterConfig{helloRate: 3, handshakeTimeout: time.Second})
	p := peer(t)
	now := f.epoch.Add(time.Second)
	hello := rpc.AppendKCPHello(nil, 42)
	if f.admit(hello, udpAddr(p), now) {
		t.Fatal("a hello was passed to KCP")
	}
	r := readReply(t, p)
	c, ok := rpc.ParseKCPCookie(r)
	if !ok || c.Nonce != 42 || c.Status != rpc.KCPCookieOK || c.Version != rpc.KCPHandshakeVersion {
		t.Fatalf("answer %x: %+v, %v", r, c, ok)
	}
	if len(r) > len(hello) {
		t.Fatalf("answer of %d bytes to a hello of %d", len(r), len(hello))
	}
	if !f.validCookie(c.Cookie, addrKey(udpAddr(p)), now) {
		t.Fatal("the cookie is not valid for the hello's sender")
	}
	if n := f.numAddrs(); n != 0 {
		t.Fatalf("%d addresses known after a hello", n)
	}

	// Short (not padded to the size of the answer): dropped, unanswered.
	f.admit(hello[:rpc.KCPHelloSize-1], udpAddr(p), now)
	expectNoReply(t, p)
	if f.dropped[dropMalformed].Load() != 1 {
		t.Fatalf("malformed drops %d, want 1", f.dropped[dropMalformed].Load())
	}

	// Another version: told which one the gate speaks, and no cookie.
	v2 := append([]byte(nil), hello...)
	v2[8] = rpc.KCPHandshakeVersion + 1
	f.admit(v2, udpAddr(p), now)
	c, ok = rpc.ParseKCPCookie(readReply(t, p))
	if !ok || c.Status != rpc.KCPCookieBadVersion || c.Cookie != 0 || c.Version != rpc.KCPHandshakeVersion {
		t.Fatalf("answer to version %d: %+v, %v", v2[8], c, ok)
	}

	// The rate: 3 a second, of which 2 are spent.
	f.admit(hello, udpAddr(p), now)
	if readReply(t, p) == nil {
		t.Fatal("the third hello was not answered")
	}
	f.admit(hello, udpAddr(p), now)
	expectNoReply(t, p)
	if f.dropped[dropHelloRate].Load() != 1 {
		t.Fatalf("hello_rate drops %d, want 1", f.dropped[dropHelloRate].Load())
	}
	f.admit(hello, udpAddr(p), now.Add(time.Second))
	if readReply(t, p) == nil {
		t.Fatal("no answer a second later")
	}
	if f.answered.Load() != 4 {
		t.Fatalf("answered %d, want 4", f.answered.Load())
	}
}

// TestKCPFilterSessions: only a valid cookie opens an address; then only
// its conversation passes, whatever else comes from the address (a new
// conversation with sequence number 0, which kcp-go would take as a new
// session, included); forget frees the address.
func TestKCPFilterSessions(t *testing.T) {
	f := newTestFilter(t, kcpFilterConfig{handshakeTimeout: time.Second})
	p := peer(t)
	ua := udpAddr(p)
	now := f.epoch.Add(time.Second)
	conv := f.cookie(addrKey(ua), f.slot(now))
	heartbeat := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)

	// Junk and a wrong cookie: dropped, nothing known.
	junk := []struct {
		name   string
		d      []byte
		reason int
	}{
		{"short", []byte{1, 2, 3}, dropMalformed},
		{"23 bytes", make([]byte, 23), dropMalformed},
		{"too long", segment(conv, kcpCmdPush, 0, make([]byte, kcpMaxDatagram)), dropMalformed},
		{"FEC", append(binary.LittleEndian.AppendUint32(nil, conv), make([]byte, 30)...), dropMalformed},
		{"conversation 0, not a hello", segment(0, kcpCmdPush, 0, heartbeat), dropMalformed},
		{"another conversation", segment(conv^2, kcpCmdPush, 0, heartbeat), dropBadCookie},
		{"an ACK", segment(conv+4, 82, 0, nil), dropBadCookie},
		{"the cookie, half a header", segment(conv, kcpCmdPush, 0, heartbeat[:3]), dropNoFrame},
		{"the cookie, an ACK", segment(conv, 82, 0, nil), dropNoFrame},
		{"the cookie, a frame in segment 1", segment(conv, kcpCmdPush, 1, heartbeat), dropNoFrame},
	}
	binary.LittleEndian.PutUint16(junk[3].d[4:], kcpFECData)
	for _, j := range junk {
		before := f.dropped[j.reason].Load()
		if f.admit(j.d, ua, now) {
			t.Fatalf("%s: passed", j.name)
		}
		if f.dropped[j.reason].Load() != before+1 {
			t.Fatalf("%s: not counted as %s", j.name, dropNames[j.reason])
		}
	}
	if n := f.numAddrs(); n != 0 {
		t.Fatalf("%d addresses known after junk", n)
	}
	// A first segment without a cookie was answered with the kick of an
	// old client; nothing else was.
	kick := readReply(t, p)
	if len(kick) < kcpOverhead || binary.LittleEndian.Uint32(kick) != conv^2 || kick[4] != kcpCmdPush {
		t.Fatalf("answer to a segment without a cookie: %x", kick)
	}
	typ, body, err := rpc.ReadFrame(strings.NewReader(string(kick[kcpOverhead:])), make([]byte, rpc.HeaderSize), 1<<10)
	if err != nil || typ != rpc.MsgKick || !strings.Contains(string(body), "KCP handshake required") {
		t.Fatalf("kick frame %v %q %v", typ, body, err)
	}
	expectNoReply(t, p)

	// The cookie with a first frame (after an ACK, as kcp-go may send)
	// opens the address, once; then its conversation passes.
	if !f.admit(append(segment(conv, 82, 0, nil), segment(conv, kcpCmdPush, 0, heartbeat)...), ua, now) {
		t.Fatal("a valid cookie did not pass")
	}
	if f.numAddrs() != 1 {
		t.Fatalf("%d addresses known, want 1", f.numAddrs())
	}
	for _, d := range [][]byte{segment(conv, 82, 0, nil), segment(conv, kcpCmdPush, 5, heartbeat)} {
		if !f.admit(d, ua, time.Time{}) {
			t.Fatal("the session's conversation did not pass")
		}
	}
	// Another conversation from the address, even a valid cookie of
	// another slot, never passes.
	later := now.Add(kcpCookieSlot)
	other := f.cookie(addrKey(ua), f.slot(later))
	for _, c := range []uint32{conv ^ 2, conv + 1, other} {
		if f.admit(segment(c, kcpCmdPush, 0, heartbeat), ua, later) {
			t.Fatalf("conversation %#x from the session's address passed", c)
		}
	}
	if got := f.dropped[dropWrongConv].Load(); got != 3 {
		t.Fatalf("wrong_conv drops %d, want 3", got)
	}
	// forget: with another conversation, nothing; with the session's, the
	// address is free for a new cookie.
	f.forget(ua, other)
	if f.numAddrs() != 1 {
		t.Fatal("forget with another conversation freed the address")
	}
	f.forget(ua, conv)
	if f.numAddrs() != 0 {
		t.Fatal("forget did not free the address")
	}
	if !f.admit(segment(other, kcpCmdPush, 0, heartbeat), ua, later) {
		t.Fatal("a new cookie did not pass after forget")
	}
}

// TestKCPFirstFrame: what counts as a session's first segment with its
// first frame.
func TestKCPFirstFrame(t *testing.T) {
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	call := rpc.AppendFrame(nil, rpc.MsgCallEntity, make([]byte, 1000))
	two := append(append([]byte(nil), hb...), call[:10]...)
	frg := segment(1, kcpCmdPush, 0, hb)
	frg[5] = 1
	long := segment(1, kcpCmdPush, 0, hb)
	binary.LittleEndian.PutUint32(long[20:], 7) // says 7 bytes, holds 6
	for _, tc := range []struct {
		name string
		d    []byte
		want bool
	}{
		{"a heartbeat", segment(1, kcpCmdPush, 0, hb), true},
		{"a call", segment(1, kcpCmdPush, 0, call), true},
		{"a heartbeat and part of the next frame", segment(1, kcpCmdPush, 0, two), true},
		{"after an ACK", append(segment(1, 82, 0, nil), segment(1, kcpCmdPush, 0, hb)...), true},
		{"a length below 2 (the reader kicks it)", segment(1, kcpCmdPush, 0, []byte{1, 0, 0, 0, 0, 0}), true},
		{"part of a call", segment(1, kcpCmdPush, 0, call[:500]), false},
		{"half a header", segment(1, kcpCmdPush, 0, hb[:5]), false},
		{"not a whole message", frg, false},
		{"segment 1", segment(1, kcpCmdPush, 1, hb), false},
		{"an ACK", segment(1, 82, 0, nil), false},
		{"a length past the datagram", long, false},
		{"nothing", nil, false},
	} {
		if got := firstFrame(tc.d); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestKCPFilterSessionRate: valid cookies beyond kcp_session_rate are
// dropped without state, and pass once the rate has a token again.
func TestKCPFilterSessionRate(t *testing.T) {
	f := newTestFilter(t, kcpFilterConfig{sessionRate: 2, sessionBurst: 2, handshakeTimeout: time.Second})
	now := f.epoch.Add(time.Second)
	var ps []*net.UDPAddr
	for range 3 {
		ps = append(ps, udpAddr(peer(t)))
	}
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	seg := func(ua *net.UDPAddr) []byte { return segment(f.cookie(addrKey(ua), f.slot(now)), kcpCmdPush, 0, hb) }
	for i, ua := range ps {
		if got := f.admit(seg(ua), ua, now); got != (i < 2) {
			t.Fatalf("session %d: passed = %v", i, got)
		}
	}
	if f.numAddrs() != 2 || f.dropped[dropSessionRate].Load() != 1 {
		t.Fatalf("%d addresses, %d session_rate drops; want 2 and 1", f.numAddrs(), f.dropped[dropSessionRate].Load())
	}
	if !f.admit(seg(ps[2]), ps[2], now.Add(time.Second/2)) {
		t.Fatal("the third session did not pass once the rate had a token")
	}
}

// TestKCPFilterSweep: an address whose datagram passed but for which no
// session was accepted is forgotten after the handshake timeout; an
// accepted one is kept.
func TestKCPFilterSweep(t *testing.T) {
	f := newTestFilter(t, kcpFilterConfig{handshakeTimeout: time.Second})
	now := f.epoch.Add(time.Second)
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	a, b, c := udpAddr(peer(t)), udpAddr(peer(t)), udpAddr(peer(t))
	for _, ua := range []*net.UDPAddr{a, b} {
		conv := f.cookie(addrKey(ua), f.slot(now))
		if !f.admit(segment(conv, kcpCmdPush, 0, hb), ua, now) {
			t.Fatal("a valid cookie did not pass")
		}
	}
	f.accepted(a, f.cookie(addrKey(a), f.slot(now)))
	later := now.Add(2 * time.Second) // past the timeout; cookies of this slot still good
	conv := f.cookie(addrKey(c), f.slot(later))
	if !f.admit(segment(conv, kcpCmdPush, 0, hb), c, later) {
		t.Fatal("a valid cookie did not pass")
	}
	if f.numAddrs() != 2 {
		t.Fatalf("%d addresses after the sweep, want 2 (the accepted one and the new one)", f.numAddrs())
	}
	if !f.admit(segment(f.cookie(addrKey(a), f.slot(now)), 82, 0, nil), a, time.Time{}) {
		t.Fatal("the accepted address was swept")
	}
}

// TestDropLogAtMostOnceASecond: drops are logged with their counts, at
// most one line a second, and what is left at close is logged then.
func TestDropLogAtMostOnceASecond(t *testing.T) {
	var n atomic.Uint64
	var lines atomic.Int32
	var last atomic.Value
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(hookFunc(func(e *logrus.Entry) { lines.Add(1); last.Store(e.Message) }))
	d := newDropLog(log, func() []dropCount { return []dropCount{{"x", n.Load(), "dropped %d things"}} })
	began := time.Now()
	for time.Since(began) < 1500*time.Millisecond {
		n.Add(1)
		d.note()
		time.Sleep(time.Millisecond)
	}
	d.close()
	if l := lines.Load(); l < 2 || l > 3 {
		t.Fatalf("%d lines in 1.5 s (and one at close), want 2 or 3", l)
	}
	if m, _ := last.Load().(string); !strings.HasPrefix(m, "KCP: dropped ") || !strings.HasSuffix(m, " things") {
		t.Fatalf("last line %q", m)
	}
	d.note() // after close: nothing
	if lines.Load() > 3 {
		t.Fatal("logged after close")
	}
}

type hookFunc func(*logrus.Entry)

func (hookFunc) Levels() []logrus.Level       { return logrus.AllLevels }
func (h hookFunc) Fire(e *logrus.Entry) error { h(e); return nil }

// FuzzKCPFilter feeds the filter datagrams from four addresses, with the
// clock moving and sessions accepted and forgotten as the input says.
// Whatever comes, a datagram reaches KCP only with its address's
// conversation or a valid cookie, conversation 0 never does, a dropped
// datagram leaves no state, a hello is answered only when it is at least
// as long as the answer, and answers to old clients stay within their
// rate.
//
// Input: ops of one control byte and, for datagrams, a uint16 LE length
// and that many bytes. Control byte: low 2 bits the address; bits 2-3:
// 0 a datagram as it is, 1 a datagram with the address's current cookie
// as its conversation, 2 the clock moves on (by the high 4 bits × 400 ms),
// 3 accepted or forget (bit 4) of the address's last passed conversation.
func FuzzKCPFilter(f *testing.F) {
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	op := func(ctl byte, d []byte) []byte {
		return append(binary.LittleEndian.AppendUint16([]byte{ctl}, uint16(len(d))), d...)
	}
	f.Add(op(0, rpc.AppendKCPHello(nil, 1)))
	f.Add(op(1<<2, segment(1, kcpCmdPush, 0, hb)))
	f.Add(append(op(1<<2, segment(1, kcpCmdPush, 0, hb)), op(0, segment(5, kcpCmdPush, 0, hb))...))
	f.Add(append(append(op(1<<2|1, segment(1, 82, 0, nil)), 3<<2|1), op(2<<2|0xf0, nil)...))
	f.Add(op(0, segment(77, kcpCmdPush, 0, hb)))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := newTestFilter(t, kcpFilterConfig{sessionRate: 5, sessionBurst: 5, helloRate: 5, handshakeTimeout: time.Second})
		addrs := make([]*net.UDPAddr, 4)
		for i := range addrs {
			// Ports where nothing listens: answers go nowhere.
			addrs[i] = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9 + i}
		}
		last := map[int]uint32{}
		now := fl.epoch.Add(time.Millisecond)
		start := now
		for len(data) > 0 {
			ctl := data[0]
			data = data[1:]
			i := int(ctl & 3)
			ua := addrs[i]
			key := addrKey(ua)
			switch (ctl >> 2) & 3 {
			case 2:
				now = now.Add(time.Duration(ctl>>4) * 400 * time.Millisecond)
				continue
			case 3:
				if c, ok := last[i]; ok {
					if ctl&0x10 != 0 {
						fl.forget(ua, c)
					} else {
						fl.accepted(ua, c)
					}
				}
				continue
			}
			if len(data) < 2 {
				return
			}
			n := min(int(binary.LittleEndian.Uint16(data)), len(data)-2)
			d := append([]byte(nil), data[2:2+n]...)
			data = data[2+n:]
			if (ctl>>2)&3 == 1 && len(d) >= 4 {
				binary.LittleEndian.PutUint32(d, fl.cookie(key, fl.slot(now)))
			}
			fl.mu.Lock()
			known := fl.addrs[key]
			fl.mu.Unlock()
			var conv uint32
			if len(d) >= 4 {
				conv = binary.LittleEndian.Uint32(d)
			}
			valid := len(d) >= 4 && conv != 0 && fl.validCookie(conv, key, now)
			addrsBefore, answeredBefore := fl.numAddrs(), fl.answered.Load()
			passed := fl.admit(d, ua, now)
			switch {
			case passed && conv == 0:
				t.Fatal("conversation 0 passed")
			case passed && known != nil && known.conv != conv:
				t.Fatalf("conversation %#x passed from an address of conversation %#x", conv, known.conv)
			case passed && known == nil && !valid:
				t.Fatalf("conversation %#x passed from a new address without a valid cookie", conv)
			case passed && known == nil && !firstFrame(d):
				t.Fatalf("a new address passed without a whole first frame: %x", d)
			case !passed && fl.numAddrs() > addrsBefore:
				t.Fatal("a dropped datagram left an address behind")
			case fl.answered.Load() > answeredBefore && len(d) < rpc.KCPHelloSize:
				t.Fatalf("a hello of %d bytes was answered", len(d))
			}
			if passed {
				last[i] = conv
			}
			if limit := uint64(kcpOldClientRate) * uint64(2+now.Sub(start)/time.Second); fl.oldKicks.Load() > limit {
				t.Fatalf("%d answers to old clients in %v", fl.oldKicks.Load(), now.Sub(start))
			}
		}
	})
}

// BenchmarkKCPFilterAdmit is the filter's decision on one datagram: from
// a session's address (every datagram of a connected client), from a new
// address without a cookie (junk: one MAC), and a hello (a MAC and the
// answer's sendto).
func BenchmarkKCPFilterAdmit(b *testing.B) {
	hb := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	b.Run("session", func(b *testing.B) {
		f := newTestFilter(b, kcpFilterConfig{handshakeTimeout: time.Second})
		ua := udpAddr(peer(b))
		for i := range 1000 { // a gate with other sessions
			f.addrs[addrKey(&net.UDPAddr{IP: net.IPv4(10, 0, byte(i>>8), byte(i)), Port: 1000 + i})] = &kcpAddr{conv: uint32(i)}
		}
		now := time.Now()
		d := segment(f.cookie(addrKey(ua), f.slot(now)), kcpCmdPush, 0, hb)
		if !f.admit(d, ua, now) {
			b.Fatal("not passed")
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if !f.admit(d, ua, time.Time{}) {
				b.Fatal("not passed")
			}
		}
	})
	b.Run("junk", func(b *testing.B) {
		f := newTestFilter(b, kcpFilterConfig{handshakeTimeout: time.Second})
		ua := udpAddr(peer(b))
		d := segment(12345, 82, 0, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if f.admit(d, ua, time.Time{}) {
				b.Fatal("passed")
			}
		}
	})
	b.Run("hello", func(b *testing.B) {
		f := newTestFilter(b, kcpFilterConfig{handshakeTimeout: time.Second})
		p := peer(b)
		p.SetReadBuffer(8 << 20)
		go io.Copy(io.Discard, p) // keep the socket drained (until it closes)
		d := rpc.AppendKCPHello(nil, 1)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			f.admit(d, udpAddr(p), time.Time{})
		}
	})
}

// BenchmarkKCPListenerRead is what one datagram costs on kcp-go's read
// path (its reader goroutine: read, find the session, KCP input), with
// kcp-go reading the UDP socket itself ("unwrapped": recvmmsg in batches
// of 16) and through the filter ("filtered": the filter reads batches of
// 16 and decides, kcp-go takes them one by one from it); and, through the
// filter, a datagram from an address without a cookie ("junk": read,
// one MAC, dropped; it never reaches kcp-go). The datagrams are KCP
// window-size segments (command 84): KCP's cheapest input, so that the
// read path shows. A sender on the same machine writes them with
// sendmmsg, at most 512 in flight; one op is one datagram handled.
func BenchmarkKCPListenerRead(b *testing.B) {
	for _, name := range []string{"unwrapped", "filtered", "junk"} {
		b.Run(name, func(b *testing.B) {
			uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			uc.SetReadBuffer(4 << 20)
			var pc net.PacketConn = uc
			var f *kcpFilter
			if name != "unwrapped" {
				f = newKCPFilter(uc, kcpFilterConfig{handshakeTimeout: time.Second},
					newDropLog(logrus.New(), func() []dropCount { return nil }))
				pc = f
			}
			l, err := kcp.ServeConn(nil, 0, 0, pc)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { l.Close(); uc.Close() }()
			sender := peer(b)
			conv := uint32(rand.Uint32() | 1)
			if name == "filtered" {
				if conv, err = goclient.KCPHandshake(sender, uc.LocalAddr(), 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
			in := func() uint64 { return atomic.LoadUint64(&kcp.DefaultSnmp.InPkts) }
			if name == "junk" {
				in = func() uint64 { return f.dropped[dropBadCookie].Load() }
			} else {
				// The session opens with its first frame, as the filter wants.
				first := segment(conv, kcpCmdPush, 0, rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil))
				if _, err := sender.WriteTo(first, uc.LocalAddr()); err != nil {
					b.Fatal(err)
				}
				l.SetReadDeadline(time.Now().Add(10 * time.Second))
				s, err := l.AcceptKCP()
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
			}
			seg := segment(conv, 84, 0, nil)
			msgs := make([]ipv4.Message, 64)
			for i := range msgs {
				msgs[i] = ipv4.Message{Buffers: [][]byte{seg}, Addr: uc.LocalAddr()}
			}
			xc := ipv4.NewPacketConn(sender)
			base := in()
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				n, err := xc.WriteBatch(msgs[:min(len(msgs), b.N-sent)], 0)
				if err != nil {
					b.Fatal(err)
				}
				sent += n
				waitKCPIn(b, in, base, sent-512)
			}
			waitKCPIn(b, in, base, b.N)
		})
	}
}

// waitKCPIn waits until KCP took in want datagrams since base.
func waitKCPIn(b *testing.B, in func() uint64, base uint64, want int) {
	if want <= 0 {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for in()-base < uint64(want) {
		if time.Now().After(deadline) {
			b.Fatalf("KCP took in %d of %d datagrams in 10 s (lost?)", in()-base, want)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// TestKCPPendingSessionExpires: a session that kcp-go opened but that
// has no complete frame (the filter lets none through without one; here
// the session comes from a listener without the filter) is pending, not a
// client, and closed once kcp_handshake_timeout has passed, counted and
// logged.
func TestKCPPendingSessionExpires(t *testing.T) {
	var logged atomic.Value
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(hookFunc(func(e *logrus.Entry) { logged.Store(e.Message) }))
	g, err := New(Config{ID: 9, ListenAddr: "127.0.0.1:0", KCP: true, Dispatchers: []string{"127.0.0.1:1"},
		GateTuning: config.GateTuning{KCPHandshakeTimeout: 500 * time.Millisecond},
		Logger:     log})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	raw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := kcp.ServeConn(nil, 0, 0, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close(); raw.Close() }()
	if _, err := peer(t).WriteTo(segment(7, 82, 0, nil), raw.LocalAddr()); err != nil { // an ACK opens it
		t.Fatal(err)
	}
	s, err := l.AcceptKCP()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	g.admitKCP(s)
	if p, n := g.PendingKCP(), g.NumClients(); p != 1 || n != 0 {
		t.Fatalf("%d pending, %d clients; want 1 and 0", p, n)
	}
	for deadline := time.Now().Add(10 * time.Second); g.PendingKCP() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still pending after 10s")
		}
	}
	if waited := time.Since(began); waited < 500*time.Millisecond {
		t.Fatalf("closed after %v, before kcp_handshake_timeout", waited)
	}
	if n, c := g.kcpTimeouts.Load(), g.NumClients(); n != 1 || c != 0 {
		t.Fatalf("%d handshake timeouts, %d clients; want 1 and 0", n, c)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m, _ := logged.Load().(string); strings.Contains(m, "closed 1 sessions that sent no complete frame within kcp_handshake_timeout (500ms)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not logged; last line %q", logged.Load())
		}
	}
}
