// Command aoi_demo is a goworld server with one shared space: every client
// gets a Player that enters the World space at a random spot, sees the
// other players within 100 units (the area of interest), walks by sending
// its position, and can talk to the players it sees. Run it with
// goworldctl, then point the bots (or your own client) at its gate:
//
//	go run ./tools/goworldctl start examples/aoi_demo
//	go run ./examples/aoi_demo/bots -gate 127.0.0.1:14021
//
// The demo is meant for a single game process, as its config.ini has:
// each game makes its own World space the first time a player connects to
// it, so with several games the players of different games would not meet
// (a multi-game setup would create one space with CreateSpaceSomewhere and
// publish its ID, e.g. in the KV store).
package main

import (
	"github.com/goworld-engine/goworld"
)

func main() {
	goworld.RegisterEntity("World", &World{})
	goworld.RegisterEntity("Player", &Player{})
	goworld.Run()
}
