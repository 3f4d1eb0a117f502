package gate

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The KCP filter stands between the gate's UDP socket and kcp-go's
// listener (kcp.ServeConn reads from it as from a net.PacketConn). kcp-go
// opens a session, with all its state and goroutines, for the first
// datagram of 24 bytes or more from any new address, and replaces an
// address's session when a datagram from it carries a new conversation ID
// with sequence number 0; UDP source addresses are trivially spoofed. The
// filter lets a datagram reach kcp-go only if
//
//   - its address has a session (or one about to open) and the datagram
//     carries that session's conversation ID: anything else from the
//     address is dropped, so a session is never replaced; or
//   - its address has none, its conversation ID is a cookie the gate
//     gave that address (rpc.AppendKCPCookie) within the last
//     kcpCookieSlot to 2*kcpCookieSlot, it holds the session's first
//     segment (a PUSH with sequence number 0 that is a whole message)
//     beginning with a whole frame, and kcp_session_rate has a token.
//
// So kcp-go opens a session only when the client's first frame comes
// with it: a session costs the gate (kcp-go's state, about 40 KB, and
// two goroutines) only once it is a client, counted against max_clients
// as a TCP connection is. A sender without a cookie, or with one but no
// first frame, costs a MAC per datagram and no memory.
//
// Cookies are answered, statelessly, to hellos (rpc.AppendKCPHello) up to
// kcp_hello_rate a second. A cookie is a MAC, keyed by a secret the gate
// draws at start, of the address and a time slot, so only a sender that
// receives at the address can know it. See docs/protocol.md, section 3.2,
// for the threat model.

const (
	// kcpCookieSlot is the time slot of cookies: a cookie is made for the
	// current slot, and cookies of the current and the previous slot are
	// valid, so a cookie is good for between one and two slots.
	kcpCookieSlot = 5 * time.Second
	// kcpMaxDatagram is the largest datagram passed to kcp-go: its own
	// read buffer (mtuLimit in kcp-go). Larger ones would be cut short.
	kcpMaxDatagram = 1500
	// kcpOverhead is the size of a KCP segment header.
	kcpOverhead = 24
	// kcpBatch is how many datagrams one read takes from the socket
	// (recvmmsg on Linux), as kcp-go's own reader does.
	kcpBatch = 16
	// kcpOldClientRate bounds, per second, the answers sent to KCP clients
	// that skipped the handshake (see oldClient).
	kcpOldClientRate = 10
)

// KCP command and FEC values the filter looks at (kcp-go's constants).
const (
	kcpCmdPush   = 81
	kcpFECData   = 0xf1
	kcpFECParity = 0xf2
)

// kcpOldClientReason is the kick sent to a KCP client whose first segment
// carries no cookie: it began without the handshake.
const kcpOldClientReason = "KCP handshake required: this gate opens a KCP session only for a conversation ID it gave out in answer to a hello (docs/protocol.md, 3.2); update the client"

// Reasons a datagram is dropped, as counted in /metrics
// (goworld_gate_kcp_dropped_total{reason}).
const (
	dropMalformed   = iota // too short or long, FEC, not a hello though conversation 0
	dropBadCookie          // a new address without a valid cookie
	dropWrongConv          // a known address, another conversation
	dropNoFrame            // a valid cookie without a whole first frame in segment 0
	dropSessionRate        // a valid cookie over kcp_session_rate
	dropHelloRate          // a hello over kcp_hello_rate
	numDropReasons
)

var dropNames = [numDropReasons]string{"malformed", "bad_cookie", "wrong_conv", "no_frame", "session_rate", "hello_rate"}

// kcpAddr is what the filter knows of one client address: the
// conversation its session has (or will have once kcp-go opens it).
type kcpAddr struct {
	conv  uint32
	since time.Time
}

