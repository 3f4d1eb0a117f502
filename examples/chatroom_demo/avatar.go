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
	desc.DefineAttr("name", goworld.AttrAllClients|goworld.AttrPersistent).Type("")
	desc.DefineAttr("room", goworld.AttrOwnClient|goworld.AttrPersistent).Type("")
	desc.DefineAttr("said", goworld.AttrOwnClient|goworld.AttrPersistent).Type(int64(0))
	// inbox: mail that arrived while no client was bound (the avatar
	// loading for a login), [from, text] pairs, delivered at the login.
	desc.DefineAttr("inbox", goworld.AttrPersistent)
	// whoWaiting: the client's Who requests waiting for the Rooms
	// service, [room, goworld.ReplyHandle] pairs (server-only, not
	// saved; an attribute so that they survive a hot reload).
	desc.DefineAttr("whoWaiting", 0)
	desc.ExposeToClient("JoinRoom", "Say", "Who", "Mail")
	// What the server calls on the avatar's client (checked where it is
	// called; the clients' stubs are generated from it: stubs.go).
	desc.DefineClientMethod("OnLogin", "").Names("name")
	desc.DefineClientMethod("OnJoined", "").Names("room")
	desc.DefineClientMethod("OnMembers", "", []string(nil), int64(0)).Names("room", "members", "total")
	desc.DefineClientMethod("OnChat", "", "", "").Names("room", "name", "text")
	desc.DefineClientMethod("OnEntered", "", "").Names("room", "name")
	desc.DefineClientMethod("OnLeft", "", "").Names("room", "name")
	desc.DefineClientMethod("OnMail", "", "").Names("from", "text")
	desc.DefineClientMethod("OnMailSent", "").Names("user")
	desc.DefineClientMethod("OnError", "").Names("message")
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

// OnClientDisconnected tells the player's room it left (its clients, and
// the Rooms service), then destroys the avatar (saving it). It runs
// however the client went: it quit, its connection dropped, or its gate
// crashed.
func (a *Avatar) OnClientDisconnected() {
	if room := a.Attrs.GetString("room"); room != "" {
		a.World().CallFilteredClients("room", room, "OnLeft", room, a.Attrs.GetString("name"))
		a.leaveRooms(room)
	}
	a.Destroy()
}

// OnGameGone joins the Rooms service again: the game that died may have
// hosted the shard of the avatar's room, which the engine re-creates,
// empty, on a surviving game. Joining is idempotent, so it does not
// matter which game it was, nor that this runs once per dispatcher.
func (a *Avatar) OnGameGone(goworld.GameID) {
	if room := a.Attrs.GetString("room"); room != "" && a.HasClient() {
		a.joinRooms(room)
	}
}

// joinRooms tells the Rooms service that this avatar is in room.
func (a *Avatar) joinRooms(room string) {
	w := a.World()
	if err := w.CallService("Rooms", room, "Join", room, string(a.ID()), a.Attrs.GetString("name"), int(w.GameID())); err != nil {
		w.Logger().WithError(err).Errorf("%s: cannot join room %s", a, room)
	}
}

// leaveRooms tells the Rooms service that this avatar left room.
func (a *Avatar) leaveRooms(room string) {
	w := a.World()
	if err := w.CallService("Rooms", room, "Leave", room, string(a.ID())); err != nil {
		w.Logger().WithError(err).Errorf("%s: cannot leave room %s", a, room)
	}
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
		a.leaveRooms(old)
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

// entered joins room at the Rooms service, tells the player who is in
// it, OnMembers(room, names, total), once the service answers, and tells
// the room that the player came in, OnEntered(room, name).
//
// The members are those of every game of the cluster: the Rooms service
// knows them all. The Join and the request go to the same shard over the
// same link, in order, so the list names the player too.
func (a *Avatar) entered(room string) {
	a.joinRooms(room)
	if err := a.RequestService("Rooms", room, "Who", "OnRoomMembers", room); err != nil {
		a.World().Logger().WithError(err).Errorf("%s: cannot ask for the members of %s", a, room)
	}
	a.World().CallFilteredClients("room", room, "OnEntered", room, a.Attrs.GetString("name"))
}

// OnRoomMembers receives the Rooms service's answer for entered and sends
// it to the client as OnMembers, unless the player has moved on since.
func (a *Avatar) OnRoomMembers(m map[string]any, err error) {
	if err != nil {
		a.World().Logger().WithError(err).Warnf("%s: the members of its room are unknown", a)
		return
	}
	room, _ := m["room"].(string)
	if room != a.Attrs.GetString("room") || !a.HasClient() {
		return // it moved on, or left: another answer follows, or none is needed
	}
	a.CallClient("OnMembers", room, m["members"], m["total"])
}

// errNoRoom is Who's answer to a player in no room.
var errNoRoom = goworld.NewError(goworld.CodeUser+1, "join a room first")

// errWhoBusy is Who's answer to a client with too many Who waiting.
var errWhoBusy = goworld.NewError(goworld.CodeUser+3, "too many /who waiting")

// maxWhoWaiting bounds the Who requests of one client that wait for the
// Rooms service.
const maxWhoWaiting = 16

// Who answers a client's request (the terminal client's /who) with the
// members of the player's room, on every game of the cluster: {"room":
// ROOM, "members": sorted names, "total": how many}. It asks the Rooms
// service and answers when the service does (DeferReply; OnWho), or with
// the service's error (its timeout, or no such entity while the shard is
// re-created after its game died).
func (a *Avatar) Who() (map[string]any, error) {
	room := a.Attrs.GetString("room")
	if room == "" {
		return nil, errNoRoom
	}
	waiting := a.Attrs.GetList("whoWaiting")
	if waiting != nil && waiting.Len() >= maxWhoWaiting {
		return nil, errWhoBusy
	}
	if err := a.RequestService("Rooms", room, "Who", "OnWho", room); err != nil {
		return nil, err
	}
	p, err := a.DeferReply()
	if err != nil {
		return nil, nil // a one-way call: nobody waits for the answer
	}
	if waiting == nil {
		a.Attrs.Set("whoWaiting", []any{})
		waiting = a.Attrs.GetList("whoWaiting")
	}
	waiting.Append([]any{room, string(p)})
	return nil, nil
}

// OnWho receives the Rooms service's answer to a Who and gives it to the
// first Who waiting for that room (the first of all for an error, which
// names no room).
func (a *Avatar) OnWho(m map[string]any, err error) {
	waiting := a.Attrs.GetList("whoWaiting")
	if waiting == nil || waiting.Len() == 0 {
		return
	}
	list := waiting.ToList()
	room, _ := m["room"].(string)
	pick := 0
	for i, w := range list {
		if pair, ok := w.([]any); ok && err == nil && len(pair) == 2 && pair[0] == room {
			pick = i
			break
		}
	}
	pair, _ := list[pick].([]any)
	a.Attrs.Set("whoWaiting", append(list[:pick:pick], list[pick+1:]...))
	if len(pair) != 2 {
		return
	}
	p, _ := pair[1].(string)
	if aerr := a.Reply(goworld.ReplyHandle(p), m, err); aerr != nil {
		a.World().Logger().WithError(aerr).Errorf("%s: cannot answer Who", a)
	}
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
