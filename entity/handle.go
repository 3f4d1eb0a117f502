package entity

// The game loop's turns: frames from the dispatchers handled, calls
// delivered to entities (queued while they load or migrate), panics
// recovered.

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Handle processes one frame from a dispatcher, then everything it caused
// locally. A malformed frame is logged and dropped.
func (en *Engine) Handle(t rpc.MsgType, body []byte) {
	w := en.w
	if err := w.handle(t, body); err != nil {
		w.log.WithError(err).Errorf("dropped %v frame (%d bytes)", t, len(body))
	}
	w.flushLocal()
}

func (w *World) handle(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	switch t {
	case rpc.MsgCallEntityMethod, rpc.MsgClientCall, rpc.MsgRequestEntityMethod, rpc.MsgRequestReply, rpc.MsgClientRequest:
		return w.handleCall(t, body, r)
	case rpc.MsgClientConnected, rpc.MsgClientDisconnected, rpc.MsgClientAway, rpc.MsgClientSyncPosition:
		return w.handleClient(t, body, r)
	case rpc.MsgMigrateBlockAck:
		id := r.EntityID()
		if r.Err() != nil {
			return r.Err()
		}
		w.migrateAcked(id)
	case rpc.MsgRetireEntity:
		id := r.EntityID()
		newer := r.Uint64()
		if r.Err() != nil {
			return r.Err()
		}
		w.retireOlder(id, newer)
	case rpc.MsgMigrateEntity:
		spaceID := r.EntityID()
		r.Uint16()
		if r.Err() != nil {
			return r.Err()
		}
		return w.migrateIn(spaceID, r.Rest())
	case rpc.MsgCreateEntitySomewhere, rpc.MsgCreateEntityOnGame, rpc.MsgLoadEntitySomewhere, rpc.MsgEnsureService, rpc.MsgLoadEntityResult:
		return w.handlePlacement(t, body, r)
	case rpc.MsgCallOffline, rpc.MsgRequestOffline:
		return w.handleOffline(t, body, r)
	case rpc.MsgPeerGone:
		role, pid := rpc.Role(r.Uint8()), r.Uint16()
		if r.Err() != nil {
			return r.Err()
		}
		if role == rpc.RoleGame && rpc.GameID(pid) != w.gameID {
			w.gameGone(rpc.GameID(pid))
		}
		if role == rpc.RoleGate {
			for _, e := range w.entities {
				if e.client != nil && e.client.Gate == rpc.GateID(pid) {
					e.setClient(nil)
				}
			}
		}
	default:
		return fmt.Errorf("unexpected message type")
	}
	return nil
}

// handleCall handles calls and requests to entities of this game, from entities and clients.
func (w *World) handleCall(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCallEntityMethod:
		id, method := r.EntityID(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest()})
	case rpc.MsgClientCall:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		method := r.String()
		if err := r.Err(); err != nil {
			return err
		}
		if w.entities[id] == nil && w.loading[id] == nil {
			w.lines.Logf(w.log, logrus.DebugLevel, "client call on unknown entity", "client call %s on unknown entity %s dropped", clip.Name(method), id)
			return nil
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), client: ref})
	case rpc.MsgRequestEntityMethod:
		id, caller, reqID, method := r.EntityID(), r.EntityID(), r.Uint64(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if caller == "" || id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), reply: &replyTo{caller: caller, id: reqID}})
	case rpc.MsgRequestReply:
		caller := r.EntityID()
		rest := r.Rest()
		if r.Err() != nil || caller == "" || len(rest) < 8+2 {
			return fmt.Errorf("malformed: %v", r.Err())
		}
		w.deliver(pendingCall{id: caller, method: methodReply, args: rest})
	case rpc.MsgClientRequest:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		reqID := r.Uint32()
		method := r.String()
		if err := r.Err(); err != nil {
			return err
		}
		reply := &replyTo{client: ref, id: uint64(reqID)}
		if w.entities[id] == nil && w.loading[id] == nil {
			w.sendReply(reply, nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: "entity " + string(id) + " does not exist"})
			return nil
		}
		w.deliver(pendingCall{id: id, method: method, args: r.Rest(), client: ref, reply: reply})
	}
	return nil
}

