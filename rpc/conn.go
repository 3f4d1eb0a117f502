package rpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/internal/nowait"
)

// errWrite wraps the error of a failed write, the reason of the
// connection's close.
var errWrite = errors.New("rpc: write")

// errRead wraps the error of a failed read (not EOF, a deadline or a
// local close).
var errRead = errors.New("rpc: read")

// Errors that a Conn reports as the reason it closed.
var (
	// ErrSlowConsumer: the peer did not read fast enough to keep the send
	// buffer under ConnConfig.MaxPending.
	ErrSlowConsumer = errors.New("rpc: slow consumer: send buffer full")
	// ErrConnClosed is returned by Send on a closed connection.
	ErrConnClosed = errors.New("rpc: connection closed")
	// ErrIdleTimeout: nothing arrived for ConnConfig.IdleTimeout.
	ErrIdleTimeout = errors.New("rpc: idle timeout")
	// ErrPeerClosed: the peer closed the connection.
	ErrPeerClosed = errors.New("rpc: connection closed by peer")
)

// ConnConfig configures a Conn. Zero values take the defaults noted.
type ConnConfig struct {
	// MaxBody is the largest frame body accepted from the peer (default 64 KiB).
	MaxBody int
	// MaxPending is the most bytes queued for sending before the peer is
	// closed as a slow consumer (default 1 MiB); with Backpressure, the
	// bytes queued past which senders wait.
	MaxPending int
	// Backpressure makes MaxPending a mark for the senders to wait at
	// rather than a bound to close at: the right thing for a link between
	// servers, where closing forgets the peer's state (a game's entities,
	// a gate's clients). A sender that filled the queue past MaxPending
	// through a Batch with Backpressure set waits, in the Batch's Flush,
	// until the writer has brought it down to half of MaxPending (or the
	// connection closed). The connection closes as a slow consumer only
	// past twice MaxPending (senders that do not wait) or when a write
	// makes no progress for WriteTimeout (a peer that reads nothing is
	// dead, or stopped for too long).
	Backpressure bool
	// ReadBufferSize > 0 reads through a bufio.Reader of that size (good for
	// busy server links); 0 reads frames straight from the socket, which
	// keeps an idle connection small (good for clients at a gate).
	ReadBufferSize int
	// RetainBuffer is the largest send buffer kept for reuse once the
	// writer has drained; larger ones are dropped so that an idle
	// connection holds no big buffer (default 4 KiB).
	RetainBuffer int
	// IdleTimeout closes the connection when no frame arrives for this
	// long (0: never).
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to the socket (default 10s), so a peer
	// that stopped reading cannot hold a writer forever. A write is given
	// between half of it and all of it: the deadline is moved only when
	// less than half is left, which saves a timer update per write.
	WriteTimeout time.Duration
	// DrainAfterWriteError, if positive, keeps the reader going for up to
	// this long after a write fails, so that the peer's last frames (a
	// kick saying why it closed) are still handled. The write error is
	// the connection's reason unless the handler ends it first. Meanwhile
	// Send fails with ErrConnClosed. Zero closes at once.
	DrainAfterWriteError time.Duration
	// Farewell, if set, is asked for a last frame to send when the reader
	// closes the connection because of the peer's input (an oversized or
	// malformed frame, an idle timeout). If it returns ok, that frame is
	// flushed before the connection closes, so the peer learns why.
	Farewell func(reason error) (t MsgType, body []byte, ok bool)
	// Stats, if set, counts the connection's traffic (see SetStats).
	Stats *ConnStats
	// OnPanic, if set, is called on the reader goroutine when the handler
	// panics, with the frame's type and body, the panic's value and the
	// stack: the place to log and count it. If it returns nil the
	// connection keeps serving (the frame is dropped); otherwise it closes
	// with that error as its reason. Without OnPanic a panic closes the
	// connection with an error that names the message type and the panic.
	OnPanic func(t MsgType, body []byte, p any, stack []byte) error
	// AfterBatch, if set, runs on the reader goroutine once it has handled
	// every whole frame that had already arrived, before it waits for more
	// (and at most every maxBatchFrames frames), and once more when Serve
	// returns. A handler that queues its output in a Batch flushes it
	// here, so that the frames one read brought in go out in one write
	// per destination.
	AfterBatch func()
}

