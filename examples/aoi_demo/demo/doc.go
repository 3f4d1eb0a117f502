// Package demo is the game code of the AOI demo (examples/aoi_demo): the
// zones (World spaces), which may live on different games, and the
// Player, which sees the players near it in its zone and travels between
// zones. Register registers its entity types; the demo's commands
// (examples/aoi_demo for one game, examples/aoi_demo/multigame for
// several, on Redis) call it and then goworld.Run.
package demo

import "github.com/goworld-engine/goworld"

// Register registers the demo's entity types, World and Player.
func Register() {
	goworld.RegisterEntity("World", &World{})
	goworld.RegisterEntity("Player", &Player{})
}
