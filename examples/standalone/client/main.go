// Command client clicks ten times on the standalone game and prints what
// the server says.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/goworld-engine/goworld/client"
)

func main() {
	gate := flag.String("gate", "127.0.0.1:14011", "gate address")
	flag.Parse()
	c, err := client.Dial(*gate, client.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.Call:
			fmt.Println(ev.Method, ev.Args)
			switch ev.Method {
			case "Welcome":
				for i := 0; i < 10; i++ {
					c.CallPlayer("Click")
				}
			case "Cheer":
				p, _ := c.Player()
				fmt.Println("clicks attribute:", p.Attrs["clicks"])
				return
			}
		case client.Disconnected:
			fmt.Fprintln(os.Stderr, "disconnected:", ev.Reason)
			os.Exit(1)
		}
	}
}