// maxBatchFrames bounds the frames a reader handles between two
// AfterBatch calls, so that a long run of buffered input cannot hold
// back the output of its first frames.
const maxBatchFrames = 1024

func (c *ConnConfig) fill() {
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1 << 20
	}
	if c.RetainBuffer <= 0 {
		c.RetainBuffer = 4 << 10
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
}

// Handler handles one frame on the connection's reader goroutine. body is
// owned by the handler from then on. A non-nil error closes the connection
// with that error as the reason.
type Handler func(t MsgType, body []byte) error

// Conn is a framed connection with one reader (the goroutine that calls
// Serve) and a writer goroutine that runs only while there is something to
// send. Send and the other methods are safe for concurrent use. Senders
// never block on the network: frames are appended to a buffer bounded by
// MaxPending, and the writer flushes all that is queued in one write.
type Conn struct {
	nc    net.Conn
	raw   *nowait.Writer // for writes that must not block; nil: none
	nww   NoWaitWriter   // nc itself, if it writes in place its own way; nil: none
	cfg   ConnConfig
	r     io.Reader
	br    *bufio.Reader // r, when reads are buffered
	hdr   [HeaderSize]byte
	stats atomic.Pointer[ConnStats]
	idle  atomic.Int64 // IdleTimeout, as time.Duration (see SetIdleTimeout)

	mu          sync.Mutex
	out         []byte        // queued bytes, owned by senders
	head        int           // the largest single append in out: it may exceed the bound
	spare       []byte        // the writer's last buffer, reused for out
	writing     bool          // a writer (goroutine, or Batch.Flush writing in place) is running
	batch       *Batch        // the Batch this connection was last added to
	wdeadline   time.Time     // the socket's write deadline; only the writer touches it
	inflight    int           // bytes taken by the writer and not yet written
	room        chan struct{} // closed when queued bytes drop to MaxPending/2 (Backpressure); nil: no waiter
	writeErr    error         // a failed write, while the reader drains (DrainAfterWriteError)
	draining    atomic.Bool
	closed      bool
	flushClose  bool  // close once out is flushed
	flushReason error // reason for the flush-close
	reason      error

	done chan struct{}
	wg   sync.WaitGroup // the writer goroutine
}

// NewConn wraps nc. Call Serve to read from it.
func NewConn(nc net.Conn, cfg ConnConfig) *Conn {
	cfg.fill()
	c := &Conn{nc: nc, cfg: cfg, r: nc, done: make(chan struct{})}
	if cfg.ReadBufferSize > 0 {
		c.br = bufio.NewReaderSize(nc, cfg.ReadBufferSize)
		c.r = c.br
	}
	if rc := rawConn(nc); rc != nil {
		c.raw = nowait.NewWriter(rc)
	} else if w, ok := nc.(NoWaitWriter); ok {
		c.nww = w
	}
	c.idle.Store(int64(cfg.IdleTimeout))
	if cfg.Stats != nil {
		c.stats.Store(cfg.Stats)
	}
	return c
}

// SetStats makes s count the connection's traffic from now on (nil: no
// counting), for a server that learns what kind of peer it talks to only
// after a handshake.
func (c *Conn) SetStats(s *ConnStats) { c.stats.Store(s) }

// SetIdleTimeout replaces ConnConfig.IdleTimeout (0: never) from the
// next frame's read on: for a client that learns its server's heartbeat
// settings once connected. A read under way keeps the deadline it had.
func (c *Conn) SetIdleTimeout(d time.Duration) { c.idle.Store(int64(max(d, 0))) }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done is closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Reason returns why the connection closed (nil while open).
func (c *Conn) Reason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// ReadFrame reads one frame directly, for handshakes before Serve.
func (c *Conn) ReadFrame() (MsgType, []byte, error) {
	return ReadFrame(c.r, c.hdr[:], c.cfg.MaxBody)
}

