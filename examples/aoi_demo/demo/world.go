package demo

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/goworld-engine/goworld"
)

// Size of the demo world: players spawn, and bots walk, within
// [0, WorldSize) on x and z. The spaces themselves are unbounded.
const WorldSize = 1000

// CellSize is a zone's AOI grid cell: about the players' AOI radius.
const CellSize = 100

// Zones is how many zones the demo has, numbered 1..Zones. Each zone is
// one World space; a new player enters zone 1 (EntryZone) and moves to
// another with its client method Travel.
const Zones = 3

// EntryZone is the zone a new player enters.
const EntryZone = 1

// World is a zone: the space its players are in. Its "zone" attribute
// says which one (1..Zones).
type World struct {
	goworld.Entity
}

// DescribeEntityType makes World a space with a server-side zone number.
func (w *World) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineSpace(CellSize)
	desc.DefineAttr("zone", 0)
}

// zoneGame is the game that hosts zone: the games of the cluster in
// ascending order, dealt out to zones 1, 2, 3… in turn. All games share
// config.ini, so they all agree; with one game it hosts every zone.
func zoneGame(w *goworld.World, zone int) goworld.GameID {
	games := w.Games()
	return games[(zone-1)%len(games)]
}

// zoneKey is the KV key under which the ID of zone's space is published.
func zoneKey(zone int) string { return "aoi_demo/zone/" + strconv.Itoa(zone) }

// localZone returns this game's live space of zone other than except, or
// nil. It scans the
// game's entities rather than remembering the space in a variable, so that
// it is found again after a hot reload (which rebuilds the entities but
// not package state), and so that several games in one process (as in
// tests) never share anything. A scan costs one pass over the game's
// entities per lookup, which is nothing next to a connection or a
// migration.
func localZone(w *goworld.World, zone int, except goworld.EntityID) *goworld.Entity {
	var found *goworld.Entity
	w.Entities(func(e *goworld.Entity) {
		if found == nil && e.ID() != except && e.IsSpace() && e.TypeName() == "World" && !e.IsDestroyed() && e.Attrs.GetInt("zone") == int64(zone) {
			found = e
		}
	})
	return found
}

// lookupZone finds the ID of zone's space, creating the space on the game
// that hosts the zone if needed, and calls done on the game loop with it.
// stale, if not empty, is an ID that turned out not to be a space any
// more (an entity sent there came back): it is not trusted again.
//
// This is the demo's whole directory of zones, kept in one function so
// that a service can replace it (issue 15). The hosting game is the only
// one that creates a zone's space (so two games never make two copies of
// one zone), and publishes its ID in the KV store (World.OnCreated);
// other games read it there. On the hosting game the lookup is local and
// synchronous. Elsewhere, a missing or stale entry makes it ask the
// hosting game for the space (CreateSpaceOnGame): if two games ask at
// once, the hosting game keeps the first and destroys the others, whose
// players come back and look again.
func lookupZone(w *goworld.World, zone int, stale goworld.EntityID, done func(goworld.EntityID, error)) {
	if zone < 1 || zone > Zones {
		done("", fmt.Errorf("no zone %d: zones are 1 to %d", zone, Zones))
		return
	}
	host := zoneGame(w, zone)
	if host == w.GameID() {
		if sp := localZone(w, zone, ""); sp != nil {
			done(sp.ID(), nil)
			return
		}
		sp, err := w.CreateSpaceLocally("World", map[string]any{"zone": zone})
		if err != nil {
			done("", err)
			return
		}
		done(sp.ID(), nil)
		return
	}
	w.KVGet(zoneKey(zone), func(v []byte, err error) {
		switch {
		case err == nil && len(v) > 0 && goworld.EntityID(v) != stale && goworld.EntityID(v).Valid():
			done(goworld.EntityID(v), nil)
			return
		case err != nil && !errors.Is(err, goworld.ErrNotFound):
			done("", fmt.Errorf("zone %d's space cannot be looked up: %w", zone, err))
			return
		}
		id, err := w.CreateSpaceOnGame(host, "World", map[string]any{"zone": zone})
		if err != nil {
			done("", err)
			return
		}
		w.Logger().Infof("zone %d: asked game %d for its space %s", zone, host, id)
		done(id, nil)
	})
}

// OnCreated publishes the zone's space ID, unless this game already has a
// space of the zone (two games asked for it at once): then this one goes,
// and the players sent to it come back and look again.
func (w *World) OnCreated() {
	zone := int(w.Attrs.GetInt("zone"))
	if zone == 0 {
		return // a World made by hand, not a zone
	}
	wd := w.World()
	if sp := localZone(wd, zone, w.ID()); sp != nil {
		wd.Logger().Infof("zone %d already has space %s here; %s is not needed", zone, sp.ID(), w.ID())
		w.Destroy()
		return
	}
	if zoneGame(wd, zone) != wd.GameID() {
		wd.Logger().Warnf("zone %d created on game %d, but it belongs to game %d", zone, wd.GameID(), zoneGame(wd, zone))
	}
	id := w.ID()
	wd.Logger().Infof("zone %d is space %s on game %d", zone, id, wd.GameID())
	wd.KVPutIfAbsent(zoneKey(zone), []byte(id), func(stored bool, existing []byte, err error) {
		switch {
		case err != nil:
			wd.Logger().WithError(err).Warnf("zone %d: cannot publish space %s; games that look it up will ask again", zone, id)
		case stored || goworld.EntityID(existing) == id:
		default:
			// Only this game makes this zone's spaces, and the scan above
			// found no other: the entry is left from a space that is gone
			// (a restart, or a game killed).
			wd.Logger().Infof("zone %d: replacing the stale entry %.32q with %s", zone, existing, id)
			wd.KVPut(zoneKey(zone), []byte(id), nil)
		}
	})
}