// handleClient handles what a gate says of a client: connected, gone, away or back, moved.
func (w *World) handleClient(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgClientConnected:
		id := r.EntityID()
		ref := &ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		var addr string
		if r.Remaining() > 0 {
			addr = r.String()
		}
		if r.Err() != nil || id == "" {
			return fmt.Errorf("malformed: %v", r.Err())
		}
		t := w.reg.types[w.cfg.BootEntity]
		if t == nil {
			w.kick(*ref, "this game has no boot entity")
			return fmt.Errorf("no boot entity type")
		}
		e, err := w.newEntity(t, id, nil)
		if err != nil {
			return err
		}
		w.created(e)
		e.bindClient(ref, addr)
	case rpc.MsgClientDisconnected:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		if r.Err() != nil {
			return r.Err()
		}
		if e := w.entities[id]; e != nil && e.client != nil && *e.client == ref {
			e.setClient(nil)
		}
	case rpc.MsgClientAway:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		away := r.Uint8()
		if r.Err() != nil {
			return r.Err()
		}
		if e := w.entities[id]; e != nil && e.client != nil && *e.client == ref {
			e.clientAway(away != 0)
		}
	case rpc.MsgClientSyncPosition:
		id := r.EntityID()
		ref := ClientRef{Gate: rpc.GateID(r.Uint16()), ID: rpc.ClientID(r.Uint64())}
		spaceID := r.EntityID()
		pos, yaw := r.Position()
		if r.Err() != nil {
			return r.Err()
		}
		w.clientPosition(id, ref, spaceID, pos, yaw)
	}
	return nil
}

// handlePlacement handles entities created or loaded here by a dispatcher's placement, service shards ensured, and load answers.
func (w *World) handlePlacement(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCreateEntitySomewhere, rpc.MsgCreateEntityOnGame:
		id := r.EntityID()
		if t == rpc.MsgCreateEntityOnGame {
			r.Uint16()
		}
		typeName := r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		attrs, _, err := rpc.DecodeAny(r.Rest())
		if err != nil {
			return err
		}
		m, _ := attrs.(map[string]any)
		tt := w.reg.types[typeName]
		if tt == nil {
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
			return fmt.Errorf("create of unknown type %s", clip.Name(typeName))
		}
		e, err := w.newEntity(tt, id, m)
		if err != nil {
			// The dispatcher recorded the entity here: let it forget.
			w.sendEntity(id, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, id))
			return err
		}
		w.created(e)
		w.firstSave(e)
	case rpc.MsgLoadEntitySomewhere:
		id, typeName := r.EntityID(), r.String()
		var caller loadCaller
		if r.Remaining() > 0 { // a caller waits for the answer
			caller = loadCaller{id: r.EntityID(), callback: r.String()}
			if r.Err() == nil && (caller.id == "" || caller.callback == "") {
				return fmt.Errorf("load answer to %q, callback %q", caller.id, caller.callback)
			}
		}
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.load(id, typeName, caller, false)
	case rpc.MsgEnsureService:
		id := r.EntityID()
		r.Uint16()
		typeName := r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		w.ensureService(id, typeName)
	case rpc.MsgLoadEntityResult:
		caller := r.EntityID()
		rest := r.Rest()
		if r.Err() != nil {
			return r.Err()
		}
		if _, err := decodeLoadResult(rest); err != nil || caller == "" {
			return fmt.Errorf("malformed: %v", err)
		}
		w.deliver(pendingCall{id: caller, method: methodLoadResult, args: rest})
	}
	return nil
}

