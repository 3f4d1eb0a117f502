package rpc

import (
	"encoding/binary"
	"time"
)

// HeartbeatParams are the heartbeat settings a gate announces in the body
// of its MsgHeartbeatAck: how often its clients should send a heartbeat,
// and how long it waits for a frame from a client before it closes the
// connection. A client adopts them (client.Options), so that the game's
// config.ini decides, in one place, how soon a dead connection is noticed
// on both sides.
type HeartbeatParams struct {
	Interval time.Duration // heartbeat_interval: a client sends a heartbeat this often
	Timeout  time.Duration // heartbeat_timeout: the gate closes a client silent this long
}

// Bounds on announced heartbeat settings. A gate refuses to start with
// values outside them (config validation); a client clamps what it
// decodes to them, so that no announcement makes it send heartbeats
// faster than every MinHeartbeatInterval, or wait longer than
// MaxHeartbeatTimeout for a sign of life.
const (
	MinHeartbeatInterval = 100 * time.Millisecond
	MaxHeartbeatInterval = 10 * time.Minute
	MaxHeartbeatTimeout  = time.Hour
)

// heartbeatAckSize is the body of a MsgHeartbeatAck that carries
// HeartbeatParams: interval u32 ms | timeout u32 ms.
const heartbeatAckSize = 8

// AppendHeartbeatAck appends the body of a MsgHeartbeatAck announcing p,
// in whole milliseconds (saturating at the u32 range).
func AppendHeartbeatAck(b []byte, p HeartbeatParams) []byte {
	ms := func(d time.Duration) uint32 {
		return uint32(min(max(d.Milliseconds(), 0), int64(^uint32(0))))
	}
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(b, ms(p.Interval)), ms(p.Timeout))
}

// DecodeHeartbeatAck decodes a MsgHeartbeatAck body. ok is false for a
// body shorter than the two fields (an empty one is a gate that announces
// nothing: older gates). Bytes after them are ignored, for later
// versions. The values are clamped: the interval to
// [MinHeartbeatInterval, MaxHeartbeatInterval], the timeout to [2 ×
// interval, MaxHeartbeatTimeout]; it cannot fail otherwise.
func DecodeHeartbeatAck(body []byte) (p HeartbeatParams, ok bool) {
	if len(body) < heartbeatAckSize {
		return HeartbeatParams{}, false
	}
	iv := time.Duration(binary.LittleEndian.Uint32(body)) * time.Millisecond
	to := time.Duration(binary.LittleEndian.Uint32(body[4:])) * time.Millisecond
	p.Interval = min(max(iv, MinHeartbeatInterval), MaxHeartbeatInterval)
	p.Timeout = min(max(to, 2*p.Interval), MaxHeartbeatTimeout)
	return p, true
}