// ErrHandlerPanic is the reason of a connection closed because its
// handler panicked (see ConnConfig.OnPanic).
var ErrHandlerPanic = errors.New("rpc: panic handling a frame")

// Serve reads frames and passes them to h until the connection closes,
// then returns the reason. It must be called at most once; the calling
// goroutine is the connection's reader. Serve recovers a panic in h for
// each frame (see ConnConfig.OnPanic), so one bad frame cannot take the
// process down.
func (c *Conn) Serve(h Handler) (reason error) {
	defer func() {
		if p := recover(); p != nil { // AfterBatch's, or the reader's own
			c.Close(fmt.Errorf("%w: %v", ErrHandlerPanic, p))
		}
		if c.cfg.AfterBatch != nil {
			c.cfg.AfterBatch()
		}
		reason = c.Reason()
	}()
	batched := 0 // frames handled since the last AfterBatch
	for {
		if c.cfg.AfterBatch != nil && batched > 0 && (batched >= maxBatchFrames || !c.frameBuffered()) {
			c.cfg.AfterBatch()
			batched = 0
		}
		if idle := time.Duration(c.idle.Load()); idle > 0 && !c.draining.Load() {
			c.nc.SetReadDeadline(time.Now().Add(idle))
			if c.draining.Load() { // writeFailed ran meanwhile: its deadline wins
				c.nc.SetReadDeadline(time.Now().Add(c.cfg.DrainAfterWriteError))
			}
		}
		t, body, err := ReadFrame(c.r, c.hdr[:], c.cfg.MaxBody)
		if err != nil {
			why := readError(err)
			if c.draining.Load() {
				c.mu.Lock()
				why = c.writeErr
				c.mu.Unlock()
			}
			if c.cfg.Farewell != nil && (errors.Is(why, ErrIdleTimeout) ||
				errors.Is(why, ErrFrameTooLarge) || errors.Is(why, ErrFrameTooShort) || isPeerFault(why)) {
				if ft, fb, ok := c.cfg.Farewell(why); ok {
					c.Send(ft, fb)
					c.CloseAfterFlush(why)
					<-c.done
					return
				}
			}
			c.Close(why)
			return
		}
		if s := c.stats.Load(); s != nil {
			s.FramesIn.Add(1)
			s.BytesIn.Add(uint64(HeaderSize + len(body)))
		}
		batched++
		if err := c.handle(h, t, body); err != nil {
			c.Close(err)
			return
		}
	}
}

// handle runs h on one frame, turning a panic into OnPanic's verdict.
func (c *Conn) handle(h Handler, t MsgType, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if c.cfg.OnPanic == nil {
				err = fmt.Errorf("%w: %v: %v", ErrHandlerPanic, t, p)
				return
			}
			err = c.cfg.OnPanic(t, body, p, debug.Stack())
		}
	}()
	return h(t, body)
}

// frameBuffered reports whether a whole frame is already buffered, so
// that reading it will not wait on the network.
func (c *Conn) frameBuffered() bool {
	if c.br == nil {
		return false
	}
	n := c.br.Buffered()
	if n < HeaderSize {
		return false
	}
	hdr, err := c.br.Peek(lengthSize)
	if err != nil {
		return false
	}
	return uint64(n) >= lengthSize+uint64(binary.LittleEndian.Uint32(hdr))
}

// RawSocketer is implemented by a net.Conn that wraps a stream socket
// and adds nothing to the bytes written (a gate's TCP client, whose
// wrapper only changes how it closes). A Conn writes such a socket in
// place, without a writer goroutine, as it writes a bare *net.TCPConn.
type RawSocketer interface {
	RawSocket() syscall.Conn
}

// NoWaitWriter is implemented by a net.Conn that adds its own framing to
// the bytes written (a WebSocket) and can still write without waiting
// for room, as a Conn writes a bare socket (see internal/nowait). A Conn
// writes such a connection in place, without a writer goroutine, unless
// the socket is full.
type NoWaitWriter interface {
	// WriteNoWait writes as much of p as the connection takes now,
	// without waiting, and returns how much of p it took; a full socket
	// is not an error. Its next Write must start with the rest of p
	// (what is left may be the middle of one of the transport's frames).
	WriteNoWait(p []byte) (int, error)
}

