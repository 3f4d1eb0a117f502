package main

import (
	"math/rand/v2"
	"unicode/utf8"

	"github.com/goworld-engine/goworld"
)

// AOIRadius is how far a player sees.
const AOIRadius = 100

// Limits of what clients may send.
const (
	maxName = 32   // bytes of a name
	maxSay  = 1000 // bytes of a message
)

// Player is the boot entity: one per connection. It enters the World
// space when its client connects and is destroyed when it leaves. Its
// client moves it (client.MovePlayer); the engine tells the clients of the
// players that see it.
type Player struct {
	goworld.Entity
}

// DescribeEntityType declares the player's AOI, its public name and its
// client methods.
func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.SetAOIRadius(AOIRadius)
	desc.DefineAttr("name", goworld.AttrAllClients)
	desc.ExposeToClient("SetName", "Say")
}

// OnCreated gives the player a name until its client picks one.
func (p *Player) OnCreated() {
	p.Attrs.Set("name", "player-"+string(p.ID()[:6]))
}

// OnClientConnected puts the player in the world at a random spot.
func (p *Player) OnClientConnected() {
	sp, err := worldSpace(p.World())
	if err != nil {
		p.Kick("no world to enter: " + err.Error())
		return
	}
	pos := goworld.Vector3{X: rand.Float32() * WorldSize, Z: rand.Float32() * WorldSize}
	if err := p.EnterSpace(sp.ID(), pos); err != nil {
		p.Kick("cannot enter the world: " + err.Error())
	}
}

// OnClientDisconnected destroys the player: the others stop seeing it.
func (p *Player) OnClientDisconnected() { p.Destroy() }

// SetName sets the name everyone who sees the player is shown.
func (p *Player) SetName(name string) {
	if name == "" || len(name) > maxName || !utf8.ValidString(name) {
		p.CallClient("OnError", "a name is 1 to 32 bytes of UTF-8")
		return
	}
	p.Attrs.Set("name", name)
}

// Say sends text to the player itself and to every player it sees (all
// players have the same radius, so those are also the ones that see it):
// OnSay(speakerID, speakerName, text) on each one's own client.
func (p *Player) Say(text string) {
	if len(text) > maxSay || !utf8.ValidString(text) {
		p.CallClient("OnError", "a message is valid UTF-8 of at most 1000 bytes")
		return
	}
	id, name := string(p.ID()), p.Attrs.GetString("name")
	p.CallClient("OnSay", id, name, text)
	p.Neighbors(func(n *goworld.Entity) bool {
		n.CallClient("OnSay", id, name, text)
		return true
	})
}
