package entity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// Offline messages: calls to a persistent entity that wait in storage
// while it is not live.
//
// World.CallOffline sends MsgCallOffline (entity ID, type, method, args)
// to the entity's dispatcher, the authority on where entities live. If a
// game has the entity registered (live, loading, migrating, or just
// destroyed with its final save pending), the dispatcher forwards it
// there, where it is a call: run at once, or queued behind the load or
// the migration. If no game has it, the dispatcher sends it to any game,
// which appends it to the entity's mailbox in storage
// (storage.MailboxStore.AppendMessage, bounded per entity by
// WorldConfig.MailboxLimit). A load takes the mailbox in the same storage
// operation as its claim (storage worker, in order) and runs the messages,
// in the order they were stored, before any call that waited for the
// load.
//
// The race: a load placed on game B while the append is on its way to
// game A may take the mailbox before A appends. So once A has appended,
// it sends the entity an internal call (methodMail) routed like any call:
// if a game has the entity by then, that call reaches it (after its load,
// like any queued call) and it takes its mailbox again. If none has it,
// the call is dropped, and the message waits for the next load.

// methodMail is the internal call that tells a live entity its mailbox
// has new messages (a name no Go method can have).
const methodMail = "@mail"

// DefaultMailboxLimit is WorldConfig.MailboxLimit's default: the number
// of offline messages one entity's mailbox holds.
const DefaultMailboxLimit = 256

// appendMail encodes one stored message: method str | args.
func appendMail(b []byte, method string, args []byte) []byte {
	return append(rpc.AppendString(b, method), args...)
}

// decodeMail decodes a stored message. Storage is not trusted further
// than a frame: an empty method, or an internal one (which only the
// engine may call), is refused.
func decodeMail(msg []byte) (method string, args []byte, err error) {
	r := rpc.NewReader(msg)
	method = r.String()
	args = r.Rest()
	switch {
	case r.Err() != nil:
		return "", nil, r.Err()
	case method == "":
		return "", nil, errors.New("empty method name")
	case strings.HasPrefix(method, "@"):
		return "", nil, fmt.Errorf("internal method %s", clip.QuoteDefault(method))
	}
	return method, args, nil
}

// OfflineStats returns, safe from any goroutine, how many offline calls
// (Entity.CallOffline) this game stored in mailboxes, how many it
// dropped (mailbox full, no such entity, storage failed), and how many
// its entities ran from their mailboxes.
func (w *World) OfflineStats() (stored, dropped, run uint64) {
	return w.mailStored.Load(), w.mailDropped.Load(), w.mailRun.Load()
}

// CallOffline calls method on the persistent entity id of type typeName
// with args, as Entity.CallOffline does.
func (w *World) CallOffline(typeName string, id rpc.EntityID, method string, args ...any) error {
	enc, err := w.checkOffline(typeName, id, method, args)
	if err != nil {
		return err
	}
	if w.offlineHere(id, pendingCall{id: id, method: method, args: enc}) {
		return nil
	}
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), typeName)
	w.sendEntity(id, rpc.MsgCallOffline, appendMail(b, method, enc))
	return nil
}

// checkOffline checks an offline call before it is sent, and returns its
// encoded arguments.
func (w *World) checkOffline(typeName string, id rpc.EntityID, method string, args []any) ([]byte, error) {
	if err := w.checkLoad(typeName, id); err != nil {
		return nil, err
	}
	t := w.reg.types[typeName]
	if _, ok := t.methods[method]; !ok {
		return nil, fmt.Errorf("entity: type %s has no method %s", typeName, clip.QuoteDefault(method))
	}
	enc, err := rpc.AppendArgs(nil, args)
	if err != nil {
		return nil, fmt.Errorf("entity: CallOffline %s.%s: cannot encode arguments: %w", typeName, method, err)
	}
	if n := len(appendMail(nil, method, enc)); n > storage.MaxMailboxMessage {
		return nil, fmt.Errorf("entity: CallOffline %s.%s: %d bytes, more than an offline message holds (%d)", typeName, method, n, storage.MaxMailboxMessage)
	}
	if e := w.entities[id]; e != nil && e.typ != t {
		return nil, fmt.Errorf("entity: %s is a %s, not a %s", id, e.typ.name, typeName)
	}
	return enc, nil
}

