// Command multigame is the AOI demo (examples/aoi_demo) built from this
// directory, so that goworldctl runs it with this directory's config.ini:
// two games on Redis, each hosting some of the zones, the players
// migrating between them when they travel.
//
//	redis-server --port 6379 --save "" --appendonly no &
//	go run ./tools/goworldctl start examples/aoi_demo/multigame
//	go run ./examples/aoi_demo/bots -gate 127.0.0.1:14031 -travel 2s
package main

import (
	"github.com/goworld-engine/goworld"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
)

func main() {
	demo.Register()
	goworld.Run()
}
