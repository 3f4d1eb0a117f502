package entity

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Requests: calls that answer.
//
// A callee answers with what its method returns: a method that returns
// (T, error) answers with T or the error, one that returns error answers
// with nil or the error, and one that returns nothing answers nil once it
// has run. Every RPC method can therefore be requested as well as called;
// a one-way Call to a method with results discards them.
//
// The caller names a callback method of its own, as a load does
// (LoadEntitySomewhere), not a closure: a request may be answered after
// the caller migrated to another game or was hot-reloaded, and a name,
// unlike a closure, travels with the entity and means something in the
// next build. The pending request is a timer of the caller (an internal
// one, "@reqTimeout", that fires the callback with rpc.ErrTimeout), so it
// is frozen, migrated and restored with the caller's other timers, and
// its ID (the timer's ID) stays unique. The reply is routed to the
// caller's entity ID through the dispatchers (MsgRequestReply), so it
// waits in the same migration and hot-reload queues as a call; it runs
// the callback and cancels the timer, and whichever of the two comes
// second finds nothing and is dropped (and counted): exactly one
// callback per request.

// DefaultRequestTimeout is WorldConfig.RequestTimeout's default
// (config.ini's request_timeout).
const DefaultRequestTimeout = 10 * time.Second

// DefaultSlowCall is WorldConfig.SlowCall's default (config.ini's
// slow_call).
const DefaultSlowCall = 50 * time.Millisecond

// methodReqTimeout is the internal timer method of a pending request:
// its arguments are the callback, the callee's ID and the method asked.
const methodReqTimeout = "@reqTimeout"

// methodReply carries a reply to the caller, as an internal call (like
// methodLoadResult): requestID u64 | reply (rpc.DecodeReply).
const methodReply = "@reply"

// replyTo says where a request's answer goes: to an entity (caller,
// with its request ID) or to a client (client, with a u32 request ID).
type replyTo struct {
	caller rpc.EntityID
	client *ClientRef
	id     uint64
}

// replyCallback is a method func(T, error) or func(error) of an entity
// type, which a reply can be delivered to.
type replyCallback struct {
	index  int
	result reflect.Type // nil for func(error)
}

// isReplyCallback reports whether a method type (with its receiver) is
// func(T, error) or func(error), T a type that can travel, and returns T.
func isReplyCallback(m reflect.Type) (replyCallback, bool) {
	if m.NumOut() != 0 || m.IsVariadic() || m.NumIn() < 2 || m.NumIn() > 3 || m.In(m.NumIn()-1) != errorType {
		return replyCallback{}, false
	}
	if m.NumIn() == 2 {
		return replyCallback{}, true
	}
	if t := m.In(1); t != errorType && rpc.CheckParamType(t) == nil {
		return replyCallback{result: t}, true
	}
	return replyCallback{}, false
}

// answer is what a method returns, for a request.
type answer uint8

const (
	answerNone  answer = iota // returns nothing: the answer is nil
	answerErr                 // returns error
	answerValue               // returns (T, error)
)

// answerOf reports whether a method type returns nothing, error or
// (T, error) with T a type that can travel; ok is false for any other
// results (a helper, not an RPC method).
func answerOf(m reflect.Type) (answer, bool) {
	switch {
	case m.NumOut() == 0:
		return answerNone, true
	case m.NumOut() == 1 && m.Out(0) == errorType:
		return answerErr, true
	case m.NumOut() == 2 && m.Out(1) == errorType && m.Out(0) != errorType && rpc.CheckParamType(m.Out(0)) == nil:
		return answerValue, true
	}
	return 0, false
}

// Request asks the entity id, wherever it lives, for the result of its
// method with args, and calls this entity's method callback with the
// answer, on this entity's game loop, exactly once: with the result, or
// with an error that is a *rpc.ReplyError (its code says why: the callee
// returned an error, panicked, does not exist, has no such method, could
// not take the arguments, or no answer came within the world's request
// timeout). The callback has one of the signatures
//
//	func (a *Avatar) OnScore(score int, err error) // the result converted to int
//	func (a *Avatar) OnDone(err error)              // the result ignored
//
// It runs wherever this entity lives by then: the request is data, like a
// timer, and survives a migration or a hot reload of the caller. If the
// caller is destroyed first, the answer is dropped.
//
// It returns an error at once for an invalid ID, a callback that is not
// such a method of this entity's type, or arguments that cannot be
// encoded.
func (e *Entity) Request(id rpc.EntityID, method, callback string, args ...any) error {
	return e.RequestTimeout(id, 0, method, callback, args...)
}