// kcpFilterConfig configures a kcpFilter.
type kcpFilterConfig struct {
	sessionRate, sessionBurst int           // kcp_session_rate, kcp_session_burst (rate 0: unlimited)
	helloRate                 int           // kcp_hello_rate (0: unlimited); the burst is one second's worth
	handshakeTimeout          time.Duration // how long an address waits for kcp-go to open its session
}

// kcpFilter is the net.PacketConn kcp-go's listener reads: see above.
// ReadFrom is called by kcp-go's one reader goroutine only; WriteTo by
// every session; accepted and forget by the gate.
type kcpFilter struct {
	conn  *net.UDPConn
	batch interface {
		ReadBatch([]ipv4.Message, int) (int, error)
	} // nil: one datagram per read
	cfg   kcpFilterConfig
	epoch time.Time // cookie slots count from here (monotonic clock)

	// The reader goroutine's own:
	msgs        []ipv4.Message
	next, count int
	mac         hash.Hash
	macIn       [8 + 16 + 2]byte // slot, address, port (a field: on the stack it would escape)
	sum         []byte
	hellos      bucket
	sessions    bucket
	olds        bucket
	reply       []byte
	oldKick     []byte // the kick of oldClient, conv and ts to fill in
	lastSweep   time.Time

	mu    sync.Mutex
	addrs map[netip.AddrPort]*kcpAddr // every address whose conversation passes
	fresh map[netip.AddrPort]*kcpAddr // those kcp-go has not opened a session for yet

	dropped  [numDropReasons]atomic.Uint64
	answered atomic.Uint64 // hellos answered
	oldKicks atomic.Uint64 // handshake-less clients told so
	drops    *dropLog
}

// newKCPFilter filters what conn receives; drops are logged through
// drops.
func newKCPFilter(conn *net.UDPConn, cfg kcpFilterConfig, drops *dropLog) *kcpFilter {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	f := &kcpFilter{
		conn: conn, cfg: cfg, epoch: time.Now(),
		msgs:     make([]ipv4.Message, kcpBatch),
		mac:      hmac.New(sha256.New, key),
		sum:      make([]byte, 0, sha256.Size),
		hellos:   newBucket(cfg.helloRate, max(cfg.helloRate, 1)),
		sessions: newBucket(cfg.sessionRate, max(cfg.sessionBurst, 1)),
		olds:     newBucket(kcpOldClientRate, kcpOldClientRate),
		reply:    make([]byte, 0, rpc.KCPCookieSize),
		addrs:    map[netip.AddrPort]*kcpAddr{},
		fresh:    map[netip.AddrPort]*kcpAddr{},
		drops:    drops,
	}
	for i := range f.msgs {
		// One byte more than kcp-go takes: a longer datagram shows.
		f.msgs[i].Buffers = [][]byte{make([]byte, kcpMaxDatagram+1)}
	}
	if runtime.GOOS == "linux" { // elsewhere ReadBatch reads one, or nothing (Windows)
		if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
			f.batch = ipv4.NewPacketConn(conn)
		} else {
			f.batch = ipv6.NewPacketConn(conn)
		}
	}
	frame := rpc.AppendFrame(nil, rpc.MsgKick, rpc.AppendString(nil, kcpOldClientReason))
	seg := make([]byte, kcpOverhead, kcpOverhead+len(frame))
	seg[4] = kcpCmdPush
	binary.LittleEndian.PutUint16(seg[6:], 128) // window
	binary.LittleEndian.PutUint32(seg[20:], uint32(len(frame)))
	f.oldKick = append(seg, frame...)
	return f
}

// ReadFrom returns the next datagram that passes the filter. It handles
// (answers or drops) every other one on the way.
func (f *kcpFilter) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if f.next == f.count {
			if err := f.fill(); err != nil {
				return 0, nil, err
			}
		}
		m := &f.msgs[f.next]
		f.next++
		d := m.Buffers[0][:m.N]
		if ua, ok := m.Addr.(*net.UDPAddr); ok && f.admit(d, ua, time.Time{}) {
			return copy(p, d), ua, nil
		}
	}
}