// offlineHere runs c as a call (or queues it behind the load) if its
// entity is here, and reports whether it was.
func (w *World) offlineHere(id rpc.EntityID, c pendingCall) bool {
	if w.entities[id] != nil {
		w.local = append(w.local, c)
		return true
	}
	if q, ok := w.loading[id]; ok {
		w.loading[id] = append(q, c)
		return true
	}
	return false
}

// RequestOffline is CallOffline with an answer: callback (a method of
// this entity, as for Request) runs once, with the method's result if the
// entity was live and ran it, nil once the call is stored in its mailbox,
// or a *rpc.ReplyError that says why it was neither: rpc.CodeOverloaded
// (its mailbox is full: mailbox_limit), rpc.CodeNoEntity (storage holds
// no such entity), rpc.CodeFailed (storage failed), rpc.CodeTimeout (no
// answer within the world's request timeout: the storing game died, say;
// the call may have been stored), or the method's own error if it ran.
// It returns an error at once for what CallOffline and Request refuse.
func (e *Entity) RequestOffline(typeName string, id rpc.EntityID, method, callback string, args ...any) error {
	w := e.world
	if err := e.checkRequest(id, method, callback); err != nil {
		return err
	}
	enc, err := w.checkOffline(typeName, id, method, args)
	if err != nil {
		return err
	}
	reply, err := e.pendingRequest(id, method, callback, 0)
	if err != nil {
		return err
	}
	if w.offlineHere(id, pendingCall{id: id, method: method, args: enc, reply: reply}) {
		return nil
	}
	b := rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, id), e.id), reply.id)
	b = rpc.AppendString(b, typeName)
	w.sendEntity(id, rpc.MsgRequestOffline, appendMail(b, method, enc))
	return nil
}

// CallOffline calls method on the persistent entity id of type typeName
// with args, whether it is live or not: a live entity (wherever it
// lives) runs it as a call; one that is not loaded finds it in storage
// when it is next loaded, anywhere, and runs its offline calls in the
// order they were stored, right after its OnCreated and before any call
// sent to it while it loaded. A mailbox holds at most
// WorldConfig.MailboxLimit calls (DefaultMailboxLimit): past it a call is
// dropped, and the game that was to store it logs an error naming the
// entity and the method; so is a call to an entity storage does not hold.
//
// It returns an error at once for an unknown or non-persistent type, an
// invalid ID, a method the type does not have, or arguments that cannot
// be encoded or are larger than storage.MaxMailboxMessage.
//
// Delivery is at most once: a load takes the mailbox and runs the calls;
// if the game dies before the entity's next save, the calls' effects are
// lost with the rest of what changed since that save (as for any call).
func (e *Entity) CallOffline(typeName string, id rpc.EntityID, method string, args ...any) error {
	return e.world.CallOffline(typeName, id, method, args...)
}

// callOffline handles a MsgCallOffline from a dispatcher: a call for an
// entity here, or one to store in the entity's mailbox.
//
// reply, if not nil, is where the answer of a MsgRequestOffline goes.
func (w *World) callOffline(id rpc.EntityID, typeName string, msg []byte, reply *replyTo) error {
	method, args, err := decodeMail(msg)
	if err != nil {
		return err
	}
	if w.entities[id] != nil || w.loading[id] != nil {
		w.deliver(pendingCall{id: id, method: method, args: args, reply: reply})
		return nil
	}
	w.storeMail(typeName, id, [][]byte{msg}, reply)
	return nil
}

