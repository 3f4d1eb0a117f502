package rpc

import (
	"fmt"
	"strconv"
	"strings"
)

// MsgType identifies the layout of a frame's body.
type MsgType uint16

// Client protocol: the messages a client and a gate exchange. Their bodies
// are documented field by field in docs/protocol.md. Strings are
// uint16-length-prefixed UTF-8; arguments are a msgpack array.
const (
	// MsgHeartbeat (client → gate, empty body) keeps a connection alive; the
	// gate answers with MsgHeartbeatAck.
	MsgHeartbeat MsgType = 1
	// MsgHeartbeatAck (gate → client) answers MsgHeartbeat. Its body is
	// empty, or the gate's heartbeat settings (see HeartbeatParams):
	// interval u32 ms | timeout u32 ms, then anything (ignored).
	MsgHeartbeatAck MsgType = 2
	// MsgCallEntity (client → gate): entityID[16] | method str | args.
	MsgCallEntity MsgType = 3
	// MsgSyncPosition (client → gate): entityID[16] | spaceID[16] | x f32 |
	// y f32 | z f32 | yaw f32. The client moved the entity it controls (its
	// player) in the space it believes it is in; anything else is dropped.
	MsgSyncPosition MsgType = 4
	// MsgClientHello (client → gate): version u16, then anything (ignored,
	// for later versions). It must be a client's first frame, on every
	// transport: the gate announces the client to the cluster (its boot
	// entity is created) only once it has read a hello of ProtocolVersion,
	// and kicks a client whose first frame is anything else, or another
	// version, saying why.
	MsgClientHello MsgType = 5
	// MsgRequest (client → gate): entityID[16] | requestID u32 | method str
	// | args. A call that answers: the gate forwards it, and the client
	// gets exactly one MsgReply with the same request ID (see request.go).
	MsgRequest MsgType = 6
	// MsgBye (client → gate, and gate → client), empty body: the close
	// frame. A client that quits sends it; the gate ends the client's
	// session at once (its entity is told, as after any disconnect),
	// answers with MsgBye as its last frame and closes. Over KCP, which
	// has no close of its own, the client waits (bounded) for that answer
	// before it closes its socket, so that the bye is known to have
	// arrived. The gate sends it only in answer to a client's.
	MsgBye MsgType = 7
	// MsgResume (client → gate): version u16 | flags u8 | token[32] |
	// received u64. The first frame of a connection that takes up a
	// resumable session (see session.go) instead of MsgClientHello:
	// received is how many session frames the client has received from
	// the gate in that session.
	MsgResume MsgType = 8
	// MsgAck (client → gate, and gate → client): received u64. The sender
	// has received that many session frames from the other side in this
	// session: the other side may forget them (see session.go).
	MsgAck MsgType = 9

	// MsgCreateEntity (gate → client): entityID[16] | isPlayer u8 | type str |
	// attrs msgpack map, then, for an entity in a space, x f32 | y f32 |
	// z f32 | yaw f32.
	MsgCreateEntity MsgType = 10
	// MsgDestroyEntity (gate → client): entityID[16].
	MsgDestroyEntity MsgType = 11
	// MsgCallClient (gate → client): entityID[16] | method str | args. An
	// all-zero entity ID means "the client's player entity".
	MsgCallClient MsgType = 12
	// MsgAttrChange (gate → client): entityID[16] | op u8 | path msgpack array | value msgpack.
	MsgAttrChange MsgType = 13
	// MsgKick (gate → client): reason str. The gate closes the connection
	// after sending it.
	MsgKick MsgType = 14
	// MsgEnterSpace (gate → client): spaceID[16] | space type str | x f32 |
	// y f32 | z f32 | yaw f32. The player entered a space, at that position;
	// a zero space ID means it left its space and is in none.
	MsgEnterSpace MsgType = 15
	// MsgPositions (gate → client): count u16, then count × (entityID[16] |
	// x f32 | y f32 | z f32 | yaw f32): where entities in the client's view
	// (or its player, when the server moved it) are now.
	MsgPositions MsgType = 16
	// MsgReply (gate → client): requestID u32 | code u16 | result msgpack
	// (code 0) or message str (at most MaxReplyMessage bytes). Answers a
	// MsgRequest.
	MsgReply MsgType = 17
	// MsgSession (gate → client): token[32] | window u32 ms | limit u32
	// bytes. Answers a hello that asked for a resumable session
	// (HelloResume): the token to resume it with, how long the gate holds
	// it after an unexpected disconnect, and how many bytes of session
	// frames it holds for the client meanwhile.
	MsgSession MsgType = 18
	// MsgResumed (gate → client): token[32] | received u64. Answers an
	// accepted MsgResume: the session's new token (the old one is void),
	// and how many session frames the gate has received from the client,
	// which resends those after it.
	MsgResumed MsgType = 19
)

