package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// Resumable sessions (docs/protocol.md, 8.1), the client's side.
//
// A client dialled with Options.Resume says HelloResume in its hello.
// From then on it counts and keeps the session frames it sends
// (rpc.IsSessionFrame) until the gate acknowledges them, and, once the
// gate's MsgSession has made the session resumable, counts the session
// frames it receives and acknowledges them with MsgAck. When the
// connection drops (anything but a kick, the gate's MsgBye, a protocol
// error or Close), the client's run loop dials again, sends MsgResume,
// and on MsgResumed resends what the gate has not received, then serves
// the new connection: the application sees Reconnecting and Resumed
// events, and nothing else changes (the view, the requests waiting).

// Reconnecting: the connection dropped and the client is about to try
// again (attempt Attempt, from 1). Err is why the connection dropped
// (attempt 1) or why the previous attempt failed. Calls made meanwhile
// are kept and sent once the session is resumed. Only a client with
// Options.Resume whose gate made the session resumable reconnects.
type Reconnecting struct {
	Attempt int
	Err     error
}

// Resumed: the client reconnected and the gate took the session up:
// what each side had not received is resent, and the session goes on as
// if the connection had never dropped.
type Resumed struct{}

func (Reconnecting) isEvent() {}
func (Resumed) isEvent()      {}

// ErrResumeBufferFull is returned by the calls of a client with
// Options.Resume (Call, CallPlayer, MovePlayer, Request and the others
// that send) when the session frames it has sent and the gate has not
// yet acknowledged, with those made while reconnecting, would take more
// than Options.ResumeBuffer bytes. Nothing was sent; try again later
// (the gate acknowledges within about 100 ms while connected).
var ErrResumeBufferFull = errors.New("client: too much sent and not yet acknowledged by the gate (Options.ResumeBuffer)")

// ErrResumeRefused is (wrapped in) Disconnected.Err when the gate
// refused to resume the session: Disconnected.Reason is its reason
// ("resume refused: …"). The session is over: dial again and log in.
var ErrResumeRefused = errors.New("client: the gate refused to resume the session")

// ErrReconnectFailed is (wrapped in) Disconnected.Err when the client
// could not reconnect within Options.ReconnectMax (by default the resume
// window the gate announced); it wraps the last attempt's error too.
var ErrReconnectFailed = errors.New("client: could not reconnect")

// errGateBye is the reason of a connection the gate ended with a MsgBye
// the client did not ask for: the server's close, not a drop.
var errGateBye = fmt.Errorf("%w (MsgBye)", rpc.ErrPeerClosed)

// protocolError marks an error of the client's handler (a malformed or
// unexpected frame): resuming would only replay it, so it ends the
// session.
type protocolError struct{ error }

func (e protocolError) Unwrap() error { return e.error }

// Ack policy (docs/protocol.md, 8.1): acknowledge received session
// frames 100 ms after the first unacknowledged one, at 32 KiB of them,
// and with each heartbeat if anything is new.
const (
	ackDelay = 100 * time.Millisecond
	ackBytes = 32 << 10
)

// Session states of a client with Options.Resume.
const (
	sessUndecided = iota // hello sent, no MsgSession yet: counting and keeping what is sent
	sessResumable        // MsgSession received
	sessNone             // the gate sent a session frame first: no resumable session
)

// session is a resumable session's state, under Client.smu.
type session struct {
	state  int
	token  rpc.ResumeToken
	window time.Duration

	sent      uint64   // session frames sent (the n-th is number n)
	base      uint64   // the gate has acknowledged frames 1..base
	kept      [][]byte // frames base+1..sent, header included
	keptBytes int

	recvd        uint64    // session frames received
	acked        uint64    // the last count acknowledged
	unackedBytes int       // bytes of session frames received since
	ackDue       time.Time // when the frames received since must be acknowledged

	away bool // the connection dropped: frames are kept, not sent
	over bool // the session ended: calls fail with ErrClosed
}

// counting reports whether sent session frames are counted and kept.
func (s *session) counting() bool { return s.state != sessNone }

// trim forgets the kept frames up to number n, which the gate has
// received. On smu.
func (s *session) trim(n uint64) {
	k := int(n - s.base)
	for i := range k {
		s.keptBytes -= len(s.kept[i])
		s.kept[i] = nil
	}
	s.kept = s.kept[k:]
	if len(s.kept) == 0 {
		s.kept = nil // let a grown array go
	}
	s.base = n
}

