package entity

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
)

// Deferred answers.
//
// A method that answers a request usually returns its answer. One that
// cannot yet (a matchmaker that answers when a match is found, a service
// that must ask another first) calls DeferReply while it runs: the
// engine then sends nothing when it returns, and the entity answers later,
// once, with Reply. The handle is a string, so the entity keeps it in an
// attribute (server-only) and it survives a hot reload or a migration of
// the answering entity, as the request itself survives those of its
// caller. Nothing times out on the answering side: the caller's timeout
// does (an entity's request timeout; a client's context). A second
// answer for one handle, or one after the caller's timeout, is dropped
// where it arrives (counted as late by the caller's game; a gate drops
// an answer for a request ID it no longer holds, and forgets a client's
// unanswered IDs after about a minute when the client is at
// max_client_requests).

// ReplyHandle says where the answer of a deferred request goes (see
// Entity.DeferReply). It is an opaque string: keep it in an attribute,
// pass it to Reply.
type ReplyHandle string

// handle encodings: 'e' | callerID[16] | requestID u64, or 'c' | gateID
// u16 | clientID u64 | requestID u64, in base64url.
const (
	handleEntity = 'e'
	handleClient = 'c'
)

func (r *replyTo) handle() ReplyHandle {
	var b []byte
	if r.client != nil {
		b = append([]byte{handleClient}, make([]byte, 18)...)
		binary.LittleEndian.PutUint16(b[1:], uint16(r.client.Gate))
		binary.LittleEndian.PutUint64(b[3:], uint64(r.client.ID))
		binary.LittleEndian.PutUint64(b[11:], r.id)
	} else {
		b = rpc.AppendUint64(rpc.AppendEntityID([]byte{handleEntity}, r.caller), r.id)
	}
	return ReplyHandle(base64.RawURLEncoding.EncodeToString(b))
}

var errBadHandle = errors.New("entity: not a reply handle")

func parseHandle(h ReplyHandle) (*replyTo, error) {
	if len(h) > 64 {
		return nil, errBadHandle
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(string(h))
	if err != nil || len(b) == 0 || base64.RawURLEncoding.EncodeToString(b) != string(h) {
		return nil, errBadHandle // the decoder skips newlines: only the canonical form is one
	}
	switch {
	case b[0] == handleClient && len(b) == 19:
		return &replyTo{client: &ClientRef{Gate: rpc.GateID(binary.LittleEndian.Uint16(b[1:])), ID: rpc.ClientID(binary.LittleEndian.Uint64(b[3:]))},
			id: binary.LittleEndian.Uint64(b[11:])}, nil
	case b[0] == handleEntity && len(b) == 1+rpc.EntityIDLength+8:
		r := rpc.NewReader(b[1:])
		to := &replyTo{caller: r.EntityID(), id: r.Uint64()}
		if r.Err() != nil || !to.caller.Valid() {
			return nil, errBadHandle
		}
		return to, nil
	}
	return nil, errBadHandle
}

// DeferReply, called by a method while the engine runs it for a request
// (an entity's or a client's), keeps the request open: what the method
// returns is not sent (unless it panics: then the caller gets
// CodePanicked), and the entity answers later with Reply and the handle
// this returns. It is an error outside a request to this entity.
func (e *Entity) DeferReply() (ReplyHandle, error) {
	w := e.world
	if w.cur == nil || w.curEntity != e {
		return "", fmt.Errorf("entity: %s.DeferReply outside a request to it", e)
	}
	w.deferred = true
	return w.cur.handle(), nil
}

// Reply answers a request deferred with DeferReply: with result (which
// must encode as arguments do) if err is nil, or with err (a
// *rpc.ReplyError keeps its code, as a method's returned error does).
// It returns an error for a malformed handle or a result that cannot be
// encoded; then nothing is sent.
func (e *Entity) Reply(h ReplyHandle, result any, err error) error {
	return e.world.Reply(h, result, err)
}

// Reply is Entity.Reply.
func (w *World) Reply(h ReplyHandle, result any, err error) error {
	to, perr := parseHandle(h)
	if perr != nil {
		return fmt.Errorf("%w: %s", perr, clip.QuoteDefault(string(h)))
	}
	if err != nil {
		w.sendReply(to, nil, replyErrorOf(err))
		return nil
	}
	var enc []byte
	if result != nil {
		var eerr error
		if enc, eerr = rpc.AppendValue(nil, result); eerr != nil {
			return fmt.Errorf("entity: Reply: cannot encode the result: %w", eerr)
		}
	}
	w.sendReply(to, enc, nil)
	return nil
}

// runRequest runs c, a request to e, and reports whether the method
// deferred its answer (DeferReply).
func (w *World) runRequest(e *Entity, c pendingCall, from string) (result []byte, rerr *rpc.ReplyError, deferred bool) {
	prevCur, prevEnt, prevDef := w.cur, w.curEntity, w.deferred
	w.cur, w.curEntity, w.deferred = c.reply, e, false
	result, rerr = w.run(e, c.method, c.args, from, true)
	deferred = w.deferred && (rerr == nil || rerr.Code != rpc.CodePanicked)
	w.cur, w.curEntity, w.deferred = prevCur, prevEnt, prevDef
	return result, rerr, deferred
}