// handleOffline handles offline calls and requests: for an entity of this game, or to store in a mailbox.
func (w *World) handleOffline(t rpc.MsgType, body []byte, r *rpc.Reader) error {
	switch t {
	case rpc.MsgCallOffline:
		id, typeName := r.EntityID(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" {
			return fmt.Errorf("zero entity ID")
		}
		return w.callOffline(id, typeName, r.Rest(), nil)
	case rpc.MsgRequestOffline:
		id, caller, reqID, typeName := r.EntityID(), r.EntityID(), r.Uint64(), r.String()
		if r.Err() != nil {
			return r.Err()
		}
		if id == "" || caller == "" {
			return fmt.Errorf("zero entity ID")
		}
		return w.callOffline(id, typeName, r.Rest(), &replyTo{caller: caller, id: reqID})
	}
	return nil
}

// run runs method on e with args and returns its answer: the result,
// msgpack-encoded (nil for none), if answer is set, or the error, with
// its code: the method's own error, or the engine's (no method, bad
// arguments, panicked, e destroyed). It counts the run and its time in
// the method's figures, and logs a run longer than slow_call.
func (w *World) run(e *Entity, method string, args []byte, from string, answer bool) ([]byte, *rpc.ReplyError) {
	if e.destroyed {
		return nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: e.String() + " is destroyed"}
	}
	m, ok := e.typ.methods[method]
	if !ok {
		return nil, &rpc.ReplyError{Code: rpc.CodeNoMethod, Message: e.typ.name + " has no method " + clip.QuoteDefault(method)}
	}
	limit := 0
	if from == fromClient {
		limit = w.cfg.ClientStringLimit
	}
	vals, err := rpc.DecodeClientArgs(args, m.params, limit)
	if err != nil {
		if errors.Is(err, rpc.ErrStringTooLong) {
			err = fmt.Errorf("%w (max_client_string)", err)
		}
		if st := w.stats[m]; st != nil && answer {
			st.Requests.Add(1)
			st.Errors[ErrorIndex(rpc.CodeBadArgs)].Add(1)
		}
		return nil, &rpc.ReplyError{Code: rpc.CodeBadArgs, Message: fmt.Sprintf("%s.%s: %v", e.typ.name, method, err)}
	}
	fn := e.self.Method(m.index)
	var out []reflect.Value
	start := time.Now()
	ok = w.safely(e, from+" "+method, func() { out = fn.Call(vals) })
	took := time.Since(start)
	st := w.stats[m] // nil for a type registered after the world was made
	if st != nil {
		if answer {
			st.Requests.Add(1)
		} else {
			st.Calls.Add(1)
		}
		st.Seconds.Observe(took)
	}
	if w.cfg.SlowCall > 0 && took > w.cfg.SlowCall {
		w.lines.Logf(w.log.WithFields(logrus.Fields{"entity": e.String(), "type": e.typ.name, "method": method}), logrus.WarnLevel, "slow call",
			"slow call: %s %s.%s held the game loop for %v (slow_call %v)", from, e.typ.name, method, took.Round(time.Microsecond), w.cfg.SlowCall)
	}
	var rerr *rpc.ReplyError
	var result []byte
	switch {
	case !ok:
		rerr = &rpc.ReplyError{Code: rpc.CodePanicked, Message: e.typ.name + "." + method + " panicked"}
	case m.answer == answerErr:
		if err, _ := out[0].Interface().(error); err != nil {
			rerr = replyErrorOf(err)
		}
	case m.answer == answerValue:
		if err, _ := out[1].Interface().(error); err != nil {
			rerr = replyErrorOf(err)
		} else if answer {
			if result, err = rpc.AppendValue(nil, out[0].Interface()); err != nil {
				rerr = &rpc.ReplyError{Code: rpc.CodeFailed, Message: clip.Text("cannot encode the result: "+err.Error(), rpc.MaxReplyMessage)}
			}
		}
	}
	if rerr != nil && answer && st != nil {
		st.Errors[ErrorIndex(rerr.Code)].Add(1)
	}
	return result, rerr
}

// Run runs fn on behalf of the game (a posted callback, a storage
// result), recovering a panic, then runs the local calls fn made. It must
// be called on the game loop.
func (en *Engine) Run(fn func()) {
	w := en.w
	func() {
		defer func() {
			if p := recover(); p != nil {
				w.panics.Record(w.log, "in game callback", p, debug.Stack(), nil)
			}
		}()
		fn()
	}()
	w.flushLocal()
}

