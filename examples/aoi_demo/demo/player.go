package demo

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/goworld-engine/goworld"
)

// AOIRadius is how far a player sees.
const AOIRadius = 100

// Limits of what clients may send.
const (
	maxName  = 32   // bytes of a name
	maxSay   = 1000 // bytes of a message
	maxEmote = 32   // bytes of an emote's name
	// maxViewLimit bounds what a client may ask LimitView for: no
	// more than a client's screen shows, so that no client can ask to be
	// shown a whole crowd where the game holds views to aoi_view_limit.
	maxViewLimit = 200
)

// emoteEvery is the shortest time between two emotes of one player.
const emoteEvery = 250 * time.Millisecond

// maxTravelTries bounds how often one travel tries again after the
// zone's space turned out not to be live (its game died and the service
// is re-creating it elsewhere, or it is not created yet while the
// cluster starts).
const maxTravelTries = 5

// retryTravel is how long a travel waits for a hot reload of the
// player's game before it tries again.
const retryTravel = 100 * time.Millisecond

// retryArrival is how long a travel that came back from a zone whose
// space was not live waits before it tries again: about what the engine
// needs to re-create a service shard whose game died.
const retryArrival = 500 * time.Millisecond

// Player is the boot entity: one per connection. It enters the entry zone
// when its client connects and is destroyed when it leaves. Its client
// moves it (client.MovePlayer) and sends it to another zone (Travel); the
// engine tells the clients of the players that see it.
//
// Attributes: name (every client that sees it), zone and game (its own
// client: the zone it is in and the game that hosts it, set once it has
// entered), and, on the server only, the travel in progress: travel (the
// zone it is going to, 0 if none) and travelTries.
type Player struct {
	goworld.Entity
	// lastEmote is when the player last emoted (not an attribute: after a
	// hot reload or a migration it starts again from zero).
	lastEmote time.Time
}

// DescribeEntityType declares the player's AOI, its attributes and its
// client methods.
func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.SetAOIRadius(AOIRadius)
	desc.DefineAttr("name", goworld.AttrAllClients)
	desc.DefineAttr("zone", goworld.AttrOwnClient)
	desc.DefineAttr("game", goworld.AttrOwnClient)
	desc.DefineAttr("travel", 0)
	desc.DefineAttr("travelTries", 0)
	desc.ExposeToClient("SetName", "Say", "Travel", "Emote", "LimitView")
}

// OnCreated gives the player a name until its client picks one.
func (p *Player) OnCreated() {
	p.Attrs.Set("name", "player-"+string(p.ID()[:6]))
}

// OnClientConnected sends the player to the entry zone, at a random spot.
func (p *Player) OnClientConnected() {
	if p.Space() != nil || p.Attrs.GetInt("travel") != 0 {
		return // a client handed over to a player already in the game
	}
	p.startTravel(EntryZone)
}

// OnClientDisconnected destroys the player: the others stop seeing it.
func (p *Player) OnClientDisconnected() { p.Destroy() }

// Travel moves the player to zone (1..Zones), at the same x and z: it
// leaves the players of its zone and is shown those of the new one. If
// another game hosts that zone the player migrates there; its client
// stays connected. Errors go to the client as OnError(text).
func (p *Player) Travel(zone int) {
	switch {
	case zone < 1 || zone > Zones:
		p.CallClient("OnError", "zones are 1 to "+strconv.Itoa(Zones))
	case p.Attrs.GetInt("travel") != 0:
		p.CallClient("OnError", "already travelling")
	case p.Space() != nil && p.Attrs.GetInt("zone") == int64(zone):
		p.CallClient("OnError", "already in zone "+strconv.Itoa(zone))
	default:
		p.startTravel(zone)
	}
}

func (p *Player) startTravel(zone int) {
	p.Attrs.Set("travel", zone)
	p.Attrs.Set("travelTries", 0)
	p.goTo(zone)
}

// goTo enters the zone's space, keeping the player's position (a spot at
// random if it has not been in a zone yet). The space is the zone's
// service shard (ZoneID): no lookup, wherever it lives.
func (p *Player) goTo(zone int) {
	id, err := ZoneID(p.World(), zone)
	if err != nil {
		p.travelFailed(zone, err.Error())
		return
	}
	// Where it stands, also after coming back from a space that was not
	// live (then in no space, where it stood); a new player, which has
	// never been in a zone, at a random spot.
	pos := p.Position()
	if p.Attrs.GetInt("zone") == 0 {
		pos = randomSpot()
	}
	// A space on this game is entered now (OnEnterSpace runs); one on
	// another game is reached by migrating there (OnRestore runs there,
	// then OnEnterSpace), or, if it is not live, back here (OnRestore, in
	// no space).
	switch err := p.EnterSpace(id, pos); {
	case errors.Is(err, goworld.ErrFreezing):
		// This game is freezing for a hot reload: the timer goes with
		// the player into the new process, which travels on.
		p.World().Logger().Infof("%s: the travel to zone %d waits for the hot reload", p, zone)
		if _, err := p.AddCallback(retryTravel, "RetryTravel"); err != nil {
			p.travelFailed(zone, err.Error())
		}
	case err != nil:
		p.travelFailed(zone, err.Error())
	}
}

