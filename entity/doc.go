// Package entity is the game developer's model of a game: entity types
// written in plain Go, their attributes, the calls between them and their
// clients, timers, and spaces where they see each other.
//
// Most game code imports package goworld, whose types are aliases of
// these (goworld.Entity is Entity, goworld.World is World), and registers
// its types with goworld.RegisterEntity before goworld.Run.
//
// # Entity types
//
// A type embeds Entity by value and describes itself:
//
//	type Player struct{ entity.Entity }
//
//	func (p *Player) DescribeEntityType(d *entity.TypeDesc) {
//		d.SetPersistent(true)                                           // saved, and loaded by ID
//		d.DefineAttr("name", entity.AttrAllClients)                     // shown to every client that sees it
//		d.DefineAttr("gold", entity.AttrOwnClient|entity.AttrPersistent) // its own client's, and saved
//		d.ExposeToClient("Rename")                                      // its own client may call it
//		d.DefineClientMethod("OnRenamed", "")                           // what the server calls on clients
//	}
//
//	func (p *Player) Rename(name string) { p.Attrs.Set("name", name) }
//
// Every exported method with parameters the wire can carry is callable by
// other entities (Entity.Call, World.Call) wherever they live, by timers
// (Entity.AddTimer, Entity.AddCallback) and, if exposed, by clients. A
// method that returns a value and an error, or an error, answers
// requests (Entity.Request). Hooks (OnCreated, OnDestroy,
// OnClientConnected, OnEnterAOI...) are methods of the same name; see the
// interfaces of this package for the list.
//
// Attributes (Entity.Attrs) are a tree of maps, lists and plain values.
// The flags of a top-level attribute decide where its changes go: to the
// entity's own client (AttrOwnClient), to every client that sees it
// (AttrAllClients), to storage (AttrPersistent, for a type made
// persistent with TypeDesc.SetPersistent); an attribute without flags
// stays on the server.
//
// Spaces are entities whose type calls TypeDesc.DefineSpace. Entities
// enter them (Entity.EnterSpace) and see the others within their area of
// interest (TypeDesc.SetAOIRadius); their clients are shown what they see.
//
// # The world and the game loop
//
// A game process runs all its entities on one goroutine, the game loop:
// entity methods, hooks, timers and callbacks never run at the same time,
// so game code needs no lock, and must not block. Slow work goes to
// World.Go; storage calls (World.KVGet...) call back on the loop.
//
// Entity.World is what game code reaches beyond its entity: creating and
// loading entities, calls by ID, broadcasts to clients, services and the
// key-value store. The loop itself (frames from the dispatchers, timers,
// position syncs, saves, hot-reload freezes) is driven through an Engine,
// which only the game package holds: a World never gives its Engine
// back, so game code cannot drive, save or restore the live world behind
// the engine's back.
package entity
