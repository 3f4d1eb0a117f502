// Package rpc is goworld's wire layer: frames, message types, routing fields,
// msgpack-encoded call arguments and the connection type shared by every
// process (gate, dispatcher, game) and by the Go client package.
//
// # Frames
//
// Every message on every connection is one frame:
//
//	uint32 little-endian length | uint16 little-endian message type | body
//
// where length counts the bytes that follow the length field (the type and
// the body), so it is at least 2. A reader checks length against its
// configured maximum before it allocates anything, so a hostile 4 GiB header
// costs nothing but a closed connection.
//
// # Routing fields
//
// Messages that the dispatcher routes carry their routing field at offset 0
// of the body: a 16-byte [EntityID] for entity-routed messages, a uint16
// [GateID] for gate-routed ones. Dispatchers and gates route without decoding
// anything else; RPC arguments are msgpack, encoded once by the sender and
// decoded once by the receiver into the target method's parameter types
// (see [DecodeArgs]).
//
// # Connections
//
// [Conn] wraps a net.Conn (TCP, KCP or anything else stream-like) with one
// reader goroutine and a writer goroutine that exists only while there is
// something to write. Senders append to a bounded buffer; the writer flushes
// everything queued in one write. A peer that does not read fast enough to
// keep the buffer under its bound is closed with [ErrSlowConsumer].
//
// The client protocol is documented in docs/protocol.md.
package rpc