// travelFailed ends a travel that cannot be made: a player in no zone has
// nothing to do in the game and is disconnected, one in a zone stays there
// and its client is told.
func (p *Player) travelFailed(zone int, why string) {
	p.Attrs.Set("travel", 0)
	msg := "cannot enter zone " + strconv.Itoa(zone) + ": " + why
	p.World().Logger().Warnf("%s: %s", p, msg)
	if p.Space() == nil {
		p.Kick(msg)
		return
	}
	p.CallClient("OnError", msg)
}

// OnEnterSpace ends the travel and tells the player's own client which
// zone it is in and on which game.
func (p *Player) OnEnterSpace() {
	// game first: a client that sees the new zone sees the new game too.
	p.Attrs.Set("game", int(p.World().GameID()))
	p.Attrs.Set("zone", p.Space().Attrs.GetInt("zone"))
	p.Attrs.Set("travel", 0)
}

// OnRestore runs when the player was rebuilt on this game: after a hot
// reload, after migrating here, and after coming back from a space that
// was gone. Its space (if any) is entered after this hook, so the check is
// a call to itself, which runs after it.
func (p *Player) OnRestore() { p.Call(p.ID(), "CheckArrival") }

// CheckArrival tries the travel again a little later, at most
// maxTravelTries times, if the player came back from a zone whose space
// was not live: its game died and the service is re-creating it on
// another game, or the cluster is starting and has not created it yet.
func (p *Player) CheckArrival() {
	zone := int(p.Attrs.GetInt("travel"))
	if zone == 0 || p.Space() != nil {
		return
	}
	tries := p.Attrs.GetInt("travelTries") + 1
	if tries > maxTravelTries {
		p.travelFailed(zone, "its space was not there "+strconv.Itoa(maxTravelTries)+" times")
		return
	}
	p.Attrs.Set("travelTries", tries)
	p.World().Logger().Infof("%s: zone %d's space is not live; trying again in %v", p, zone, retryArrival)
	if _, err := p.AddCallback(retryArrival, "RetryTravel"); err != nil {
		p.travelFailed(zone, err.Error())
	}
}

// RetryTravel goes on with the travel in progress, which had to wait for
// a hot reload of this game or for the zone's space.
func (p *Player) RetryTravel() {
	if zone := int(p.Attrs.GetInt("travel")); zone != 0 && !p.IsDestroyed() {
		p.goTo(zone)
	}
}

// SetName sets the name everyone who sees the player is shown.
func (p *Player) SetName(name string) {
	if name == "" || len(name) > maxName || !utf8.ValidString(name) {
		p.CallClient("OnError", "a name is 1 to 32 bytes of UTF-8")
		return
	}
	p.Attrs.Set("name", name)
}

// LimitView lets the player's client ask to hold at most n of the
// players it sees, the nearest (a low-end device, a small screen): 1 to
// maxViewLimit, or 0 for the game's aoi_view_limit again. It stays with
// the player, across zones, games and hot reloads.
func (p *Player) LimitView(n int) {
	if n < 0 || n > maxViewLimit {
		p.CallClient("OnError", "a view limit is 0 (the game's) to "+strconv.Itoa(maxViewLimit))
		return
	}
	p.Entity.SetViewLimit(n)
}

// Emote shows the players who see this one that it plays an emote (a
// wave, a dance): OnEmote(name) on their copy of this player, not on its
// own client, which started it. One client's emote reaches every client
// near it, so each player may emote at most once per emoteEvery: a
// client flooding emotes in a square of a thousand would otherwise cost
// the servers a thousand frames for each of its own.
func (p *Player) Emote(name string) {
	if name == "" || len(name) > maxEmote || !utf8.ValidString(name) {
		p.CallClient("OnError", "an emote is 1 to 32 bytes of UTF-8")
		return
	}
	now := p.World().Now()
	if now.Sub(p.lastEmote) < emoteEvery {
		p.CallClient("OnError", "one emote at a time")
		return
	}
	p.lastEmote = now
	p.CallOtherNearbyClients("OnEmote", name)
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
