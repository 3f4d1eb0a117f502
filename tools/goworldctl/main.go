// Command goworldctl builds, starts, inspects and stops a goworld cluster:
// the dispatcher, game and gate processes of one server directory.
//
// Usage:
//
//	goworldctl build  DIR
//	goworldctl start  [-config PATH] [-timeout 30s] [-no-build] DIR
//	goworldctl status [-config PATH] DIR
//	goworldctl stop   [-config PATH] [-timeout 30s] DIR
//	goworldctl kill   [-config PATH] [-timeout 30s] DIR
//
// DIR holds the game's main package. build compiles it to DIR/bin/NAME,
// NAME being the base name of DIR. start runs that binary once per process
// of the configuration (by default DIR/config.ini, else ./config.ini):
// dispatchers first, then games, then gates, each waited for until it
// signals readiness. Processes keep their PID files in DIR/run and their logs
// in DIR/log.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
