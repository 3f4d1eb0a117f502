package dispatcher

import (
	"github.com/goworld-engine/goworld/rpc"
)

// appendBounded appends one frame to a queue of at most limit bytes, or
// counts it as dropped; it returns the drop count and whether it was kept.
func appendBounded(frames *[]byte, dropped *int, limit int, t rpc.MsgType, body []byte) (int, bool) {
	if len(*frames)+rpc.HeaderSize+len(body) > limit {
		*dropped++
		return *dropped, false
	}
	*frames = rpc.AppendFrame(*frames, t, body)
	return *dropped, true
}