// RequestTimeout is Request with its own timeout (0 takes the world's,
// WorldConfig.RequestTimeout).
func (e *Entity) RequestTimeout(id rpc.EntityID, timeout time.Duration, method, callback string, args ...any) error {
	w := e.world
	if err := e.checkRequest(id, method, callback); err != nil {
		return err
	}
	enc, err := rpc.AppendArgs(nil, args)
	if err != nil {
		return fmt.Errorf("entity: request %s.%s: %w", id, method, err)
	}
	reply, err := e.pendingRequest(id, method, callback, timeout)
	if err != nil {
		return err
	}
	if _, ok := w.entities[id]; ok {
		w.local = append(w.local, pendingCall{id: id, method: method, args: enc, reply: reply})
		return nil
	}
	if q, ok := w.loading[id]; ok {
		w.loading[id] = append(q, pendingCall{id: id, method: method, args: enc, reply: reply})
		return nil
	}
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendEntityID(b, e.id)
	b = rpc.AppendUint64(b, reply.id)
	b = rpc.AppendString(b, method)
	w.sendEntity(id, rpc.MsgRequestEntityMethod, append(b, enc...))
	return nil
}

// checkRequest checks what a request asks for before it is sent.
func (e *Entity) checkRequest(id rpc.EntityID, method, callback string) error {
	if e.destroyed {
		return fmt.Errorf("entity: %s is destroyed", e)
	}
	if _, ok := e.typ.replyCallbacks[callback]; !ok {
		return fmt.Errorf("entity: %s has no method %s(result T, err error) or %s(err error) to call with the answer",
			e.typ.name, clip.Name(callback), clip.Name(callback))
	}
	if !id.Valid() {
		return fmt.Errorf("entity: invalid entity ID %s", clip.QuoteDefault(string(id)))
	}
	if method == "" || len(method) > rpc.MaxMethodNameLen {
		return fmt.Errorf("entity: method name of %d bytes (1 to %d)", len(method), rpc.MaxMethodNameLen)
	}
	return nil
}

// pendingRequest starts the timer of a request (0 timeout: the world's)
// and returns where its answer goes.
func (e *Entity) pendingRequest(id rpc.EntityID, method, callback string, timeout time.Duration) (*replyTo, error) {
	w := e.world
	if timeout <= 0 {
		timeout = w.cfg.RequestTimeout
	}
	targs, err := rpc.AppendArgs(nil, []any{callback, string(id), method})
	if err != nil {
		return nil, fmt.Errorf("entity: request %s.%s: %w", id, method, err)
	}
	e.nextTimer++
	t := &timer{id: e.nextTimer, method: methodReqTimeout, args: targs, fireAt: w.now().Add(timeout)}
	if e.timers == nil {
		e.timers = map[TimerID]*timer{}
	}
	e.timers[t.id] = t
	w.schedule(e, t)
	w.requests.Add(1)
	return &replyTo{caller: e.id, id: uint64(t.id)}, nil
}

// PendingRequests returns how many of this entity's requests wait for an
// answer.
func (e *Entity) PendingRequests() int {
	n := 0
	for _, t := range e.timers {
		if t.method == methodReqTimeout {
			n++
		}
	}
	return n
}

// decodeTimeoutArgs decodes a pending request's timer arguments.
func decodeTimeoutArgs(args []byte) (callback string, callee rpc.EntityID, method string, ok bool) {
	s := reflect.TypeFor[string]()
	vals, err := rpc.DecodeArgs(args, []reflect.Type{s, s, s})
	if err != nil {
		return "", "", "", false
	}
	return vals[0].String(), rpc.EntityID(vals[1].String()), vals[2].String(), true
}

// requestTimedOut runs a pending request's callback with rpc.ErrTimeout
// (its timer fired: no answer came in time).
func (w *World) requestTimedOut(e *Entity, t *timer) {
	cb, callee, method, ok := decodeTimeoutArgs(t.args)
	if !ok {
		w.log.WithField("entity", e.String()).Errorf("malformed pending request dropped")
		return
	}
	w.timeouts.Add(1)
	w.runCallback(e, cb, nil, &rpc.ReplyError{Code: rpc.CodeTimeout,
		Message: fmt.Sprintf("no answer from %s.%s within the timeout", callee, clip.Name(method))})
}

// runReply delivers an answer (requestID u64 | reply) to its caller e:
// it runs the callback unless the request timed out already.
func (w *World) runReply(e *Entity, args []byte) {
	r := rpc.NewReader(args)
	reqID := r.Uint64()
	body := r.Rest()
	if r.Err() != nil {
		w.log.WithField("entity", e.String()).Errorf("malformed reply dropped")
		return
	}
	result, rerr, err := rpc.DecodeReply(body)
	if err != nil {
		w.log.WithField("entity", e.String()).WithError(err).Errorf("malformed reply dropped")
		return
	}
	t := e.timers[TimerID(reqID)]
	if t == nil || t.method != methodReqTimeout {
		// Timed out already (or a second answer): the callback ran.
		w.lateReplies.Add(1)
		w.lines.Logf(w.log.WithField("entity", e.String()), logrus.DebugLevel, "late reply", "reply to request %d came after its timeout; dropped", reqID)
		return
	}
	delete(e.timers, t.id) // the heap drops it lazily
	cb, _, _, ok := decodeTimeoutArgs(t.args)
	if !ok {
		return
	}
	w.runCallback(e, cb, result, rerr)
}