// PeerFault is implemented by the read errors of a transport that mean
// the peer broke the transport's own rules (a WebSocket text message,
// say). A Conn with a Farewell tells such a peer why it is closed, as it
// tells a peer that sent a frame too large.
type PeerFault interface {
	error
	PeerFault() bool
}

func isPeerFault(err error) bool {
	var pf PeerFault
	return errors.As(err, &pf) && pf.PeerFault()
}

func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return ErrPeerClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrIdleTimeout
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe):
		return ErrConnClosed
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrFrameTooShort):
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrIdleTimeout // KCP sessions report deadlines with their own error type
	}
	return fmt.Errorf("%w: %w", errRead, err)
}

// Send queues one frame. body is copied; the caller may reuse it. After
// Close or CloseAfterFlush, Send returns ErrConnClosed and queues nothing.
func (c *Conn) Send(t MsgType, body []byte) error {
	return c.Append(func(b []byte) []byte { return AppendFrame(b, t, body) })
}

// SendFrame queues bytes that already hold one or more whole frames.
func (c *Conn) SendFrame(frame []byte) error {
	return c.Append(func(b []byte) []byte { return append(b, frame...) })
}

// Append lets fn append whole frames straight into the send buffer, which
// saves a copy for frames built from parts. fn runs under the connection's
// lock: it must only append and must not call into the Conn.
func (c *Conn) Append(fn func([]byte) []byte) error {
	return c.append(nil, fn)
}

// append queues what fn appends. With a nil Batch it starts the writer
// goroutine if none runs; otherwise it adds c to b, whose Flush writes.
func (c *Conn) append(b *Batch, fn func([]byte) []byte) error {
	c.mu.Lock()
	if c.closed || c.flushClose || c.writeErr != nil {
		c.mu.Unlock()
		return ErrConnClosed
	}
	before := len(c.out)
	c.out = fn(c.out)
	if added := len(c.out) - before; before == 0 || added > c.head {
		c.head = added
	}
	// Over the bound is a slow consumer. The largest single append queued
	// does not count: one frame larger than the bound may pass, since a
	// reader that keeps up drains it like any other, whatever small frame
	// happens to be queued before it. With Backpressure the bound is twice
	// MaxPending, counting what the writer holds, and a Batch sender past
	// MaxPending waits in Flush.
	limit, n := c.cfg.MaxPending, len(c.out)
	if c.cfg.Backpressure {
		limit, n = 2*c.cfg.MaxPending, n+c.inflight
		if n > c.cfg.MaxPending && b != nil && b.Backpressure {
			b.wait(c)
		}
	}
	if n-c.head > limit {
		c.mu.Unlock()
		if s := c.stats.Load(); s != nil {
			s.SlowConsumers.Add(1)
		}
		c.Close(fmt.Errorf("%w (%d bytes queued, limit %d)", ErrSlowConsumer, n, limit))
		return ErrSlowConsumer
	}
	if s := c.stats.Load(); s != nil && len(c.out) > before {
		s.FramesOut.Add(1)
	}
	if c.writing {
		c.mu.Unlock() // the running writer takes it
		return nil
	}
	if b != nil {
		if c.batch != b {
			c.batch = b
			b.conns = append(b.conns, c)
		}
		c.mu.Unlock()
		return nil
	}
	c.writing = true
	c.wg.Add(1)
	c.mu.Unlock()
	go c.writeLoop()
	return nil
}

// Pending returns the number of bytes queued and not yet written.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out)
}

// Queued returns the bytes queued and not yet written, including those
// the writer is writing (Pending does not count them).
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out) + c.inflight
}

// Idle reports whether everything queued has been written (or dropped by
// a close): nothing is queued and no write is in progress.
func (c *Conn) Idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out) == 0 && !c.writing
}