// Server protocol: messages between gates, dispatchers and games. Those
// that a dispatcher routes start with their routing field.
const (
	// MsgHello (game/gate → dispatcher): role u8 | id u16 [| instance
	// u64 [| auth u8 | nonce[32]]]. First frame on every server
	// connection. The instance is that of the dispatcher the peer was
	// connected to before (0 or absent: none); one that is not the
	// dispatcher's own tells it that it restarted (see
	// dispatcher.Config.RecoverWindow). auth is AuthV1 when the peer has
	// the cluster secret: the dispatcher answers MsgAuthChallenge (see
	// linkauth.go, Hello and DecodeHello).
	MsgHello MsgType = 1000
	// MsgHelloAck (dispatcher → game/gate): dispatcherID u16 | instance
	// u64 [| proof[32]]. The instance is random, drawn when the dispatcher
	// process starts: a peer that reconnects to the same instance knows
	// the dispatcher saw it leave and told the others (MsgPeerGone); a new
	// instance (the dispatcher restarted) told no one anything and knows
	// nothing, so sessions carry on and state is re-announced. After an
	// authenticated hello it ends with the dispatcher's proof
	// (DispatcherProof).
	MsgHelloAck MsgType = 1001
	// MsgPeerGone (dispatcher → games, gates): role u8 | id u16. A game or
	// gate disconnected from the dispatcher.
	MsgPeerGone MsgType = 1002
	// MsgHelloRefused (dispatcher → game/gate): code u8 | reason str (at
	// most MaxRefusalReason bytes). The dispatcher refuses the hello (see
	// RefusalCode) and closes the connection.
	MsgHelloRefused MsgType = 1003
	// MsgAuthChallenge (dispatcher → game/gate): dispatcherID u16 |
	// instance u64 | nonce[32]. Answers an authenticated MsgHello.
	MsgAuthChallenge MsgType = 1004
	// MsgAuthProof (game/gate → dispatcher): proof[32], the peer's
	// PeerProof of the hello and the challenge.
	MsgAuthProof MsgType = 1005

	// MsgCallEntityMethod (game → dispatcher → game), entity-routed:
	// entityID[16] | method str | args.
	MsgCallEntityMethod MsgType = 1010
	// MsgClientCall (gate → dispatcher → game), entity-routed:
	// entityID[16] | gateID u16 | clientID u64 | method str | args.
	MsgClientCall MsgType = 1011
	// MsgClientConnected (gate → dispatcher → game): bootEntityID[16] |
	// gateID u16 | clientID u64 [| remoteAddr str]. The gate sends a zero
	// boot ID; the dispatcher picks the ID and the game, and records where
	// it lives. remoteAddr is the "host:port" the client connected from,
	// as the gate saw it (at most 128 bytes; absent from older gates).
	MsgClientConnected MsgType = 1012
	// MsgClientDisconnected (gate → dispatcher → game), entity-routed:
	// ownerEntityID[16] | gateID u16 | clientID u64.
	MsgClientDisconnected MsgType = 1013
	// MsgRegisterEntity (game → dispatcher), entity-routed: entityID[16]
	// [| epoch u64]. The sending game now hosts the entity. A persistent
	// entity's copy names its fencing epoch (storage.ClaimEntity) once it
	// has one: if another game registered a copy with a greater epoch and
	// the entity is not migrating, the dispatcher keeps that route and
	// answers MsgRetireEntity; if the other copy's epoch is smaller, that
	// game gets the MsgRetireEntity and the route is the sender's.
	MsgRegisterEntity MsgType = 1014
	// MsgUnregisterEntity (game → dispatcher), entity-routed: entityID[16].
	MsgUnregisterEntity MsgType = 1015
	// MsgCreateEntitySomewhere (game → dispatcher → game), entity-routed:
	// entityID[16] | type str | attrs msgpack map. The dispatcher picks a game.
	MsgCreateEntitySomewhere MsgType = 1016
	// MsgLoadEntitySomewhere (game → dispatcher → game), entity-routed:
	// entityID[16] | type str [| callerID[16] | callback str]. Loads a
	// persistent entity unless it is already live somewhere. With a
	// caller, the game that loads it, or where it lives (the dispatcher
	// forwards a load of a live entity there), answers with
	// MsgLoadEntityResult.
	MsgLoadEntitySomewhere MsgType = 1017
	// MsgClientSyncPosition (gate → dispatcher → game), entity-routed:
	// entityID[16] | gateID u16 | clientID u64 | spaceID[16] | x f32 | y f32 |
	// z f32 | yaw f32. A client's MsgSyncPosition with its identity attached.
	MsgClientSyncPosition MsgType = 1018
	// MsgMigrateBlock (game → dispatcher), entity-routed: entityID[16]. The
	// entity is leaving its game: the dispatcher queues everything for it,
	// in order, until a game registers it again, and answers
	// MsgMigrateBlockAck after everything it already forwarded.
	MsgMigrateBlock MsgType = 1019
	// MsgMigrateEntity (game → dispatcher → game), routed by the space ID:
	// spaceID[16] | fromGame u16 | frozen entity (msgpack). The game that
	// hosts the space receives the entity; if no game does, the dispatcher
	// sends it back to fromGame, which keeps the entity outside any space.
	MsgMigrateEntity MsgType = 1020
	// MsgCreateEntityOnGame (game → dispatcher → game), entity-routed:
	// entityID[16] | gameID u16 | type str | attrs msgpack map. Like
	// MsgCreateEntitySomewhere, on the game named.
	MsgCreateEntityOnGame MsgType = 1021
	// MsgLoadEntityResult (game → dispatcher → game), entity-routed by the
	// caller: callerID[16] | entityID[16] | type str | callback str |
	// code u8 | reason str. Answers a MsgLoadEntitySomewhere that named a
	// caller: code 0 means the entity is live; otherwise the load failed
	// (1 not in storage, 2 stored data damaged, 3 storage error, 4 the
	// game cannot load that type) and reason says why, in the loading
	// game's words (at most 512 bytes).
	MsgLoadEntityResult MsgType = 1022
	// MsgRequestEntityMethod (game → dispatcher → game), entity-routed by
	// the callee: calleeID[16] | callerID[16] | requestID u64 | method str
	// | args. The callee's game answers with MsgRequestReply.
	MsgRequestEntityMethod MsgType = 1023
	// MsgRequestReply (game → dispatcher → game), entity-routed by the
	// caller: callerID[16] | requestID u64 | code u16 | result msgpack
	// (code 0) or message str. Routed like a call, it waits in migration
	// and hot-reload queues and reaches the caller wherever it lives.
	MsgRequestReply MsgType = 1024
	// MsgClientRequest (gate → dispatcher → game), entity-routed:
	// entityID[16] | gateID u16 | clientID u64 | requestID u32 | method
	// str | args. A client's MsgRequest with its identity attached; the
	// game answers with a MsgReply frame to that client.
	MsgClientRequest MsgType = 1025
	// MsgCallOffline (game → dispatcher → game), entity-routed:
	// entityID[16] | type str | method str | args. A call to a persistent
	// entity of that type that waits in storage if the entity is not
	// live: the dispatcher forwards it to the entity's game if it is
	// registered (a call there, queued while it loads or migrates), and
	// otherwise to any game, which appends it to the entity's mailbox
	// (storage.MailboxStore) for its next load.
	MsgCallOffline MsgType = 1026
	// MsgEnsureService (game → dispatcher → game), entity-routed:
	// entityID[16] | preferGame u16 | type str. Makes one shard of a
	// service (entity.Registry.RegisterService) live unless it is: the
	// dispatcher places it like a load, on preferGame if that game is
	// connected and not frozen (else the least loaded), and forwards it
	// to the entity's game if it is registered (which ignores it if the
	// shard is live there). The game creates the shard, or loads it from
	// storage if the service is persistent (created if storage has none).
	MsgEnsureService MsgType = 1027
	// MsgRequestOffline (game → dispatcher → game), entity-routed:
	// entityID[16] | callerID[16] | requestID u64 | type str | method str
	// | args. MsgCallOffline with an answer (MsgRequestReply to the
	// caller): routed as MsgCallOffline is; the entity's game answers
	// with the method's result, the storing game with nil once stored or
	// the reason it was not (mailbox full, no such entity, storage
	// failed).
	MsgRequestOffline MsgType = 1028
	// MsgClientAway (gate → dispatcher → game), entity-routed:
	// ownerEntityID[16] | gateID u16 | clientID u64 | away u8. The
	// client's connection dropped and its resumable session is held
	// (away 1: the entity's OnClientAway runs), or the client came back
	// (away 0: OnClientBack). A session that is not resumed in time ends
	// with MsgClientDisconnected, as any other.
	MsgClientAway MsgType = 1029

	// MsgToClient (game → dispatcher → gate), gate-routed: gateID u16 |
	// clientID u64 | client frame type u16 | client frame body.
	MsgToClient MsgType = 1030
	// MsgSetClientOwner (game → dispatcher → gate), gate-routed: gateID u16 |
	// clientID u64 | entityID[16] | gameID u16.
	MsgSetClientOwner MsgType = 1031
	// MsgSetClientFilterProp (game → dispatcher → gate), gate-routed:
	// gateID u16 | clientID u64 | key str | value str.
	MsgSetClientFilterProp MsgType = 1032
	// MsgKickClient (game → dispatcher → gate), gate-routed: gateID u16 |
	// clientID u64 | reason str.
	MsgKickClient MsgType = 1033
	// MsgFilteredBroadcast (game → every dispatcher → gates): op u8 | key
	// str | value str | client frame type u16 | client frame body. Each
	// dispatcher forwards it to the gates it is the route for.
	MsgFilteredBroadcast MsgType = 1034
	// MsgToClients (game → dispatcher → gate), gate-routed: gateID u16, then
	// items to the end of the body, each n u16 | n × clientID u64 | frame
	// length u32 | client frame type u16 | client frame body. The gate sends
	// each item's frame to each of its n clients, items in order. A game
	// sends everything for one gate that one event produced as one of these.
	MsgToClients MsgType = 1035

	// MsgFreezeGame (game → dispatcher), empty body: the game is about to
	// freeze for a hot reload. The dispatcher queues every packet for it,
	// in order, until it comes back (a new connection from the same game
	// ID) or unfreezes, and answers MsgFreezeAck after everything it had
	// already forwarded.
	MsgFreezeGame MsgType = 1040
	// MsgFreezeAck (dispatcher → game), empty body.
	MsgFreezeAck MsgType = 1041
	// MsgUnfreezeGame (game → dispatcher), empty body: the freeze failed;
	// flush the queue to this connection and resume.
	MsgUnfreezeGame MsgType = 1042
	// MsgRestored (game → dispatcher), empty body: the game restored from
	// a freeze is serving. Until then the dispatcher keeps a copy of
	// everything it delivered to the game since the freeze, so that if the
	// new process dies before serving, the next one (a rollback) gets it
	// all again.
	MsgRestored MsgType = 1043
	// MsgMigrateBlockAck (dispatcher → game): entityID[16]. Answers
	// MsgMigrateBlock: nothing more for the entity will reach this game.
	MsgMigrateBlockAck MsgType = 1044
	// MsgRegistered (game → dispatcher), empty body: the game has sent a
	// MsgRegisterEntity for every entity of its own in this dispatcher's
	// shard since it connected (none, for a game that just started). A
	// dispatcher that restarted holds loads of unknown entities until
	// every game of the cluster has said this, so that an entity still
	// alive on a game that has not re-registered it yet is not loaded a
	// second time elsewhere.
	MsgRegistered MsgType = 1045
	// MsgRetireEntity (dispatcher → game): entityID[16] | epoch u64. A
	// newer copy (this epoch) of a persistent entity lives on another game:
	// the receiving game retires its copy if that copy's epoch is smaller
	// (destroyed without saving, its client kicked), as after a fenced save.
	MsgRetireEntity MsgType = 1046
)