// storeMail appends msgs, in order, to the mailbox of entity id, and
// then tells the entity, wherever it lives, to take its mailbox. reply,
// if not nil, is told whether the one message of msgs was stored.
func (w *World) storeMail(typeName string, id rpc.EntityID, msgs [][]byte, reply *replyTo) {
	t := w.reg.types[typeName]
	if t == nil || !t.persistent || w.store == nil {
		why := fmt.Sprintf("game%d knows no persistent type %s", w.gameID, clip.QuoteDefault(typeName))
		if t != nil && t.persistent {
			why = fmt.Sprintf("game%d has no storage", w.gameID)
		}
		w.mailDropped.Add(uint64(len(msgs)))
		w.lines.Logf(w.log, logrus.ErrorLevel, "offline call dropped", "%d offline call(s) to %s dropped: %s", len(msgs), id, why)
		if reply != nil {
			w.sendReply(reply, nil, &rpc.ReplyError{Code: rpc.CodeFailed, Message: "offline call not stored: " + why})
		}
		return
	}
	left := len(msgs)
	stored := 0
	for _, msg := range msgs {
		w.inflight++
		w.store.AppendMessage(typeName, id, msg, w.cfg.MailboxLimit, func(_ int, err error) {
			w.inflight--
			left--
			if err == nil {
				stored++
				w.mailStored.Add(1)
				if reply != nil {
					w.sendReply(reply, nil, nil)
				}
			} else {
				w.mailDropped.Add(1)
				method, _, _ := decodeMail(msg)
				what, code := "storage failed", rpc.CodeFailed
				switch {
				case errors.Is(err, storage.ErrMailboxFull):
					what, code = fmt.Sprintf("its mailbox is full (%d offline calls, mailbox_limit)", w.cfg.MailboxLimit), rpc.CodeOverloaded
				case errors.Is(err, storage.ErrNotFound):
					what, code = "storage holds no such entity", rpc.CodeNoEntity
				}
				w.lines.Logf(w.log.WithError(err), logrus.ErrorLevel, "offline call dropped", "offline call %s to %s<%s> dropped: %s",
					clip.Name(method), clip.Name(typeName), id, what)
				if reply != nil {
					w.sendReply(reply, nil, &rpc.ReplyError{Code: code, Message: "offline call " + clip.Name(method) + " to " + clip.Name(typeName) + "<" + string(id) + "> not stored: " + what})
				}
			}
			if left == 0 && stored > 0 {
				w.sendEntity(id, rpc.MsgCallEntityMethod, rpc.AppendString(rpc.AppendEntityID(nil, id), methodMail))
			}
		})
	}
}

// takeMail takes e's mailbox (told by methodMail that it has news) and
// runs its calls in order.
func (w *World) takeMail(e *Entity) {
	if w.store == nil || !e.typ.persistent {
		return
	}
	id, typeName := e.id, e.typ.name
	w.inflight++
	w.store.TakeMessages(typeName, id, func(msgs [][]byte, err error) {
		w.inflight--
		if err != nil {
			w.log.WithError(err).WithField("entity", e.String()).Errorf("taking the offline calls of %s failed; they wait for its next load", e)
			return
		}
		w.runMail(typeName, id, msgs)
		w.flushLocal()
	})
}

// runMail runs the offline calls taken from the mailbox of entity id, in
// order. If the entity is no longer here (destroyed or gone while the
// mailbox was taken), they are stored again for its next load.
func (w *World) runMail(typeName string, id rpc.EntityID, msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	if w.entities[id] == nil && w.loading[id] == nil {
		w.log.Warnf("%s left while its %d offline call(s) were taken: storing them again", id, len(msgs))
		w.storeMail(typeName, id, msgs, nil)
		return
	}
	for _, msg := range msgs {
		method, args, err := decodeMail(msg)
		if err != nil {
			w.lines.Logf(w.log, logrus.ErrorLevel, "bad offline call", "malformed offline call to %s dropped: %v", id, err)
			continue
		}
		w.mailRun.Add(1)
		w.deliver(pendingCall{id: id, method: method, args: args})
	}
}