// takeLocked hands what is queued to the writer, or, with nothing queued
// (or the connection closed), ends the writer's turn and returns nil. A
// flush-close that is due is returned for the caller to do, unlocked.
func (c *Conn) takeLocked() (buf []byte, flushClose bool, why error) {
	if c.closed || len(c.out) == 0 {
		c.writing = false
		flushClose, why = c.flushClose && !c.closed, c.flushReason
		if cap(c.spare) > c.cfg.RetainBuffer {
			c.spare = nil
		}
		if len(c.out) == 0 && cap(c.out) > c.cfg.RetainBuffer {
			c.out = nil
		}
		return nil, flushClose, why
	}
	buf = c.out
	c.out = c.spare[:0]
	c.spare = nil
	c.head = 0
	c.inflight = len(buf)
	return buf, false, nil
}

// wroteLocked records n bytes of the writer's buffer written and wakes
// senders waiting for room (Backpressure) once the queue is down to half
// of MaxPending.
func (c *Conn) wroteLocked(n int) {
	c.inflight = max(c.inflight-n, 0)
	if c.room != nil && (c.closed || len(c.out)+c.inflight <= c.cfg.MaxPending/2) {
		close(c.room)
		c.room = nil
	}
}

// waitRoom waits, for a sender that filled the queue past MaxPending
// (Backpressure), until the writer has brought it down to half, or the
// connection closed. A writer is running: the Batch flushed first.
func (c *Conn) waitRoom() {
	c.mu.Lock()
	if c.closed || len(c.out)+c.inflight <= c.cfg.MaxPending {
		c.mu.Unlock()
		return
	}
	if c.room == nil {
		c.room = make(chan struct{})
	}
	room := c.room
	c.mu.Unlock()
	start := time.Now()
	select {
	case <-room:
	case <-c.done:
	}
	if s := c.stats.Load(); s != nil {
		s.Stalls.Add(1)
		s.StallNanos.Add(uint64(time.Since(start)))
	}
}

// moveWriteDeadline keeps the socket's write deadline at least half of
// WriteTimeout ahead. Only the writer calls it.
func (c *Conn) moveWriteDeadline() {
	if now := time.Now(); c.wdeadline.Sub(now) < c.cfg.WriteTimeout/2 {
		c.wdeadline = now.Add(c.cfg.WriteTimeout)
		c.nc.SetWriteDeadline(c.wdeadline)
	}
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		buf, flushClose, why := c.takeLocked()
		c.mu.Unlock()
		if buf == nil {
			if flushClose {
				c.Close(why)
			}
			return
		}
		err := c.writeAll(buf)
		c.mu.Lock()
		c.spare = buf[:0]
		c.wroteLocked(len(buf))
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(fmt.Errorf("%w: %w", errWrite, err))
		}
	}
}

// writeChunk bounds one write to the socket, so that the write deadline
// (WriteTimeout) is a bound on a write making no progress, not on a large
// queue taking long to drain, and so that senders waiting for room
// (Backpressure) hear of progress as it is made.
const writeChunk = 1 << 20

// writeAll writes buf in chunks of at most writeChunk, each with the
// write deadline moved ahead. On the writer only.
func (c *Conn) writeAll(buf []byte) error {
	for off := 0; off < len(buf); {
		end := min(off+writeChunk, len(buf))
		c.moveWriteDeadline()
		n, err := c.nc.Write(buf[off:end])
		if s := c.stats.Load(); s != nil && n > 0 {
			s.BytesOut.Add(uint64(n))
		}
		off += n
		if err != nil {
			return err
		}
		if end < len(buf) {
			c.mu.Lock()
			c.wroteLocked(n)
			c.mu.Unlock()
		}
	}
	return nil
}

// maxFlushRounds bounds the writes a Batch.Flush makes in place on one
// connection (the first, and what other senders queued meanwhile) before
// it leaves the rest to a writer goroutine.
const maxFlushRounds = 4