// ProtocolVersion is the version of the client protocol this code speaks:
// what a client says in MsgClientHello, and the only one a gate accepts.
// It changes with any change to the client protocol that a client of the
// previous version would not understand (docs/protocol.md, Versioning).
const ProtocolVersion uint16 = 1

// AppendClientHello appends the body of a MsgClientHello for version.
func AppendClientHello(b []byte, version uint16) []byte { return AppendUint16(b, version) }

// DecodeClientHello decodes a MsgClientHello body: its version, or an
// error if the body is shorter than that. Bytes after the version are
// ignored (later versions may add fields).
func DecodeClientHello(body []byte) (uint16, error) {
	if len(body) < 2 {
		return 0, fmt.Errorf("rpc: ClientHello of %d bytes, want at least 2", len(body))
	}
	return uint16(body[0]) | uint16(body[1])<<8, nil
}

var msgTypeNames = map[MsgType]string{
	MsgHeartbeat: "Heartbeat", MsgClientHello: "ClientHello", MsgHeartbeatAck: "HeartbeatAck", MsgCallEntity: "CallEntity",
	MsgCreateEntity: "CreateEntity", MsgDestroyEntity: "DestroyEntity", MsgCallClient: "CallClient",
	MsgAttrChange: "AttrChange", MsgKick: "Kick", MsgSyncPosition: "SyncPosition",
	MsgEnterSpace: "EnterSpace", MsgPositions: "Positions", MsgRequest: "Request", MsgReply: "Reply", MsgBye: "Bye",
	MsgResume: "Resume", MsgAck: "Ack", MsgSession: "Session", MsgResumed: "Resumed", MsgClientAway: "ClientAway",
	MsgRequestEntityMethod: "RequestEntityMethod", MsgRequestReply: "RequestReply", MsgClientRequest: "ClientRequest",
	MsgCallOffline: "CallOffline", MsgEnsureService: "EnsureService", MsgRequestOffline: "RequestOffline",
	MsgHello: "Hello", MsgHelloAck: "HelloAck", MsgPeerGone: "PeerGone",
	MsgHelloRefused: "HelloRefused", MsgAuthChallenge: "AuthChallenge", MsgAuthProof: "AuthProof",
	MsgCallEntityMethod: "CallEntityMethod", MsgClientCall: "ClientCall",
	MsgClientConnected: "ClientConnected", MsgClientDisconnected: "ClientDisconnected",
	MsgRegisterEntity: "RegisterEntity", MsgUnregisterEntity: "UnregisterEntity",
	MsgCreateEntitySomewhere: "CreateEntitySomewhere", MsgLoadEntitySomewhere: "LoadEntitySomewhere",
	MsgClientSyncPosition: "ClientSyncPosition", MsgMigrateBlock: "MigrateBlock",
	MsgMigrateEntity: "MigrateEntity", MsgCreateEntityOnGame: "CreateEntityOnGame",
	MsgToClients: "ToClients", MsgMigrateBlockAck: "MigrateBlockAck", MsgLoadEntityResult: "LoadEntityResult",
	MsgToClient: "ToClient", MsgSetClientOwner: "SetClientOwner", MsgSetClientFilterProp: "SetClientFilterProp",
	MsgKickClient: "KickClient", MsgFilteredBroadcast: "FilteredBroadcast",
	MsgFreezeGame: "FreezeGame", MsgFreezeAck: "FreezeAck", MsgUnfreezeGame: "UnfreezeGame",
	MsgRestored: "Restored", MsgRegistered: "Registered", MsgRetireEntity: "RetireEntity",
}

