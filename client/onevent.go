package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/rpc"
)

// Events delivered to a handler (Options.OnEvent) rather than a channel.
//
// A client holds one goroutine of its own, run (client.go), which reads
// from the gate (rpc.Conn.Serve calls handle on it) and, between
// connections of a resumable session, reconnects: every event, those
// from the gate and Reconnecting, Resumed and Disconnected, is emitted
// on it. With OnEvent set, emit calls the handler there and then, so
// that the handler sees the events in the order the channel gives them,
// one at a time, with no channel, queue or pump, and the application
// needs no goroutine of its own to read them.
//
// What must hold:
//
//   - A call from the handler that waits for the reader would wait for
//     itself. Request and RequestEntity (and RequestAs) refuse at once
//     with ErrRequestInHandler; Close does not wait for the client's
//     goroutines (it runs on one of them) and returns at once, the
//     session ending once the handler returns.
//   - Close from any other goroutine waits for a handler in progress,
//     and for the handler of Disconnected, as it waits for the reader.
//   - A panic in the handler ends the session, as a malformed frame
//     does (no resume): Disconnected.Err wraps ErrHandlerPanic.
//
// The handler's goroutine is told apart by its ID (internal/goid): it
// is read once when run starts and once per Request and Close of a
// client with OnEvent, never on the path of a frame.

// ErrRequestInHandler is returned by Request, RequestEntity, RequestAs
// and RequestEntityAs when they are called from Options.OnEvent: the
// answer would have to be read by the goroutine that is waiting for it.
// Use RequestAsync there (its done function runs on the same goroutine,
// once the answer is read).
var ErrRequestInHandler = errors.New("client: Request from Options.OnEvent would wait for an answer only its own goroutine can read (use RequestAsync)")

// ErrHandlerPanic is (wrapped in) Disconnected.Err when Options.OnEvent
// panicked: the session ends, as after a malformed frame. The error
// carries the panic's value; Disconnected.Reason describes it.
var ErrHandlerPanic = errors.New("client: Options.OnEvent panicked")

// closedEvents is what Events returns for a client with OnEvent: a
// channel that is closed, so that a loop over it ends at once rather
// than waiting for ever.
var closedEvents = func() chan Event {
	ch := make(chan Event)
	close(ch)
	return ch
}()

// callHandler gives ev to the application's handler and reports whether
// it returned; a panic is recovered into c.handlerErr, which ends the
// session. On the run goroutine.
func (c *Client) callHandler(ev Event) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if c.handlerErr == nil {
				c.handlerErr = fmt.Errorf("%w on %T: %v", ErrHandlerPanic, ev, p)
			}
			ok = false
		}
	}()
	c.opts.OnEvent(ev)
	return true
}

// onReader reports whether the caller runs on the client's run
// goroutine: the one that calls Options.OnEvent. Always false without
// OnEvent.
func (c *Client) onReader() bool {
	if c.opts.OnEvent == nil {
		return false
	}
	id := goid.Current()
	return id != 0 && id == c.readerG.Load()
}

// closeFromHandler is Close called from Options.OnEvent: it says
// goodbye where Close would, lets what is queued be written, and closes
// the connection, but waits for nothing (the reader would have to read
// the gate's answer and end): the session ends once the handler
// returns, with Disconnected (to the same handler) last. What is queued
// has closeWait to be written, as with Close.
func (c *Client) closeFromHandler() error {
	c.smu.Lock()
	conn, away := c.conn, c.sess.away
	bye := c.isKCP || (c.opts.Resume && c.sess.state != sessNone)
	c.smu.Unlock()
	c.once.Do(func() { close(c.closing) })
	if away {
		return nil // reconnect sees closing
	}
	if bye && !c.byeSent.Swap(true) {
		c.send(rpc.MsgBye, nil)
	}
	conn.CloseAfterFlush(ErrClosed)
	c.tmu.Lock()
	if c.closeTimer == nil && !c.timersOff {
		c.closeTimer = time.AfterFunc(closeWait, func() {
			if c.timerRuns() {
				defer c.wg.Done()
				conn.Close(ErrClosed)
			}
		})
	}
	c.tmu.Unlock()
	return nil
}
