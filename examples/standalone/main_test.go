package main

import (
	"testing"

	"github.com/goworld-engine/goworld/goworldtest"
)

// TestPlayerClicks starts the game's types in an in-process cluster (a
// dispatcher, a game and a gate on loopback sockets) and plays it with a
// real client: ten clicks earn a cheer, and the client's copy of the
// attribute follows.
func TestPlayerClicks(t *testing.T) {
	c := goworldtest.Start(t, goworldtest.Options{BootEntity: "Player"})
	p := c.Connect()
	if w := p.ExpectCall("Welcome"); w.Args[0] != "click ten times" {
		t.Fatalf("Welcome%v", w.Args)
	}
	for range 10 {
		p.Call("Click")
	}
	if cheer := p.ExpectCall("Cheer"); cheer.Args[0] != int64(10) {
		t.Fatalf("Cheer%v, want Cheer[10]", cheer.Args)
	}
	p.WaitAttr("clicks", int64(10))
	if got := c.Attr(p.PlayerID(), "clicks"); got != int64(10) {
		t.Fatalf("the server's clicks: %v", got)
	}
}
