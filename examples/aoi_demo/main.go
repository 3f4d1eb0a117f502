// Command aoi_demo is a goworld server of zones: every client gets a
// Player that enters zone 1 at a random spot, sees the other players of
// its zone within 100 units (the area of interest), walks by sending its
// position, can talk to the players it sees, and travels to another zone
// with Travel(zone). Each zone is a space, a shard of a service, that may
// live on a different game (package demo says how); this directory's
// config.ini runs one game, which hosts every zone, and multigame/ runs
// two on Redis. Run it with goworldctl, then point the bots (or your own
// client) at its gate:
//
//	go run ./tools/goworldctl start examples/aoi_demo
//	go run ./examples/aoi_demo/bots -gate 127.0.0.1:14021
package main

import (
	"github.com/goworld-engine/goworld"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
)

func main() {
	demo.Register()
	goworld.Run()
}
