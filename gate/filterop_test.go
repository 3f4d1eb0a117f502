package gate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// TestFilteredBroadcastOperatorsEndToEnd: a game broadcasts with each
// comparison (World.CallFilteredClientsOp) through two dispatchers to
// clients on two gates, whose room properties are numbers and words; each
// client gets exactly the broadcasts whose comparison it matches, in
// order, and a broadcast with an unknown operator reaches no one and is
// logged (the game refuses it). Every client then still gets a final broadcast to all.
func TestFilteredBroadcastOperatorsEndToEnd(t *testing.T) {
	c, l := start(t, cluster.Options{Dispatchers: 2, Gates: 2})
	rooms := []string{"3", "9", "10", "12", "lobby", ""} // "": never joins
	players := make([]*client.Client, len(rooms))
	for i, room := range rooms {
		players[i] = dialPlayer(t, c.GateAddr(i%2))
		if room != "" {
			players[i].CallPlayer("Join", room)
			expect(t, players[i], "OnJoined")
		}
	}
	cases := []struct {
		op   rpc.FilterOp
		val  string
		want string // the rooms reached, in order; "-" for no room
	}{
		{rpc.FilterEq, "10", "10"},
		{rpc.FilterNe, "10", "3 9 12 lobby -"},
		{rpc.FilterLt, "10", "3 9"}, // as numbers: 9 < 10
		{rpc.FilterLe, "10", "3 9 10"},
		{rpc.FilterGt, "9", "10 12 lobby"},   // and "lobby" > "9" as strings
		{rpc.FilterGe, "9", "9 10 12 lobby"}, //
		{rpc.FilterGt, "10", "12 lobby"},     // "lobby" is not a number: as strings, "lobby" > "10"
		{rpc.FilterLt, "m", "3 9 10 12 lobby"},
		{rpc.FilterOp(42), "10", ""},
	}
	got := make([][]string, len(rooms))
	sender := players[0]
	for i, tc := range cases {
		sender.CallPlayer("SayWhere", uint8(tc.op), tc.val, fmt.Sprintf("case %d", i))
	}
	sender.CallPlayer("SayWhere", uint8(rpc.FilterAll), "", "end")
	for p, cl := range players {
		for {
			args := expect(t, cl, "OnSay")
			if args[0] == "end" {
				break
			}
			got[p] = append(got[p], args[0].(string))
		}
	}
	for i, tc := range cases {
		var reached []string
		for p, room := range rooms {
			for _, s := range got[p] {
				if s == fmt.Sprintf("case %d", i) {
					if room == "" {
						room = "-"
					}
					reached = append(reached, room)
				}
			}
		}
		if s := strings.Join(reached, " "); s != tc.want {
			t.Errorf("room %v %q reached [%s], want [%s]", tc.op, tc.val, s, tc.want)
		}
	}
	l.wait(t, "unknown filter op 42")
}
