// Package demo is the game code of the AOI demo (examples/aoi_demo): the
// zones (Zone spaces, the shards of a service, which may live on
// different games), and the Player, which sees the players near it in
// its zone and travels between zones. Register registers its entity
// types; the demo's commands (examples/aoi_demo for one game,
// examples/aoi_demo/multigame for several, on Redis) call it and then
// goworld.Run.
package demo

import "github.com/goworld-engine/goworld"

// Register registers the demo's entity types: the service ZoneService
// (Zone, one shard per zone), Player and Walker (server-side walkers, off
// unless AOI_DEMO_WALKERS asks for them: walkers.go). An error (none is expected:
// the arguments are constants) is reported by goworld.Run.
func Register() {
	goworld.RegisterService(ZoneService, &Zone{}, Zones)
	goworld.RegisterEntity("Player", &Player{})
	goworld.RegisterEntity("Walker", &Walker{})
}