// String returns the message type's name, or its number if unknown.
func (t MsgType) String() string {
	if s, ok := msgTypeNames[t]; ok {
		return s
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// IsEntityRouted reports whether a dispatcher routes t by the entity ID at
// offset 0 of its body.
func (t MsgType) IsEntityRouted() bool {
	switch t {
	case MsgCallEntityMethod, MsgClientCall, MsgClientDisconnected, MsgRegisterEntity,
		MsgUnregisterEntity, MsgCreateEntitySomewhere, MsgLoadEntitySomewhere,
		MsgClientSyncPosition, MsgMigrateBlock, MsgMigrateEntity, MsgCreateEntityOnGame,
		MsgLoadEntityResult, MsgRequestEntityMethod, MsgRequestReply, MsgClientRequest,
		MsgCallOffline, MsgEnsureService, MsgRequestOffline, MsgClientAway:
		return true
	}
	return false
}

// IsGateRouted reports whether a dispatcher routes t by the gate ID at
// offset 0 of its body.
func (t MsgType) IsGateRouted() bool {
	switch t {
	case MsgToClient, MsgSetClientOwner, MsgSetClientFilterProp, MsgKickClient, MsgToClients:
		return true
	}
	return false
}

// Role is the kind of a server process, as sent in MsgHello.
type Role uint8

// Server roles.
const (
	RoleGame Role = 1
	RoleGate Role = 2
)

// String returns "game", "gate" or the number.
func (r Role) String() string {
	switch r {
	case RoleGame:
		return "game"
	case RoleGate:
		return "gate"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// FilterOp compares a client's filter property with a broadcast's value.
type FilterOp uint8

// Filter operators for MsgFilteredBroadcast. A client without the property
// (an empty value unsets it) matches FilterNe and no other comparison. The
// ordering operators compare as numbers when both sides are decimal numbers
// (see CompareFilterValues), otherwise as strings, byte by byte.
const (
	FilterEq  FilterOp = 0 // property == value
	FilterNe  FilterOp = 1 // property != value (clients without the property match)
	FilterAll FilterOp = 2 // every client, key and value ignored
	FilterLt  FilterOp = 3 // property < value
	FilterLe  FilterOp = 4 // property <= value
	FilterGt  FilterOp = 5 // property > value
	FilterGe  FilterOp = 6 // property >= value
)

// Valid reports whether op is one of the filter operators.
func (op FilterOp) Valid() bool { return op <= FilterGe }

// String returns the operator as written in Go ("==", "!=", "<", "<=",
// ">", ">="), "all", or its number.
func (op FilterOp) String() string {
	switch op {
	case FilterEq:
		return "=="
	case FilterNe:
		return "!="
	case FilterAll:
		return "all"
	case FilterLt:
		return "<"
	case FilterLe:
		return "<="
	case FilterGt:
		return ">"
	case FilterGe:
		return ">="
	}
	return "FilterOp(" + strconv.Itoa(int(op)) + ")"
}

// Match reports whether a client whose property is prop (has: it has the
// property at all) matches op against value. FilterEq and FilterNe compare
// the bytes ("10" and "10.0" differ); the ordering operators compare with
// CompareFilterValues. An unknown op matches nothing.
func (op FilterOp) Match(prop string, has bool, value string) bool {
	return op.Matcher(value)(prop, has)
}

// Matcher returns Match for one value, which it reads once: a gate calls
// it once per broadcast and the result once per client.
func (op FilterOp) Matcher(value string) func(prop string, has bool) bool {
	switch op {
	case FilterAll:
		return func(string, bool) bool { return true }
	case FilterNe:
		return func(prop string, has bool) bool { return !has || prop != value }
	case FilterEq:
		return func(prop string, has bool) bool { return has && prop == value }
	case FilterLt, FilterLe, FilterGt, FilterGe:
	default:
		return func(string, bool) bool { return false }
	}
	y, yNum := filterNumber(value)
	want := func(c int) bool {
		switch op {
		case FilterLt:
			return c < 0
		case FilterLe:
			return c <= 0
		case FilterGt:
			return c > 0
		}
		return c >= 0 // FilterGe
	}
	return func(prop string, has bool) bool {
		if !has {
			return false
		}
		if yNum {
			if x, ok := filterNumber(prop); ok {
				return want(cmpFloat(x, y))
			}
		}
		return want(strings.Compare(prop, value))
	}
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// CompareFilterValues orders two filter property values: as numbers when
// both are decimal numbers (an optional sign, digits with an optional
// fraction, an optional exponent: "7", "-2.5", "1e3"; within float64's
// range), so that "9" < "10"; otherwise as strings, byte by byte, so that
// "10" < "9" and "alice" < "bob". Numbers that are equal as float64
// ("1" and "1.0") are equal. It returns -1, 0 or +1.
func CompareFilterValues(a, b string) int {
	if x, ok := filterNumber(a); ok {
		if y, ok := filterNumber(b); ok {
			return cmpFloat(x, y)
		}
	}
	return strings.Compare(a, b)
}

// filterNumber parses a decimal number as CompareFilterValues defines it:
// no hexadecimal, underscores, "Inf" or "NaN", nothing out of range.
func filterNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// AttrOp is the kind of change in a MsgAttrChange.
type AttrOp uint8

// Attribute change operations. Path is the list of map keys (strings) and
// list indexes (integers) from the entity's root attribute map to the
// container that changed; its last element is the key or index changed.
const (
	AttrSet    AttrOp = 1 // container[last] = value (map key or list index)
	AttrDelete AttrOp = 2 // delete(container, last) (maps only); value is nil
	AttrAppend AttrOp = 3 // append value to the list at path (path names the list itself)
	AttrPop    AttrOp = 4 // remove the last element of the list at path; value is nil
)
