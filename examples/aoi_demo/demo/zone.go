package demo

import (
	"fmt"

	"github.com/goworld-engine/goworld"
)

// Size of the demo world: players spawn, and bots walk, within
// [0, WorldSize) on x and z (AOI_DEMO_WORLD_SIZE changes where players
// spawn: walkers.go). The spaces themselves are unbounded.
const WorldSize = 1000

// CellSize is a zone's AOI grid cell: about the players' AOI radius.
const CellSize = 100

// Zones is how many zones the demo has, numbered 1..Zones. Each zone is
// one Zone space; a new player enters zone 1 (EntryZone) and moves to
// another with its client method Travel.
const Zones = 3

// EntryZone is the zone a new player enters.
const EntryZone = 1

// ZoneService is the name of the service whose shards are the zones:
// shard k (0..Zones-1) is zone k+1.
const ZoneService = "Zone"

// Zone is a zone: the space its players are in, and a shard of the
// service ZoneService, so the cluster keeps exactly one of each alive.
// Its "zone" attribute says which one (1..Zones).
//
// The engine places shard k on the k-th configured game (modulo their
// number) when it is up, else on the least loaded one, and re-creates it
// on a surviving game when its game dies; its ID is known to every game
// without a lookup (ZoneID). A zone keeps nothing worth saving: the
// players in it are entities of their own, so it is not persistent, and
// one re-created after its game died starts empty.
type Zone struct {
	goworld.Entity
	walk walking // the entry zone's walkers, if any (walkers.go)
}

// DescribeEntityType makes Zone a space with a server-side zone number.
func (z *Zone) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineSpace(CellSize)
	desc.DefineAttr("zone", 0)
}

// OnCreated numbers the zone after its shard and says where it lives
// (the log line "zone N is space ID on game G", which the tests read).
func (z *Zone) OnCreated() {
	_, shard, ok := z.ServiceShard()
	if !ok {
		return // a Zone made by hand, not a shard: no zone of the demo
	}
	z.Attrs.Set("zone", shard+1)
	w := z.World()
	w.Logger().Infof("zone %d is space %s on game %d", shard+1, z.ID(), w.GameID())
	if shard+1 == EntryZone {
		z.startWalkers()
	}
}

// ZoneID returns the entity ID of zone's space (1..Zones): the ID of the
// service's shard zone-1, the same on every game, whether or not the
// space is live at the moment.
func ZoneID(w *goworld.World, zone int) (goworld.EntityID, error) {
	if zone < 1 || zone > Zones {
		return "", fmt.Errorf("no zone %d: zones are 1 to %d", zone, Zones)
	}
	return w.ServiceID(ZoneService, zone-1)
}