// send sends one frame on the current connection and counts it; in a
// resumable session (or one asked for and not yet answered) a session
// frame is numbered and kept until the gate acknowledges it, and while
// reconnecting it is only kept, to be sent on resume.
func (c *Client) send(t rpc.MsgType, body []byte) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	s := &c.sess
	if s.over {
		return ErrClosed
	}
	if c.opts.Resume && s.counting() && rpc.IsSessionFrame(t) {
		size := rpc.HeaderSize + len(body)
		if s.keptBytes+size > c.opts.ResumeBuffer {
			return ErrResumeBufferFull
		}
		frame := rpc.AppendFrame(make([]byte, 0, size), t, body)
		s.kept = append(s.kept, frame)
		s.keptBytes += size
		s.sent++
		if !s.away && c.conn.SendFrame(frame) == nil {
			c.framesOut.Add(1)
			c.bytesOut.Add(int64(size))
		}
		// A frame the connection did not take is resent on resume, or
		// lost with the session, as anything queued when it ends.
		return nil
	}
	if s.away {
		return rpc.ErrConnClosed
	}
	err := c.conn.Send(t, body)
	if err == nil {
		c.framesOut.Add(1)
		c.bytesOut.Add(int64(rpc.HeaderSize + len(body)))
	}
	return err
}

// helloBody returns the body of the client's MsgClientHello.
func (c *Client) helloBody() []byte {
	if c.opts.Resume {
		return rpc.AppendClientHelloFlags(nil, rpc.ProtocolVersion, rpc.HelloResume)
	}
	return rpc.AppendClientHello(nil, rpc.ProtocolVersion)
}

// readResumeAnswer reads the gate's answer to a MsgResume. Frames before
// it are not the session's (protocol.md 8.1): a broadcast can reach the
// new connection before the gate has read the resume, and the session
// gets its own copy, which the gate resends. They are skipped, at most
// a few hundred: a gate that sends only those is not answering.
func readResumeAnswer(conn *rpc.Conn) (rpc.MsgType, []byte, error) {
	for range 256 {
		t, body, err := conn.ReadFrame()
		if err != nil || (!rpc.IsSessionFrame(t) && t != rpc.MsgHeartbeatAck) {
			return t, body, err
		}
	}
	return 0, nil, errors.New("client: no answer to Resume among the first 256 frames")
}

// gotSession handles a MsgSession. On the reader goroutine.
func (c *Client) gotSession(body []byte) error {
	if !c.opts.Resume {
		return errors.New("client: unexpected message type 18 (Session) from server: the client asked for no resumable session")
	}
	ss, err := rpc.DecodeSession(body)
	if err != nil {
		return fmt.Errorf("client: malformed Session: %w", err)
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sess.state != sessUndecided {
		return errors.New("client: Session after the session began")
	}
	c.sess.state = sessResumable
	c.sess.token = ss.Token
	c.sess.window = ss.Window
	return nil
}

// gotAck handles the gate's MsgAck: forget what it has received. On the
// reader goroutine.
func (c *Client) gotAck(body []byte) error {
	n, err := rpc.DecodeAck(body)
	if err != nil {
		return fmt.Errorf("client: malformed Ack: %w", err)
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	s := &c.sess
	if !c.opts.Resume || s.state != sessResumable {
		return errors.New("client: unexpected message type 9 (Ack) from server: the session is not resumable")
	}
	if n < s.base || n > s.sent {
		return fmt.Errorf("client: Ack of %d frames, but %d were sent and %d acknowledged", n, s.sent, s.base)
	}
	s.trim(n)
	return nil
}

// received counts a session frame of type t the client has handled, of
// size bytes, and acknowledges as the policy says. On the reader
// goroutine.
func (c *Client) received(t rpc.MsgType, size int) {
	c.smu.Lock()
	defer c.smu.Unlock()
	s := &c.sess
	switch s.state {
	case sessUndecided:
		// Frames before MsgSession are not counted (protocol.md 8.1): a
		// broadcast can reach the connection before the gate has read
		// its hello. The boot entity's MsgCreateEntity comes after the
		// hello, which the gate answers with MsgSession first: if that
		// did not come, this gate holds no session (resume_window = off,
		// or an older gate).
		if t == rpc.MsgCreateEntity {
			s.state = sessNone
			s.kept, s.keptBytes = nil, 0
		}
		return
	case sessNone:
		return
	}
	s.recvd++
	s.unackedBytes += size
	if s.unackedBytes >= ackBytes {
		c.ackLocked()
		return
	}
	if s.ackDue.IsZero() {
		s.ackDue = time.Now().Add(ackDelay)
		c.armAck(ackDelay)
	}
}

// ackLocked sends MsgAck if session frames arrived since the last one.
// On smu.
func (c *Client) ackLocked() {
	s := &c.sess
	if s.state != sessResumable || s.recvd == s.acked || s.away {
		return
	}
	if c.conn.Send(rpc.MsgAck, rpc.AppendAck(nil, s.recvd)) == nil {
		c.framesOut.Add(1)
		c.bytesOut.Add(int64(rpc.HeaderSize + 8))
		s.acked = s.recvd
		s.unackedBytes = 0
		s.ackDue = time.Time{}
	}
}

// Heartbeats and acks are sent by timers, whose functions run only when
// they fire: a client holds no goroutine of its own for them. Each timer
// function counts itself in wg while it runs, and does nothing once
// stopTimers has run, so that Close, which waits for wg, returns with
// none of them running.

// startHeartbeats starts the heartbeat timer (unless heartbeats are off).
// The first heartbeat went with the hello.
func (c *Client) startHeartbeats() {
	if c.opts.HeartbeatInterval <= 0 {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if !c.timersOff {
		c.hbTimer = time.AfterFunc(time.Duration(c.hbEvery.Load()), c.beat)
	}
}

// resetHeartbeat restarts the heartbeat interval (changed, or a new
// connection) from now.
func (c *Client) resetHeartbeat() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.hbTimer != nil && !c.timersOff {
		c.hbTimer.Reset(time.Duration(c.hbEvery.Load()))
	}
}

// beat sends a heartbeat, and the ack of what arrived since the last one
// if anything is new, and sets the next.
func (c *Client) beat() {
	if !c.timerRuns() {
		return
	}
	defer c.wg.Done()
	c.send(rpc.MsgHeartbeat, nil) // fails harmlessly while reconnecting
	c.smu.Lock()
	c.ackLocked()
	c.smu.Unlock()
	c.resetHeartbeat()
}

// armAck sets the ack timer to fire in d. On smu.
func (c *Client) armAck(d time.Duration) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	switch {
	case c.timersOff:
	case c.ackTimer == nil:
		c.ackTimer = time.AfterFunc(d, c.ackDueNow)
	default:
		c.ackTimer.Reset(d)
	}
}

// ackDueNow sends the ack that is due, if it still is; an ack set for
// later since waits for it.
func (c *Client) ackDueNow() {
	if !c.timerRuns() {
		return
	}
	defer c.wg.Done()
	c.smu.Lock()
	defer c.smu.Unlock()
	due := c.sess.ackDue
	switch {
	case due.IsZero():
	case time.Now().Before(due):
		c.armAck(time.Until(due))
	default:
		c.ackLocked()
	}
}

// timerRuns reports whether the timers still run; if so it counts the
// caller, a timer function, in wg until it calls wg.Done. run holds wg
// until it has stopped the timers, so the count is above zero here.
func (c *Client) timerRuns() bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.timersOff {
		return false
	}
	c.wg.Add(1)
	return true
}

