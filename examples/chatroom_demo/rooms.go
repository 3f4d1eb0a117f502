package main

import (
	"github.com/goworld-engine/goworld"
)

// RoomShards is how many shards the Rooms service has: a room's members
// are kept by shard goworld's ServiceShard(room, RoomShards), so the
// rooms spread over the games of a cluster.
const RoomShards = 4

// Rooms is the service that knows who is in each room, on every game of
// the cluster: the avatars join it at login and when they change rooms,
// and leave it when they go; Who answers with a room's members, sorted.
//
// It is not persistent: its members are live avatars, which die with
// their game. When a game is gone, Rooms drops that game's members
// (OnGameGone); when the game hosting a shard is gone, the engine
// re-creates the shard, empty, on a surviving game, and every avatar
// joins its room again (Avatar.OnGameGone), so the lists are whole
// again within a round trip.
//
// State, in attributes so that it survives a hot reload of its game:
// "rooms" maps a room to its members (avatar ID → {name, game}), "at"
// maps an avatar ID to its room.
type Rooms struct {
	goworld.Entity
}

// DescribeEntityType declares the service's server-only attributes.
func (r *Rooms) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineAttr("rooms", 0)
	desc.DefineAttr("at", 0)
}

// OnCreated says where the shard lives (the log line the tests read).
func (r *Rooms) OnCreated() {
	if _, shard, ok := r.ServiceShard(); ok {
		r.World().Logger().Infof("rooms shard %d is on game %d", shard, r.World().GameID())
	}
}

// maps returns the service's two maps, created if need be.
func (r *Rooms) maps() (rooms, at *goworld.MapAttr) {
	if r.Attrs.GetMap("rooms") == nil {
		r.Attrs.Set("rooms", map[string]any{})
	}
	if r.Attrs.GetMap("at") == nil {
		r.Attrs.Set("at", map[string]any{})
	}
	return r.Attrs.GetMap("rooms"), r.Attrs.GetMap("at")
}

// Join records that the avatar id, named name, on game game, is in room
// (and in no other room of this shard). Joining again is harmless: it
// only updates the name and game.
func (r *Rooms) Join(room, id, name string, game int) {
	if !validRoom.MatchString(room) || !validName.MatchString(name) || !goworld.EntityID(id).Valid() {
		r.World().Logger().Warnf("Rooms.Join: bad room, avatar or name (%.40q, %.40q, %.40q); ignored", room, id, name)
		return
	}
	rooms, at := r.maps()
	r.remove(id)
	if rooms.GetMap(room) == nil {
		rooms.Set(room, map[string]any{})
	}
	rooms.GetMap(room).Set(id, map[string]any{"name": name, "game": game})
	at.Set(id, room)
}

// Leave records that the avatar id is no longer in room.
func (r *Rooms) Leave(room, id string) {
	_, at := r.maps()
	if at.GetString(id) == room {
		r.remove(id)
	}
}

// remove drops the avatar id from its room, if it is in one.
func (r *Rooms) remove(id string) {
	rooms, at := r.maps()
	room := at.GetString(id)
	if room == "" {
		return
	}
	at.Delete(id)
	if m := rooms.GetMap(room); m != nil {
		m.Delete(id)
		if m.Len() == 0 {
			rooms.Delete(room)
		}
	}
}

// OnGameGone drops the members whose avatars lived on game: they died
// with it (their clients were told, and log in again elsewhere).
func (r *Rooms) OnGameGone(game goworld.GameID) {
	rooms, at := r.maps()
	var gone []string
	for _, room := range rooms.Keys() {
		m := rooms.GetMap(room)
		for _, id := range m.Keys() {
			if m.GetMap(id).GetInt("game") == int64(game) {
				gone = append(gone, id)
			}
		}
	}
	for _, id := range gone {
		r.remove(id)
	}
	if len(gone) > 0 {
		r.World().Logger().Infof("game %d is gone: %d members dropped from the rooms (%d avatars listed)", game, len(gone), at.Len())
	}
}

// Who answers with the members of room: {"room": room, "members": their
// names, sorted, at most maxMembersSent, "total": how many}.
func (r *Rooms) Who(room string) (map[string]any, error) {
	if !validRoom.MatchString(room) {
		return nil, goworld.NewError(goworld.CodeUser+2, "no such room")
	}
	rooms, _ := r.maps()
	var names []string
	if m := rooms.GetMap(room); m != nil {
		for _, id := range m.Keys() {
			names = append(names, m.GetMap(id).GetString("name"))
		}
	}
	names, total := boundMembers(names)
	return map[string]any{"room": room, "members": names, "total": total}, nil
}
