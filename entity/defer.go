package entity

import (
	"encoding/base64"
	"fmt"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
)

// Deferred answers: a request's method that needs another entity's (or
// a service's) answer before it can give its own calls DeferReply, asks,
// and answers later with World.Answer, from the callback of its own
// request. The pending answer is a PendingReply, a string that can be
// kept in an attribute, so that it survives a hot reload or a migration
// of the entity that holds it, as its own pending request does.

// PendingReply is the answer of a request that its method put off with
// Entity.DeferReply, to be given with World.Answer: where the answer goes
// (the calling entity, or the client) and the request's ID. It is a
// string so that it can be kept in an attribute; it means something only
// to the cluster run that made it, and only until answered (a second
// answer reaches the caller as a late reply, which it drops).
type PendingReply string

// pendingTag starts every PendingReply's decoded bytes: 'c' for a
// client's request, 'e' for an entity's.
const (
	pendingClient = 'c'
	pendingEntity = 'e'
)

// DeferReply, called by a method while it runs as a request (from an
// entity or a client), puts the request's answer off: what the method
// returns is discarded, and the caller gets what World.Answer is given
// with the returned PendingReply, or its own timeout if that never
// comes. If the method panics after deferring, the caller is answered
// rpc.CodePanicked at once, as for any request. ok is false, and nothing
// is deferred, when the method does not run as a request (a one-way call,
// a timer, a hook) or e is not the entity it runs on.
func (e *Entity) DeferReply() (p PendingReply, ok bool) {
	w := e.world
	if w.answering == nil || w.running != e {
		return "", false
	}
	w.deferred = true
	return encodePending(w.answering), true
}

// Answer gives the answer that a request's method put off (DeferReply):
// result (nil, or a value that can travel), or err, which is answered
// as a method's returned error is (a *rpc.ReplyError keeps its code,
// any other error is rpc.CodeFailed). It may run on any game: the answer
// is routed to the calling entity wherever it lives, or to the client at
// its gate. It returns an error for a PendingReply that DeferReply did
// not make, or a result that cannot be encoded (the caller is then
// answered rpc.CodeFailed).
func (w *World) Answer(p PendingReply, result any, err error) error {
	to, derr := decodePending(p)
	if derr != nil {
		return derr
	}
	if err != nil {
		w.sendReply(to, nil, replyErrorOf(err))
		return nil
	}
	b, eerr := rpc.AppendValue(nil, result)
	if eerr != nil {
		w.sendReply(to, nil, &rpc.ReplyError{Code: rpc.CodeFailed, Message: clip.Text("cannot encode the result: "+eerr.Error(), rpc.MaxReplyMessage)})
		return fmt.Errorf("entity: answer: cannot encode the result: %w", eerr)
	}
	w.sendReply(to, b, nil)
	return nil
}

// runRequest runs method on e as a request answered to reply; deferred
// says that the method put its answer off (DeferReply) and did not
// panic: then the caller must not answer it now.
func (w *World) runRequest(e *Entity, reply *replyTo, method string, args []byte, from string) (result []byte, rerr *rpc.ReplyError, deferred bool) {
	w.answering, w.running, w.deferred = reply, e, false
	result, rerr = w.run(e, method, args, from, true)
	deferred = w.deferred && (rerr == nil || rerr.Code != rpc.CodePanicked)
	w.answering, w.running, w.deferred = nil, nil, false
	return result, rerr, deferred
}

// encodePending encodes where an answer goes as a PendingReply.
func encodePending(to *replyTo) PendingReply {
	var b []byte
	if to.client != nil {
		b = rpc.AppendUint64(rpc.AppendUint64(rpc.AppendUint16(append(b, pendingClient), uint16(to.client.Gate)), uint64(to.client.ID)), to.id)
	} else {
		b = rpc.AppendUint64(rpc.AppendEntityID(append(b, pendingEntity), to.caller), to.id)
	}
	return PendingReply(base64.RawURLEncoding.EncodeToString(b))
}

// decodePending decodes a PendingReply.
func decodePending(p PendingReply) (*replyTo, error) {
	bad := fmt.Errorf("entity: %s is not a pending reply", clip.QuoteDefault(string(p)))
	if len(p) > 64 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(string(p))
	if err != nil || len(b) == 0 || base64.RawURLEncoding.EncodeToString(b) != string(p) {
		return nil, bad // the decoder skips newlines: only the canonical form is one
	}
	r := rpc.NewReader(b[1:])
	to := &replyTo{}
	switch b[0] {
	case pendingClient:
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		to.client, to.id = &ref, r.Uint64()
	case pendingEntity:
		to.caller, to.id = r.EntityID(), r.Uint64()
		if r.Err() == nil && !to.caller.Valid() {
			return nil, bad
		}
	default:
		return nil, bad
	}
	if r.Err() != nil || len(r.Rest()) != 0 {
		return nil, bad
	}
	return to, nil
}