// stopTimers stops the heartbeat and ack timers for good. On the run
// goroutine, when the session ends.
func (c *Client) stopTimers() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.timersOff = true
	if c.hbTimer != nil {
		c.hbTimer.Stop()
	}
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
}

// mayResume reports whether a connection that ended with reason is a
// drop the client should reconnect after: a resumable session, not
// ended by a kick, the gate's bye, Close, or a protocol error.
func (c *Client) mayResume(reason error) bool {
	if !c.opts.Resume || c.opts.ReconnectMax < 0 {
		return false
	}
	select {
	case <-c.closing:
		return false
	default:
	}
	for _, end := range []error{ErrKicked, ErrClosed, errGateBye, rpc.ErrHandlerPanic, ErrHandlerPanic, rpc.ErrFrameTooLarge, rpc.ErrFrameTooShort} {
		if errors.Is(reason, end) {
			return false
		}
	}
	var pe protocolError
	if errors.As(reason, &pe) {
		return false
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.sess.state != sessResumable {
		return false
	}
	c.sess.away = true
	return true
}

// reconnect dials again with backoff and jitter until the gate resumes
// the session (it returns the new connection, serving nothing yet), it
// refuses, ReconnectMax passes, or Close; then it returns the
// Disconnected event to end with.
func (c *Client) reconnect(drop error) (*rpc.Conn, *Disconnected) {
	c.smu.Lock()
	limit := c.sess.window
	c.smu.Unlock()
	if c.opts.ReconnectMax > 0 {
		limit = c.opts.ReconnectMax
	}
	deadline := time.Now().Add(limit)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	closed := &Disconnected{Reason: "closed by the client", Err: ErrClosed}
	last := drop
	for attempt := 1; ; attempt++ {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, &Disconnected{
				Reason: fmt.Sprintf("could not reconnect within %v", limit),
				Err:    fmt.Errorf("%w within %v: %w", ErrReconnectFailed, limit, last),
			}
		}
		if !c.emit(Reconnecting{Attempt: attempt, Err: last}) {
			if err := c.handlerErr; err != nil {
				return nil, c.disconnected(err)
			}
			return nil, closed
		}
		t := time.NewTimer(min(c.backoff(attempt), left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, closed
		}
		conn, refused, err := c.resume(ctx, min(c.opts.DialTimeout, max(time.Until(deadline), time.Millisecond)))
		switch {
		case conn != nil:
			return conn, nil
		case ctx.Err() != nil:
			return nil, closed
		case refused != nil:
			return nil, refused
		}
		last = err
	}
}

// backoff returns the wait before reconnect attempt n (from 1):
// ReconnectDelay doubled for each attempt before it, at most
// ReconnectDelayMax, times a random factor in [0.5, 1.5).
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectDelay
	for i := 1; i < n && d < c.opts.ReconnectDelayMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectDelayMax)
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// resume makes one attempt: dial, MsgResume, and the gate's answer
// within timeout. It returns the new connection when the gate resumed
// the session (its kept frames resent, the session swapped over), the
// event to end with when the gate refused it or its answer broke the
// protocol, or the attempt's error.
func (c *Client) resume(ctx context.Context, timeout time.Duration) (*rpc.Conn, *Disconnected, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := dialNet(dctx, c.addr, c.opts, helloGapReconnect)
	if err != nil {
		return nil, nil, err
	}
	conn := c.newConn(nc)
	c.smu.Lock()
	body := rpc.AppendResume(nil, rpc.Resume{Version: rpc.ProtocolVersion, Flags: rpc.HelloResume, Token: c.sess.token, Received: c.sess.recvd})
	c.smu.Unlock()
	conn.Send(rpc.MsgResume, body)
	// The answer comes first: MsgResumed, or a kick that refuses.
	nc.SetReadDeadline(deadlineOf(dctx))
	stop := context.AfterFunc(dctx, func() { nc.SetReadDeadline(time.Unix(1, 0)) })
	t, answer, err := readResumeAnswer(conn)
	interrupted := !stop()
	nc.SetReadDeadline(time.Time{})
	fail := func(err error) (*rpc.Conn, *Disconnected, error) {
		conn.Close(err)
		conn.Wait()
		return nil, nil, err
	}
	if err != nil {
		if interrupted && ctx.Err() == nil {
			err = fmt.Errorf("client: no answer to Resume within %v: %w", timeout, err)
		}
		return fail(err)
	}
	switch t {
	case rpc.MsgKick:
		reason := rpc.NewReader(answer).String()
		if reason == "" { // none, or malformed
			reason = "resume refused (the gate gave no reason)"
		}
		conn.Close(ErrKicked)
		conn.Wait()
		return nil, &Disconnected{Reason: reason, Err: fmt.Errorf("%w: %w", ErrResumeRefused, ErrKicked)}, nil
	case rpc.MsgResumed:
	default:
		err := fmt.Errorf("client: the gate answered Resume with %v", t)
		conn.Close(err)
		conn.Wait()
		return nil, &Disconnected{Reason: err.Error(), Err: protocolError{err}}, nil
	}
	r, err := rpc.DecodeResumed(answer)
	if err != nil {
		err = fmt.Errorf("client: malformed Resumed: %w", err)
		conn.Close(err)
		conn.Wait()
		return nil, &Disconnected{Reason: err.Error(), Err: protocolError{err}}, nil
	}
	c.framesIn.Add(1)
	c.bytesIn.Add(int64(rpc.HeaderSize + len(answer)))
	// Swap over: resend what the gate has not received, then carry on.
	// Under smu, so that a call made meanwhile is sent after them.
	c.smu.Lock()
	defer c.smu.Unlock()
	s := &c.sess
	select {
	case <-c.closing:
		conn.Close(ErrClosed)
		conn.Wait()
		return nil, nil, ErrClosed
	default:
	}
	if r.Received < s.base || r.Received > s.sent {
		err := fmt.Errorf("client: Resumed counts %d frames, but %d were sent and %d acknowledged", r.Received, s.sent, s.base)
		conn.Close(err)
		conn.Wait()
		return nil, &Disconnected{Reason: err.Error(), Err: protocolError{err}}, nil
	}
	s.trim(r.Received)
	s.token = r.Token
	if len(s.kept) > 0 {
		n := 0
		conn.Append(func(b []byte) []byte {
			for _, f := range s.kept {
				b = append(b, f...)
				n += len(f)
			}
			return b
		})
		c.framesOut.Add(int64(len(s.kept)))
		c.bytesOut.Add(int64(n))
	}
	s.away = false
	// MsgResume told the gate what the client had received.
	s.acked, s.unackedBytes, s.ackDue = s.recvd, 0, time.Time{}
	c.conn = conn
	return conn, nil, nil
}

// deadlineOf returns ctx's deadline (which it has).
func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
