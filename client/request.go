package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/goworld-engine/goworld/rpc"
)

// reply is the answer to one request, as Request returns it.
type reply struct {
	result any
	err    error
}

// waiter waits for one answer: a channel (Request) or a function
// (RequestAsync).
type waiter struct {
	ch chan reply
	fn func(result any, err error)
}

func (w waiter) deliver(r reply) {
	if w.fn != nil {
		w.fn(r.result, r.err)
		return
	}
	w.ch <- r // buffered, and only one answer is taken per request
}

// Request calls method on the player entity and waits for its answer:
// the value the method returned (decoded as rpc.DecodeAny does: int64,
// uint64, float64, string, []byte, []any, map[string]any, bool or nil),
// or an error. A failed request's error is a *rpc.ReplyError whose Code
// says why (errors.Is(err, rpc.ErrNoMethod) and so on): the method
// returned an error (CodeFailed, or the game's own code), it panicked,
// it is not exposed to this client, the arguments did not convert, the
// entity does not exist, or the client has max_client_requests requests
// waiting already (CodeOverloaded). If ctx ends first, the error wraps
// both rpc.ErrTimeout and ctx.Err(), and an answer that comes later is
// dropped. If the connection closes first, it is ErrClosed. Called from
// Options.OnEvent, it returns ErrRequestInHandler at once.
//
// The server's method returns (T, error), error, or nothing (then the
// answer is nil once it has run); see docs/protocol.md, MsgRequest.
func (c *Client) Request(ctx context.Context, method string, args ...any) (any, error) {
	c.mu.Lock()
	id := c.player
	c.mu.Unlock()
	if id == "" {
		return nil, errors.New("client: no player entity yet")
	}
	return c.RequestEntity(ctx, id, method, args...)
}

// RequestEntity is Request on entity id (one whose type exposes the
// method to all clients, or the player).
func (c *Client) RequestEntity(ctx context.Context, id rpc.EntityID, method string, args ...any) (any, error) {
	if err := checkTarget(id, method); err != nil {
		return nil, err
	}
	if c.onReader() {
		return nil, ErrRequestInHandler
	}
	ch := make(chan reply, 1)
	reqID, err := c.startRequest(id, method, args, waiter{ch: ch})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		c.forget(reqID)
		return nil, fmt.Errorf("client: request %s: %w (%w)", method, rpc.ErrTimeout, ctx.Err())
	}
}

// RequestAsync sends a request as RequestEntity does and returns at once;
// done runs once with the answer (or ErrClosed when the connection
// closes first), on the client's reader goroutine: it must not block,
// nor call the client's methods that wait. There is no timeout: keep
// your own, and ignore an answer that comes after it. It returns an
// error, and done never runs, if the request cannot be sent.
func (c *Client) RequestAsync(id rpc.EntityID, method string, args []any, done func(result any, err error)) error {
	if done == nil {
		return errors.New("client: RequestAsync without a done function")
	}
	if err := checkTarget(id, method); err != nil {
		return err
	}
	_, err := c.startRequest(id, method, args, waiter{fn: done})
	return err
}

// startRequest registers w under a new request ID and sends the request.
func (c *Client) startRequest(id rpc.EntityID, method string, args []any, w waiter) (uint32, error) {
	enc, err := rpc.AppendArgs(nil, args)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if c.pending == nil {
		c.pending = map[uint32]waiter{}
	}
	for {
		c.nextReq++
		if _, busy := c.pending[c.nextReq]; !busy {
			break
		}
	}
	reqID := c.nextReq
	c.pending[reqID] = w
	c.mu.Unlock()
	if err := c.send(rpc.MsgRequest, rpc.AppendClientRequest(nil, id, reqID, method, enc)); err != nil {
		c.forget(reqID)
		return 0, sendErr(err)
	}
	return reqID, nil
}

// forget stops waiting for request reqID's answer.
func (c *Client) forget(reqID uint32) {
	c.mu.Lock()
	delete(c.pending, reqID)
	c.mu.Unlock()
}

