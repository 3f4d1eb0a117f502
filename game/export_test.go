package game

import (
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/rpc"
)

// SetFrameHook makes g run hook on its loop before it handles each frame
// from a dispatcher: a test's way to make the engine itself panic in the
// middle of a frame. It takes effect once the loop has run the post.
func SetFrameHook(g *Game, hook func(t rpc.MsgType, body []byte)) {
	g.Post(func() { g.frameHook = hook })
}

// EngineOf returns the engine that drives g's world, for tests that
// drive it as the loop does (a save now, the storage in flight). Game
// code has no such handle.
func EngineOf(g *Game) *entity.Engine { return g.engine }