// fill reads the next datagrams from the socket.
func (f *kcpFilter) fill() error {
	f.next, f.count = 0, 0
	if f.batch != nil {
		n, err := f.batch.ReadBatch(f.msgs, 0)
		if err == nil {
			f.count = n
			return nil
		}
		if !isNoRecvmmsg(err) {
			return err
		}
		f.batch = nil // an old kernel: one at a time, as kcp-go does
	}
	m := &f.msgs[0]
	n, addr, err := f.conn.ReadFromUDP(m.Buffers[0])
	if err != nil {
		return err
	}
	m.N, m.Addr, f.count = n, addr, 1
	return nil
}

// isNoRecvmmsg reports whether err says the kernel has no recvmmsg.
func isNoRecvmmsg(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se) && se.Syscall == "recvmmsg"
}

// addrKey is the key of a UDP address in the filter's maps.
func addrKey(ua *net.UDPAddr) netip.AddrPort {
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// admit decides whether datagram d from ua goes to kcp-go, and answers
// a hello. now, if zero, is read from the clock when needed (tests pass
// their own).
func (f *kcpFilter) admit(d []byte, ua *net.UDPAddr, now time.Time) bool {
	if len(d) < kcpOverhead || len(d) > kcpMaxDatagram {
		f.drop(dropMalformed)
		return false
	}
	conv := binary.LittleEndian.Uint32(d)
	if conv == 0 {
		f.hello(d, ua, now)
		return false
	}
	if fec := binary.LittleEndian.Uint16(d[4:]); fec == kcpFECData || fec == kcpFECParity {
		f.drop(dropMalformed) // the gate uses no FEC
		return false
	}
	key := addrKey(ua)
	f.mu.Lock()
	e := f.addrs[key]
	f.mu.Unlock()
	if e != nil {
		if e.conv != conv {
			f.drop(dropWrongConv)
			return false
		}
		return true
	}
	if now.IsZero() {
		now = time.Now()
	}
	if !f.validCookie(conv, key, now) {
		f.drop(dropBadCookie)
		f.oldClient(d, ua, now)
		return false
	}
	if !firstFrame(d) {
		f.drop(dropNoFrame)
		return false
	}
	if !f.sessions.take(now, 1) {
		f.drop(dropSessionRate)
		return false
	}
	e = &kcpAddr{conv: conv, since: now}
	f.mu.Lock()
	f.addrs[key], f.fresh[key] = e, e
	if now.Sub(f.lastSweep) >= time.Second {
		f.lastSweep = now
		f.sweepLocked(now)
	}
	f.mu.Unlock()
	return true
}

// firstFrame reports whether datagram d holds a session's first segment,
// a PUSH with sequence number 0 and fragment 0 (a whole KCP message),
// whose data begins with a whole frame: a header whose length the data
// holds, or one whose length is below 2, which the client's reader
// refuses with a kick. (A frame's length is checked against
// max_client_packet_size by that reader; one segment holds at most 1,476
// bytes anyway.) The segments of d are walked as kcp-go walks them.
func firstFrame(d []byte) bool {
	for len(d) >= kcpOverhead {
		n := binary.LittleEndian.Uint32(d[20:])
		if uint64(n) > uint64(len(d)-kcpOverhead) {
			return false
		}
		if d[4] == kcpCmdPush && binary.LittleEndian.Uint32(d[12:]) == 0 {
			data := d[kcpOverhead : kcpOverhead+int(n)]
			if d[5] != 0 || len(data) < rpc.HeaderSize {
				return false
			}
			length := binary.LittleEndian.Uint32(data)
			return length < 2 || uint64(length)+4 <= uint64(len(data))
		}
		d = d[kcpOverhead+int(n):]
	}
	return false
}

// sweepLocked forgets the addresses whose datagram passed but for which
// kcp-go opened no session within the handshake timeout (its queue of
// new sessions was full, say, and the client gave up).
func (f *kcpFilter) sweepLocked(now time.Time) {
	for k, e := range f.fresh {
		if now.Sub(e.since) > f.cfg.handshakeTimeout {
			delete(f.fresh, k)
			if f.addrs[k] == e {
				delete(f.addrs, k)
			}
		}
	}
}

// hello answers a hello with a cookie for its sender's address, within
// kcp_hello_rate.
func (f *kcpFilter) hello(d []byte, ua *net.UDPAddr, now time.Time) {
	version, nonce, ok := rpc.ParseKCPHello(d)
	if !ok {
		f.drop(dropMalformed)
		return
	}
	if now.IsZero() {
		now = time.Now()
	}
	if !f.hellos.take(now, 1) {
		f.drop(dropHelloRate)
		return
	}
	if version != rpc.KCPHandshakeVersion {
		f.reply = rpc.AppendKCPCookie(f.reply[:0], rpc.KCPCookieBadVersion, nonce, 0)
	} else {
		f.reply = rpc.AppendKCPCookie(f.reply[:0], rpc.KCPCookieOK, nonce, f.cookie(addrKey(ua), f.slot(now)))
	}
	f.conn.WriteToUDP(f.reply, ua) // lost: the client asks again
	f.answered.Add(1)
}

// oldClient answers the first segment (a PUSH with sequence number 0) of
// a KCP client that skipped the handshake: a client older than it, or
// one whose cookie ran out. The answer is a KCP segment of the client's
// own conversation carrying MsgKick with kcpOldClientReason, so that
// such a client reports why rather than waiting in silence. It is larger
// than the segment it answers, so these answers are bounded at
// kcpOldClientRate a second in all: anyone can make the gate send one to
// an address of their choice, and at this rate that is worth nothing as
// a flood.
func (f *kcpFilter) oldClient(d []byte, ua *net.UDPAddr, now time.Time) {
	if d[4] != kcpCmdPush || binary.LittleEndian.Uint32(d[12:]) != 0 || !f.olds.take(now, 1) {
		return
	}
	copy(f.oldKick[0:4], d[0:4])   // conv
	copy(f.oldKick[8:12], d[8:12]) // ts, echoed as KCP does
	f.oldKicks.Add(1)              // before the answer, which a test may read at once
	f.conn.WriteToUDP(f.oldKick, ua)
}

// slot is the cookie slot of time now.
func (f *kcpFilter) slot(now time.Time) uint64 {
	return uint64(max(now.Sub(f.epoch), 0)/kcpCookieSlot) + 1 // slot 0 is "before the start"
}

// cookie is the cookie of address key in slot: 31 bits of HMAC-SHA256
// (under the gate's secret) of the slot and the address, and the slot's
// parity in the lowest bit, so that checking one takes one MAC. It is
// never 0, the conversation of handshake datagrams.
func (f *kcpFilter) cookie(key netip.AddrPort, slot uint64) uint32 {
	in := &f.macIn
	binary.LittleEndian.PutUint64(in[0:], slot)
	a := key.Addr().As16()
	copy(in[8:], a[:])
	binary.LittleEndian.PutUint16(in[24:], key.Port())
	f.mac.Reset()
	f.mac.Write(in[:])
	f.sum = f.mac.Sum(f.sum[:0])
	c := binary.LittleEndian.Uint32(f.sum) &^ 1
	if c == 0 {
		c = 2
	}
	return c | uint32(slot&1)
}

// validCookie reports whether conv is the cookie of key in the current
// slot or the one before.
func (f *kcpFilter) validCookie(conv uint32, key netip.AddrPort, now time.Time) bool {
	slot := f.slot(now)
	if uint64(conv&1) != slot&1 {
		slot-- // the previous slot (slot 0 has no cookies: the 0 below never matches)
		if slot == 0 {
			return false
		}
	}
	return subtle.ConstantTimeEq(int32(f.cookie(key, slot)), int32(conv)) == 1
}

// accepted records that kcp-go opened the session of conversation conv
// for address ra and the gate took it.
func (f *kcpFilter) accepted(ra net.Addr, conv uint32) {
	ua, ok := ra.(*net.UDPAddr)
	if !ok {
		return
	}
	key := addrKey(ua)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.addrs[key]
	switch {
	case e == nil:
		// Swept while kcp-go's queue held it: the session is real.
		f.addrs[key] = &kcpAddr{conv: conv, since: time.Now()}
	case e.conv == conv:
		delete(f.fresh, key)
	}
}

// forget removes address ra, if its conversation is conv: its session
// is closed, and a new one may be opened with a new cookie.
func (f *kcpFilter) forget(ra net.Addr, conv uint32) {
	ua, ok := ra.(*net.UDPAddr)
	if !ok {
		return
	}
	key := addrKey(ua)
	f.mu.Lock()
	if e := f.addrs[key]; e != nil && e.conv == conv {
		delete(f.addrs, key)
		delete(f.fresh, key)
	}
	f.mu.Unlock()
}

// numAddrs returns the number of addresses whose conversation passes.
func (f *kcpFilter) numAddrs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.addrs)
}