// flushLocal runs queued local calls (and the calls they make) in order.
func (w *World) flushLocal() {
	for len(w.local) > 0 {
		c := w.local[0]
		w.local = w.local[1:]
		w.deliver(c)
	}
	w.local = w.local[:0]
	w.flushClients()
}

// deliver runs one call on a local entity, or queues it for one loading.
func (w *World) deliver(c pendingCall) {
	if q, ok := w.loading[c.id]; ok {
		w.loading[c.id] = append(q, c)
		return
	}
	e := w.entities[c.id]
	if e != nil && e.migrating {
		m := w.migrations[c.id]
		m.calls = append(m.calls, c)
		return
	}
	if e == nil {
		if c.method == methodMail {
			return // gone, or its final save pending: the mail waits for the next load
		}
		if c.reply != nil {
			w.sendReply(c.reply, nil, &rpc.ReplyError{Code: rpc.CodeNoEntity, Message: "entity " + string(c.id) + " does not exist"})
			return
		}
		if c.method == methodReply {
			w.lateReplies.Add(1)
			w.lines.Logf(w.log, logrus.DebugLevel, "reply to unknown entity", "reply to unknown entity %s dropped", c.id)
			return
		}
		w.lines.Logf(w.log, logrus.WarnLevel, "call on unknown entity", "call %s on unknown entity %s dropped", clip.Name(c.method), c.id)
		if c.method == methodTakeClient && c.client == nil {
			// The client was given to an entity that is gone: do not leave
			// it connected to nothing.
			if ref, _, ok := decodeHandover(c.args); ok {
				w.kick(ref, "the entity this client was given to is gone")
			}
		}
		return
	}
	if c.client != nil {
		// Client calls first: a client may run exposed methods only, never
		// an internal one such as @takeClient.
		w.clientCall(e, c)
		return
	}
	if c.method == methodTakeClient {
		w.takeClient(e, c.args)
		return
	}
	if c.method == methodLoadResult {
		w.runLoadResult(e, c.args)
		return
	}
	if c.method == methodMail {
		w.takeMail(e)
		return
	}
	if c.method == methodReply {
		w.runReply(e, c.args)
		return
	}
	if c.reply != nil {
		result, rerr, deferred := w.runRequest(e, c, "request")
		if rerr != nil && rerr.Code < rpc.CodeFailed && rerr.Code != rpc.CodePanicked {
			w.lines.Logf(w.log.WithField("entity", e.String()), logrus.WarnLevel, "request refused", "request refused: %s", clip.Text(rerr.Message, maxReason))
		}
		if !deferred {
			w.sendReply(c.reply, result, rerr)
		}
		return
	}
	if err := w.invoke(e, c.method, c.args, "call"); err != nil {
		w.lines.Logf(w.log.WithField("entity", e.String()), logrus.WarnLevel, "call dropped", "call dropped: %s", clip.Text(err.Error(), maxReason))
	}
}

func (w *World) takeClient(e *Entity, args []byte) {
	ref, addr, ok := decodeHandover(args)
	if !ok {
		w.log.Errorf("%s: bad client handover", e)
		return
	}
	e.bindClient(&ref, addr)
}

// decodeHandover decodes the arguments of methodTakeClient: gate, client
// and the client's address (absent from a game older than it).
func decodeHandover(args []byte) (ClientRef, string, bool) {
	u16, u64 := reflect.TypeFor[uint16](), reflect.TypeFor[uint64]()
	vals, err := rpc.DecodeArgs(args, []reflect.Type{u16, u64, reflect.TypeFor[string]()})
	if err != nil {
		if vals, err = rpc.DecodeArgs(args, []reflect.Type{u16, u64}); err != nil {
			return ClientRef{}, "", false
		}
		vals = append(vals, reflect.ValueOf(""))
	}
	return ClientRef{Gate: rpc.GateID(vals[0].Uint()), ID: rpc.ClientID(vals[1].Uint())}, vals[2].String(), true
}

