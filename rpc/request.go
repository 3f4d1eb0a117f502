package rpc

import (
	"fmt"
	"strconv"

	"github.com/goworld-engine/goworld/internal/clip"
)

// Requests and replies.
//
// A request is a call that answers: the callee's method returns a result,
// or an error with a code, and the engine sends exactly one reply back.
// Between entities the reply is routed by the caller's entity ID through
// the dispatchers (MsgRequestReply), so it reaches the caller wherever it
// lives by then; to a client it is a MsgReply frame, sent through the
// client's gate.
//
// The reply body, in both cases, is code u16 | payload: for code 0
// (CodeOK) the payload is the result, one msgpack value (nil for a method
// that returns only an error); for any other code it is the message, a
// str of at most MaxReplyMessage bytes.

// ErrorCode says why a request failed. Codes below CodeUser are the
// engine's; the game defines its own from CodeUser up (NewError).
type ErrorCode uint16

// Error codes of a reply.
const (
	// CodeOK: the request succeeded; the reply carries the result.
	CodeOK ErrorCode = 0
	// CodeTimeout: no reply came within the request's timeout.
	CodeTimeout ErrorCode = 1
	// CodeNoEntity: the callee entity does not exist (never did, was
	// destroyed, or its game is gone).
	CodeNoEntity ErrorCode = 2
	// CodeNoMethod: the callee's type has no such method, or (for a
	// client) the method is not exposed to this client.
	CodeNoMethod ErrorCode = 3
	// CodeBadArgs: the arguments do not convert to the method's
	// parameters (or a client's string is over max_client_string).
	CodeBadArgs ErrorCode = 4
	// CodePanicked: the callee's method panicked (logged on its game).
	CodePanicked ErrorCode = 5
	// CodeOverloaded: too many requests outstanding (a client's
	// max_client_requests); the request was not sent on.
	CodeOverloaded ErrorCode = 6
	// CodeFailed: the method returned an error that carries no code of
	// its own (not a *ReplyError); the message is its text.
	CodeFailed ErrorCode = 7
	// CodeUser is the first code for the game's own errors (NewError).
	CodeUser ErrorCode = 1000
)

var codeNames = map[ErrorCode]string{
	CodeOK: "ok", CodeTimeout: "timeout", CodeNoEntity: "no such entity", CodeNoMethod: "no such method",
	CodeBadArgs: "bad arguments", CodePanicked: "callee panicked", CodeOverloaded: "overloaded", CodeFailed: "failed",
}

// String returns the code's name ("timeout"), or "code N" for a game's code.
func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "code " + strconv.Itoa(int(c))
}

// MaxReplyMessage bounds the message of an error reply, in bytes: a
// longer one is cut (at a UTF-8 boundary) before it is sent.
const MaxReplyMessage = 512

// ReplyError is the error of a failed request: a code and a message.
// Compare codes with errors.Is(err, rpc.ErrTimeout) (codes match, the
// message is ignored) or read Code after errors.As.
type ReplyError struct {
	Code    ErrorCode
	Message string
}

// NewError returns a *ReplyError with the game's own code (CodeUser or
// more, by convention) and message, for a method to return.
func NewError(code ErrorCode, message string) *ReplyError {
	return &ReplyError{Code: code, Message: message}
}

// Error returns "code name: message".
func (e *ReplyError) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Is reports whether target is a *ReplyError with the same code.
func (e *ReplyError) Is(target error) bool {
	t, ok := target.(*ReplyError)
	return ok && t.Code == e.Code
}

// Engine errors to compare with errors.Is.
var (
	ErrTimeout    = &ReplyError{Code: CodeTimeout}
	ErrNoEntity   = &ReplyError{Code: CodeNoEntity}
	ErrNoMethod   = &ReplyError{Code: CodeNoMethod}
	ErrBadArgs    = &ReplyError{Code: CodeBadArgs}
	ErrPanicked   = &ReplyError{Code: CodePanicked}
	ErrOverloaded = &ReplyError{Code: CodeOverloaded}
	ErrFailed     = &ReplyError{Code: CodeFailed}
)

// AppendReplyOK appends a successful reply: code 0, then the result
// (one msgpack value, already encoded).
func AppendReplyOK(dst []byte, result []byte) []byte {
	dst = AppendUint16(dst, uint16(CodeOK))
	return append(dst, result...)
}

// AppendReplyError appends a failed reply: code (never 0: 0 becomes
// CodeFailed), then the message cut to MaxReplyMessage bytes.
func AppendReplyError(dst []byte, code ErrorCode, message string) []byte {
	if code == CodeOK {
		code = CodeFailed
	}
	dst = AppendUint16(dst, uint16(code))
	return AppendString(dst, clip.Prefix(message, MaxReplyMessage))
}

// DecodeReply decodes a reply body (code u16 | payload): the result's
// msgpack bytes (not copied) for code 0, or the error. A message over
// MaxReplyMessage bytes, or bytes after it, is malformed.
func DecodeReply(b []byte) (result []byte, rerr *ReplyError, err error) {
	r := NewReader(b)
	code := ErrorCode(r.Uint16())
	if r.Err() != nil {
		return nil, nil, r.Err()
	}
	if code == CodeOK {
		rest := r.Rest()
		if len(rest) == 0 {
			return nil, nil, fmt.Errorf("%w: reply without a result", ErrShortBody)
		}
		return rest, nil, nil
	}
	msg := r.String()
	switch {
	case r.Err() != nil:
		return nil, nil, r.Err()
	case len(msg) > MaxReplyMessage:
		return nil, nil, fmt.Errorf("rpc: reply message of %d bytes, over %d", len(msg), MaxReplyMessage)
	case r.Remaining() != 0:
		return nil, nil, fmt.Errorf("rpc: %d bytes after the reply message", r.Remaining())
	}
	return nil, &ReplyError{Code: code, Message: msg}, nil
}

// ClientRequest is a decoded MsgRequest (client → gate).
type ClientRequest struct {
	Entity EntityID
	ID     uint32
	Method string
	Args   []byte // the msgpack array, not copied
}

// DecodeClientRequest decodes a MsgRequest body: entityID[16] |
// requestID u32 | method str | args. It checks the layout only (a
// non-zero ID, a complete non-empty method); the gate checks the method
// name as it does a MsgCallEntity's.
func DecodeClientRequest(b []byte) (ClientRequest, error) {
	r := NewReader(b)
	q := ClientRequest{Entity: r.EntityID(), ID: r.Uint32(), Method: r.String()}
	q.Args = r.Rest()
	switch {
	case r.Err() != nil:
		return q, r.Err()
	case q.Entity == "":
		return q, fmt.Errorf("%w: zero entity ID", ErrBadEntityID)
	case q.Method == "":
		return q, fmt.Errorf("rpc: empty method name")
	}
	return q, nil
}

// AppendClientRequest appends a MsgRequest body.
func AppendClientRequest(dst []byte, id EntityID, reqID uint32, method string, args []byte) []byte {
	dst = AppendEntityID(dst, id)
	dst = AppendUint32LE(dst, reqID)
	dst = AppendString(dst, method)
	return append(dst, args...)
}