func (f *kcpFilter) drop(reason int) {
	f.dropped[reason].Add(1)
	f.drops.note()
}

// WriteTo sends a session's datagram.
func (f *kcpFilter) WriteTo(p []byte, addr net.Addr) (int, error) { return f.conn.WriteTo(p, addr) }

// Close closes the socket: ReadFrom then fails, which ends kcp-go's
// reader.
func (f *kcpFilter) Close() error { return f.conn.Close() }

// LocalAddr returns the socket's address.
func (f *kcpFilter) LocalAddr() net.Addr { return f.conn.LocalAddr() }

// SetDeadline sets the socket's deadlines.
func (f *kcpFilter) SetDeadline(t time.Time) error { return f.conn.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (f *kcpFilter) SetReadDeadline(t time.Time) error { return f.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (f *kcpFilter) SetWriteDeadline(t time.Time) error { return f.conn.SetWriteDeadline(t) }

// dropLog logs what the KCP filter and the handshake stage turned away,
// at most one line a second, with the counts since the previous line.
type dropLog struct {
	log    logrus.FieldLogger
	counts func() []dropCount // the totals now

	pending atomic.Bool // a line is due: note has nothing to do
	mu      sync.Mutex
	last    time.Time
	logged  map[string]uint64 // the totals of the last line
	timer   *time.Timer
	closed  bool
}

// dropCount is one total of a dropLog, and how to say it: format takes
// the count since the last line.
type dropCount struct {
	key    string
	n      uint64
	format string
}

func newDropLog(log logrus.FieldLogger, counts func() []dropCount) *dropLog {
	return &dropLog{log: log, counts: counts, logged: map[string]uint64{}}
}

// note says that a count went up: a line follows within a second.
func (d *dropLog) note() {
	if d.pending.Load() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending.Load() || d.closed {
		return
	}
	d.pending.Store(true)
	wait := time.Until(d.last.Add(time.Second))
	if wait <= 0 {
		d.flushLocked()
		return
	}
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.closed {
			d.flushLocked()
		}
	})
}

// flushLocked logs the counts that went up since the last line.
func (d *dropLog) flushLocked() {
	d.pending.Store(false)
	d.timer = nil
	now := time.Now()
	var parts []string
	for _, c := range d.counts() {
		if n := c.n - d.logged[c.key]; n > 0 {
			parts = append(parts, fmt.Sprintf(c.format, n))
		}
		d.logged[c.key] = c.n
	}
	if len(parts) > 0 {
		d.log.Warn("KCP: " + strings.Join(parts, "; "))
	}
	d.last = now
}

// close logs what is left and stops the timer.
func (d *dropLog) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.flushLocked()
	d.closed = true
}
