package aoi_test

import (
	"fmt"

	"github.com/goworld-engine/goworld/aoi"
)

func Example() {
	g := aoi.NewGrid(100, aoi.Funcs{
		OnEnter: func(watcher, target aoi.ID) { fmt.Println(watcher, "sees", target) },
		OnLeave: func(watcher, target aoi.ID) { fmt.Println(watcher, "no longer sees", target) },
	})
	g.Insert(1, 0, 0, 100)  // a player who sees 100 units around
	g.Insert(2, 60, 80, 50) // an NPC at distance exactly 100: 1 sees it
	g.Insert(3, 30, 40, 50) // 50 from both: sees both, and both see it
	fmt.Println("--- 2 walks away")
	g.Move(2, 200, 0)
	fmt.Println("--- 3 disappears")
	g.Remove(3)
	// Output:
	// 1 sees 2
	// 1 sees 3
	// 2 sees 3
	// 3 sees 1
	// 3 sees 2
	// --- 2 walks away
	// 1 no longer sees 2
	// 2 no longer sees 3
	// 3 no longer sees 2
	// --- 3 disappears
	// 1 no longer sees 3
	// 3 no longer sees 1
}
