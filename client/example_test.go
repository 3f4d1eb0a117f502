package client_test

import (
	"fmt"
	"net"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

func ExampleDial() {
	addr, stop := startDemoGate() // a stand-in for a real gate's address
	defer stop()

	c, err := client.Dial(addr, client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.EntityCreated:
			fmt.Println("created", ev.Type, "player:", ev.IsPlayer, "name:", ev.Attrs["name"])
			if ev.IsPlayer {
				c.CallPlayer("Login", "alice", "secret")
			}
		case client.Call:
			fmt.Println("call", ev.Method, ev.Args)
		case client.AttrChanged:
			fmt.Println("changed", ev.Path, "to", ev.Value)
		case client.Disconnected:
			fmt.Println("disconnected:", ev.Reason)
		}
	}
	// Output:
	// created Account player: true name: guest
	// call OnLoggedIn [alice]
	// changed [name] to alice
	// disconnected: see you
}

// startDemoGate serves one client on 127.0.0.1 with a fixed script: it
// shows an Account, waits for Login, answers, renames the account and
// kicks the client.
func startDemoGate() (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(eventTimeout))
		id := rpc.NewEntityID()
		send := func(t rpc.MsgType, body []byte) { nc.Write(rpc.AppendFrame(nil, t, body)) }
		create := rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 1), "Account")
		create, _ = rpc.AppendValue(create, map[string]any{"name": "guest"})
		send(rpc.MsgCreateEntity, create)
		var hdr [rpc.HeaderSize]byte
		for {
			t, body, err := rpc.ReadFrame(nc, hdr[:], 1<<20)
			if err != nil {
				return
			}
			r := rpc.NewReader(body)
			if t != rpc.MsgCallEntity || r.EntityID() != id || r.String() != "Login" {
				continue
			}
			args, err := rpc.DecodeAnyArgs(r.Rest())
			if err != nil || len(args) != 2 {
				return
			}
			call, _ := rpc.AppendArgs(rpc.AppendString(rpc.AppendEntityID(nil, id), "OnLoggedIn"), args[:1])
			send(rpc.MsgCallClient, call)
			change, _ := rpc.AppendValue(rpc.AppendUint8(rpc.AppendEntityID(nil, id), uint8(rpc.AttrSet)), []any{"name"})
			change, _ = rpc.AppendValue(change, args[0])
			send(rpc.MsgAttrChange, change)
			send(rpc.MsgKick, rpc.AppendString(nil, "see you"))
			return
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); <-done }
}