// flush writes what is queued, in place if the socket takes it without
// waiting; what it does not take goes to a writer goroutine, which waits.
func (c *Conn) flush() {
	c.mu.Lock()
	c.batch = nil
	if c.writing || c.closed || len(c.out) == 0 {
		c.mu.Unlock()
		return
	}
	c.writing = true
	if c.raw == nil && c.nww == nil {
		c.wg.Add(1)
		c.mu.Unlock()
		go c.writeLoop()
		return
	}
	buf, _, _ := c.takeLocked()
	c.mu.Unlock()
	for round := 1; ; round++ {
		c.moveWriteDeadline()
		n, err := c.writeNoWait(buf)
		if s := c.stats.Load(); s != nil && n > 0 {
			s.BytesOut.Add(uint64(n))
		}
		if err != nil {
			c.writeFailed(fmt.Errorf("%w: %w", errWrite, err))
			c.mu.Lock()
			c.spare = buf[:0]
			c.wroteLocked(len(buf))
			_, flushClose, why := c.takeLocked()
			c.mu.Unlock()
			if flushClose {
				c.Close(why)
			}
			return
		}
		c.mu.Lock()
		if n < len(buf) || (round >= maxFlushRounds && len(c.out) > 0 && !c.closed) {
			// The socket is full (or others keep sending): the writer
			// goroutine waits for it, starting with what it did not take.
			if n < len(buf) && !c.closed {
				rest := make([]byte, 0, len(buf)-n+len(c.out))
				rest = append(append(rest, buf[n:]...), c.out...)
				c.spare, c.out = c.out[:0], rest
			} else {
				c.spare = buf[:0]
			}
			c.wroteLocked(len(buf)) // what was not written is queued again
			c.wg.Add(1)
			c.mu.Unlock()
			go c.writeLoop()
			return
		}
		c.spare = buf[:0]
		c.wroteLocked(len(buf))
		var flushClose bool
		var why error
		buf, flushClose, why = c.takeLocked()
		c.mu.Unlock()
		if buf == nil {
			if flushClose {
				c.Close(why)
			}
			return
		}
	}
}

// writeNoWait writes as much of buf as the socket takes now, without
// waiting for room.
func (c *Conn) writeNoWait(buf []byte) (int, error) {
	if c.nww != nil {
		return c.nww.WriteNoWait(buf)
	}
	return c.raw.Write(buf, nil)
}

// writeFailed ends the connection after a failed write: at once, or,
// with DrainAfterWriteError, once the reader has read what the peer sent
// last (bounded in time).
func (c *Conn) writeFailed(err error) {
	if c.cfg.DrainAfterWriteError <= 0 {
		c.Close(err)
		return
	}
	c.mu.Lock()
	if c.closed || c.writeErr != nil {
		c.mu.Unlock()
		return
	}
	c.writeErr = err
	c.out = c.out[:0] // never written: the writer loop ends
	c.mu.Unlock()
	c.draining.Store(true)
	c.nc.SetReadDeadline(time.Now().Add(c.cfg.DrainAfterWriteError))
}

// Close closes the connection at once, dropping anything not yet written,
// and records reason as why. Only the first call has an effect.
func (c *Conn) Close(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if reason == nil {
		reason = ErrConnClosed
	}
	c.closed = true
	c.reason = reason
	c.out, c.spare = nil, nil
	c.inflight = 0
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	c.mu.Unlock()
	if s := c.stats.Load(); s != nil {
		s.countClose(reason)
	}
	c.nc.Close()
	close(c.done)
}

// CloseAfterFlush closes the connection once everything queued so far has
// been written (bounded by WriteTimeout), so that a last message such as a
// kick reason reaches the peer.
func (c *Conn) CloseAfterFlush(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.out) == 0 && !c.writing {
		c.mu.Unlock()
		c.Close(reason)
		return
	}
	c.flushClose, c.flushReason = true, reason
	start := !c.writing // queued through a Batch not flushed yet
	if start {
		c.writing = true
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	// The writer closes the connection when it drains.
}

// Wait waits until the writer goroutine, if any, has exited. Call it after
// Close and after Serve returned for a leak-free shutdown.
func (c *Conn) Wait() { c.wg.Wait() }
