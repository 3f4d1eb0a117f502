// Command standalone is a complete goworld game in its own module: copy
// this folder anywhere, point the replace line of go.mod at your goworld
// checkout (or drop it once goworld is published), and run
//
//	go tool goworldctl start .
//	go run ./client
package main

import "github.com/goworld-engine/goworld"

// Player is created for every client that connects (boot_entity in config.ini).
type Player struct {
	goworld.Entity
}

// DescribeEntityType declares what the engine must know about Player.
func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineAttr("clicks", goworld.AttrOwnClient) // synced to the player's client
	desc.ExposeToClient("Click")                     // the only method a client may call
}

// OnClientConnected greets the new player.
func (p *Player) OnClientConnected() {
	p.CallClient("Welcome", "click ten times")
}

// Click counts clicks; every tenth one earns a cheer.
func (p *Player) Click() {
	n := p.Attrs.GetInt("clicks") + 1
	p.Attrs.Set("clicks", n) // the client's copy follows
	if n%10 == 0 {
		p.CallClient("Cheer", n)
	}
}

// OnClientDisconnected cleans up when the player leaves.
func (p *Player) OnClientDisconnected() {
	p.Destroy()
}

// The types are registered before main runs, so that the test (which
// starts them in an in-process cluster) sees them too.
func init() {
	goworld.RegisterEntity("Player", &Player{})
}

func main() {
	goworld.Run()
}