// reply handles a MsgReply: requestID u32 | code u16 | result or message.
func (c *Client) reply(body []byte) error {
	if len(body) < 4 {
		return fmt.Errorf("client: malformed Reply (%d bytes)", len(body))
	}
	id := binary.LittleEndian.Uint32(body)
	result, rerr, err := rpc.DecodeReply(body[4:])
	if err != nil {
		return fmt.Errorf("client: malformed Reply: %w", err)
	}
	var r reply
	if rerr != nil {
		r.err = rerr
	} else {
		v, n, err := rpc.DecodeAny(result)
		if err != nil || n != len(result) {
			return fmt.Errorf("client: malformed Reply result (%d bytes): %v", len(result), err)
		}
		r.result = v
	}
	c.mu.Lock()
	w, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		w.deliver(r)
	}
	return nil
}

// RequestAs is Request with the answer converted to T as the server
// converts a call's arguments (an int64 into an int, a map into a
// struct with msgpack tags, and so on): typed answers without type
// switches.
//
//	score, err := client.RequestAs[int](ctx, c, "Score")
//
// An answer that does not convert is an error wrapping rpc.ErrBadArgs;
// a nil answer is T's zero value.
func RequestAs[T any](ctx context.Context, c *Client, method string, args ...any) (T, error) {
	v, err := c.Request(ctx, method, args...)
	return convertAnswer[T](method, v, err)
}

// RequestEntityAs is RequestEntity with the answer converted to T, as
// RequestAs does.
func RequestEntityAs[T any](ctx context.Context, c *Client, id rpc.EntityID, method string, args ...any) (T, error) {
	v, err := c.RequestEntity(ctx, id, method, args...)
	return convertAnswer[T](method, v, err)
}

// Convert converts v, a value as the client receives them (an
// attribute, a call's argument: int64, string, []any, map[string]any
// ...), to T as the server converts a call's arguments: an int64 that
// fits into an int32, a map into a struct with msgpack tags, and so on.
// A value that does not convert is an error wrapping rpc.ErrBadArgs; nil
// is T's zero value. Generated stubs (goworldctl gen) use it.
func Convert[T any](v any) (T, error) {
	return convertAnswer[T]("a value", v, nil)
}

// Decode converts the call's arguments into the values dst points to,
// in order, as Convert does: one pointer per argument (a wrong count is
// an error wrapping rpc.ErrBadArgs, as is an argument that does not
// convert). Generated stubs (goworldctl gen) use it.
func (c Call) Decode(dst ...any) error {
	if len(dst) != len(c.Args) {
		return fmt.Errorf("client: call %s: got %d arguments, want %d: %w", c.Method, len(c.Args), len(dst), rpc.ErrBadArgs)
	}
	types := make([]reflect.Type, len(dst))
	for i, d := range dst {
		t := reflect.TypeOf(d)
		if t == nil || t.Kind() != reflect.Pointer {
			return fmt.Errorf("client: Call.Decode: argument %d is %T, not a pointer", i, d)
		}
		types[i] = t.Elem()
	}
	enc, err := rpc.AppendArgs(nil, c.Args)
	if err != nil {
		return fmt.Errorf("client: call %s: %w", c.Method, err)
	}
	vals, err := rpc.DecodeArgs(enc, types)
	if err != nil {
		return fmt.Errorf("client: call %s: %w (%w)", c.Method, rpc.ErrBadArgs, err)
	}
	for i, v := range vals {
		reflect.ValueOf(dst[i]).Elem().Set(v)
	}
	return nil
}

func convertAnswer[T any](method string, v any, err error) (T, error) {
	var zero T
	if err != nil || v == nil {
		return zero, err
	}
	if t, ok := v.(T); ok {
		return t, nil
	}
	enc, err := rpc.AppendValue([]byte{0x91}, v) // a 1-array, as arguments travel
	if err != nil {
		return zero, fmt.Errorf("client: the answer of %s: %w", method, err)
	}
	vals, err := rpc.DecodeArgs(enc, []reflect.Type{reflect.TypeFor[T]()})
	if err != nil {
		return zero, fmt.Errorf("client: the answer of %s does not convert to %T: %w (%w)", method, zero, rpc.ErrBadArgs, err)
	}
	return vals[0].Interface().(T), nil
}
