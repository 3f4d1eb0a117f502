package main

import (
	"regexp"
	"sort"
	"unicode/utf8"

	"github.com/goworld-engine/goworld"
)

// Avatar is a logged-in player: persistent, one per account.
type Avatar struct {
	goworld.Entity
}

// DescribeEntityType declares the avatar's attributes and client methods.
func (a *Avatar) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.SetPersistent(true)
	desc.DefineAttr("name", goworld.AttrAllClients|goworld.AttrPersistent)
	desc.DefineAttr("room", goworld.AttrOwnClient|goworld.AttrPersistent)
	desc.DefineAttr("said", goworld.AttrOwnClient|goworld.AttrPersistent)
	// inbox: mail that arrived while no client was bound (the avatar
	// loading for a login), [from, text] pairs, delivered at the login.
	desc.DefineAttr("inbox", goworld.AttrPersistent)
	desc.ExposeToClient("JoinRoom", "Say", "Who", "Mail")
}

var validRoom = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// maxMessage is the longest chat message accepted, in bytes.
const maxMessage = 1000

// OnClientConnected greets the client that just logged in. A returning
// player is back in the room it was in: the room is a saved attribute,
// but the subscription to it (the client's filter property at its gate)
// belongs to the connection, so it is set again for this one, and the
// room hears that the player is back.
func (a *Avatar) OnClientConnected() {
	room := a.Attrs.GetString("room")
	if room != "" {
		a.SetClientFilterProp("room", room)
	}
	a.CallClient("OnLogin", a.Attrs.GetString("name"))
	if room != "" {
		a.entered(room)
	}
	a.deliverInbox()
}

// OnClientDisconnected tells the player's room it left, then destroys the
// avatar (saving it). It runs however the client went: it quit, its
// connection dropped, or its gate crashed.
func (a *Avatar) OnClientDisconnected() {
	if room := a.Attrs.GetString("room"); room != "" {
		a.World().CallFilteredClients("room", room, "OnLeft", room, a.Attrs.GetString("name"))
	}
	a.Destroy()
}

// JoinRoom moves the player to room: it receives that room's messages
// only. The room it was in hears OnLeft(room, name).
func (a *Avatar) JoinRoom(room string) {
	if !validRoom.MatchString(room) {
		a.CallClient("OnError", "a room name is 1 to 32 letters, digits, '_', '.' or '-'")
		return
	}
	name := a.Attrs.GetString("name")
	if old := a.Attrs.GetString("room"); old != "" && old != room {
		a.World().CallFilteredClients("room", old, "OnLeft", old, name)
	}
	a.Attrs.Set("room", room)
	a.SetClientFilterProp("room", room)
	a.CallClient("OnJoined", room)
	a.entered(room)
}

// maxMembersSent bounds the names OnMembers carries: at most this many
// (of 32 bytes at most each), the first in sorted order, and the count of
// all of them.
const maxMembersSent = 200

// entered tells the player who is in room, OnMembers(room, names, total),
// and the room that the player came in, OnEntered(room, name).
//
// The members are the avatars in room on this game (a scan of its
// entities, so it needs no state of its own and survives a hot reload).
// On a cluster of several games, players on the other games are not in
// the list: a client learns of them as they enter, speak or leave (the
// web page adds a speaker it did not know to its list).
func (a *Avatar) entered(room string) {
	names, total := a.members(room)
	a.CallClient("OnMembers", room, names, total)
	a.World().CallFilteredClients("room", room, "OnEntered", room, a.Attrs.GetString("name"))
}

// members returns the names of the avatars in room on this game, sorted
// and bounded (boundMembers), and how many there are.
func (a *Avatar) members(room string) ([]string, int) {
	var names []string
	a.World().Entities(func(e *goworld.Entity) {
		if e.TypeName() == "Avatar" && e.Attrs.GetString("room") == room {
			names = append(names, e.Attrs.GetString("name"))
		}
	})
	return boundMembers(names)
}

// errNoRoom is Who's answer to a player in no room.
var errNoRoom = goworld.NewError(goworld.CodeUser+1, "join a room first")

// Who answers a client's request (the terminal client's /who) with the
// members of the player's room: {"room": ROOM, "members": sorted names,
// "total": how many}. Like OnMembers, it knows the avatars on this game
// only (see entered).
func (a *Avatar) Who() (map[string]any, error) {
	room := a.Attrs.GetString("room")
	if room == "" {
		return nil, errNoRoom
	}
	names, total := a.members(room)
	return map[string]any{"room": room, "members": names, "total": total}, nil
}

// Say sends text to everyone in the player's room, the player included.
func (a *Avatar) Say(text string) {
	room := a.Attrs.GetString("room")
	switch {
	case room == "":
		a.CallClient("OnError", "join a room first")
		return
	case len(text) > maxMessage || !utf8.ValidString(text):
		a.CallClient("OnError", "a message is valid UTF-8 of at most 1000 bytes")
		return
	}
	a.Attrs.Set("said", a.Attrs.GetInt("said")+1)
	a.World().CallFilteredClients("room", room, "OnChat", room, a.Attrs.GetString("name"), text)
}

// boundMembers sorts names and keeps the first maxMembersSent of them; it
// returns them and how many there were.
func boundMembers(names []string) ([]string, int) {
	sort.Strings(names)
	return names[:min(len(names), maxMembersSent)], len(names)
}