// clientCall runs a call from a client after checking that this client
// may call this method on this entity.
func (w *World) clientCall(e *Entity, c pendingCall) {
	m, ok := e.typ.methods[c.method]
	why := ""
	switch {
	case !ok || m.exposed == 0:
		why = "method is not exposed to clients"
	case m.exposed&exposePublic == 0 && (e.client == nil || *e.client != *c.client):
		why = "the entity is not this client's"
	}
	if c.reply != nil {
		// A request is answered, refused or not: the client learns why
		// from the code, and is not disconnected.
		var result []byte
		var rerr *rpc.ReplyError
		deferred := false
		if why != "" {
			rerr = &rpc.ReplyError{Code: rpc.CodeNoMethod, Message: e.typ.name + "." + clip.Name(c.method) + ": " + why}
		} else {
			result, rerr, deferred = w.runRequest(e, c, fromClient)
		}
		if rerr != nil && rerr.Code < rpc.CodeFailed && rerr.Code != rpc.CodePanicked {
			w.lines.Logf(w.log.WithFields(logrus.Fields{"gate": c.client.Gate, "client": uint64(c.client.ID), "entity": e.String()}),
				logrus.WarnLevel, "refused client request", "refused client request %s: %s", clip.Name(c.method), clip.Text(rerr.Message, maxReason))
		}
		if !deferred {
			w.sendReply(c.reply, result, rerr)
		}
		return
	}
	if why != "" {
		w.clientError(*c.client, e, c.method, why)
		return
	}
	if err := w.invoke(e, c.method, c.args, fromClient); err != nil {
		w.clientError(*c.client, e, c.method, err.Error())
	}
}

// fromClient is invoke's from for a client's call.
const fromClient = "client call"

// maxReason bounds the explanation in a refused call's kick reason and
// log line (an argument error quotes what the client sent, bounded, but
// the whole stays short).
const maxReason = 300

// clientError logs a refused client call and disconnects that client:
// a correct client never makes one. The method name (which the gate
// bounds to rpc.MaxMethodNameLen, but need not be the gate's) and why
// are bounded, and the log line is rate-limited: a client can make these
// at its message rate until its kick lands.
func (w *World) clientError(ref ClientRef, e *Entity, method, why string) {
	m, why := clip.Name(method), clip.Text(why, maxReason)
	w.lines.Logf(w.log.WithFields(logrus.Fields{"gate": ref.Gate, "client": uint64(ref.ID), "entity": e.String()}),
		logrus.WarnLevel, "refused client call", "refused client call %s: %s; disconnecting the client", m, why)
	w.kick(ref, fmt.Sprintf("call %s.%s refused: %s", e.typ.name, m, why))
}

// safely runs fn, recovering and logging a panic with the entity's ID, so
// that one entity's bug cannot stop the game loop.
func (w *World) safely(e *Entity, what string, fn func()) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			w.panics.Record(w.log, "in "+what, p, debug.Stack(), logrus.Fields{"entity": e.String()})
			ok = false
		}
	}()
	fn()
	return true
}

// invoke decodes args for method and calls it on e, for a one-way call
// or a timer: the method's results are dropped. A client's arguments
// are held to the world's ClientStringLimit. The error says why the
// method could not run (no such method, bad arguments, e destroyed).
func (w *World) invoke(e *Entity, method string, args []byte, from string) error {
	_, rerr := w.run(e, method, args, from, false)
	if rerr != nil && rerr.Code != rpc.CodePanicked && rerr.Code < rpc.CodeFailed {
		return errors.New(rerr.Message)
	}
	return nil
}

// Panics returns how many panics of entity code (methods, hooks, timers,
// callbacks) the world has recovered from, for the game's metrics.
func (w *World) Panics() uint64 { return w.panics.Total() }

type pendingCall struct {
	id     rpc.EntityID
	method string
	args   []byte
	client *ClientRef // the calling client, for client calls
	reply  *replyTo   // where the answer goes, for requests
}
