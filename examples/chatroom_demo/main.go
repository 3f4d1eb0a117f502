// Command chatroom_demo is the goworld chat server: an Account entity per
// connection handles registration and login (throttled: see guard.go),
// then hands the client to the player's persistent Avatar, which joins
// rooms and chats; the Rooms service knows who is in each room, on every
// game of the cluster. Run it with goworldctl:
//
//	go run ./tools/goworldctl start examples/chatroom_demo
//	go run ./examples/chatroom_demo/client -gate 127.0.0.1:14001 -user alice -password secret -register
package main

import (
	"github.com/goworld-engine/goworld"
)

func main() {
	goworld.RegisterEntity("Account", &Account{})
	goworld.RegisterEntity("Avatar", &Avatar{})
	goworld.RegisterService("Rooms", &Rooms{}, RoomShards)
	goworld.Run()
}