// runCallback calls e's reply callback cb with the result (msgpack, for
// a success) or rerr.
func (w *World) runCallback(e *Entity, cb string, result []byte, rerr *rpc.ReplyError) {
	rc, ok := e.typ.replyCallbacks[cb]
	if !ok {
		// A hot reload removed or changed the method meanwhile.
		w.log.WithField("entity", e.String()).Warnf("answer for %s dropped: %s has no method %s(result T, err error) any more", e, e.typ.name, clip.Name(cb))
		return
	}
	in := make([]reflect.Value, 0, 2)
	if rc.result != nil {
		v := reflect.Zero(rc.result)
		if rerr == nil && result != nil {
			// The result is one msgpack value: decode it as a 1-array.
			vals, err := rpc.DecodeArgs(append([]byte{0x91}, result...), []reflect.Type{rc.result})
			if err != nil {
				rerr = &rpc.ReplyError{Code: rpc.CodeBadArgs, Message: clip.Text("the answer does not convert to "+rc.result.String()+": "+err.Error(), rpc.MaxReplyMessage)}
			} else {
				v = vals[0]
			}
		}
		in = append(in, v)
	}
	errv := reflect.Zero(errorType)
	if rerr != nil {
		errv = reflect.ValueOf(rerr)
	}
	in = append(in, errv)
	fn := e.self.Method(rc.index)
	w.safely(e, "request callback "+cb, func() { fn.Call(in) })
}

// sendReply sends a request's answer: to the caller entity (a local
// call, or MsgRequestReply routed by its ID) or to the client.
func (w *World) sendReply(to *replyTo, result []byte, rerr *rpc.ReplyError) {
	var body []byte
	if to.client != nil {
		body = rpc.AppendUint32LE(nil, uint32(to.id))
	} else {
		body = rpc.AppendUint64(rpc.AppendEntityID(nil, to.caller), to.id)
	}
	if rerr != nil {
		body = rpc.AppendReplyError(body, rerr.Code, rerr.Message)
	} else {
		if result == nil {
			result = []byte{0xc0} // msgpack nil
		}
		body = rpc.AppendReplyOK(body, result)
	}
	if to.client != nil {
		w.toClient(*to.client, rpc.MsgReply, body)
		return
	}
	_, here := w.entities[to.caller]
	if _, loading := w.loading[to.caller]; here || loading {
		w.local = append(w.local, pendingCall{id: to.caller, method: methodReply, args: body[rpc.EntityIDLength:]})
		return
	}
	w.sendEntity(to.caller, rpc.MsgRequestReply, body)
}

// replyErrorOf turns what a method returned as its error into a reply error.
func replyErrorOf(err error) *rpc.ReplyError {
	var re *rpc.ReplyError
	if errors.As(err, &re) {
		code := re.Code
		if code == rpc.CodeOK {
			code = rpc.CodeFailed
		}
		return &rpc.ReplyError{Code: code, Message: clip.Prefix(re.Message, rpc.MaxReplyMessage)}
	}
	return &rpc.ReplyError{Code: rpc.CodeFailed, Message: clip.Prefix(err.Error(), rpc.MaxReplyMessage)}
}

// MethodStats are the figures of one method of one entity type, for the
// game's /metrics: runs as a call (one-way, or a timer) and as a request,
// requests answered with an error by code, and how long runs took.
type MethodStats struct {
	Type, Method string
	Calls        atomic.Uint64
	Requests     atomic.Uint64
	// Errors counts error answers by code: the engine's codes (index =
	// code) and, at index len-1, every code of the game's own.
	Errors  [int(rpc.CodeFailed) + 2]atomic.Uint64
	Seconds *metrics.Histogram
}

// ErrorIndex returns the index in Errors that counts code.
func ErrorIndex(code rpc.ErrorCode) int {
	if int(code) < int(rpc.CodeFailed)+1 {
		return int(code)
	}
	return int(rpc.CodeFailed) + 1
}

// newMethodStats makes the figures of every RPC method of every type:
// declared methods only, so the metrics' cardinality is that of the code.
func newMethodStats(reg *Registry) map[*method]*MethodStats {
	m := map[*method]*MethodStats{}
	for _, t := range reg.types {
		for _, md := range t.methods {
			m[md] = &MethodStats{Type: t.name, Method: md.name, Seconds: metrics.NewDurationHistogram()}
		}
	}
	return m
}

// MethodStats calls fn with the figures of every RPC method that has run
// at least once, by type and method name. Safe from any goroutine: the
// set of methods is fixed when the world is made, and the figures are
// atomic.
func (en *Engine) MethodStats(fn func(s *MethodStats)) {
	w := en.w
	all := make([]*MethodStats, 0, len(w.stats))
	for _, s := range w.stats {
		if s.Calls.Load()+s.Requests.Load() > 0 {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Type != all[j].Type {
			return all[i].Type < all[j].Type
		}
		return all[i].Method < all[j].Method
	})
	for _, s := range all {
		fn(s)
	}
}

// RequestStats returns, safe from any goroutine, how many requests this
// world's entities sent, how many timed out, and how many answers came
// after their request had timed out (dropped).
func (w *World) RequestStats() (sent, timedOut, late uint64) {
	return w.requests.Load(), w.timeouts.Load(), w.lateReplies.Load()
}
