// Command goworldctl builds, starts, inspects and stops a goworld cluster:
// the dispatcher, game and gate processes of one server directory.
//
// Usage:
//
//	goworldctl build  DIR
//	goworldctl start  [-config PATH] [-host NAME] [-timeout 30s] [-no-build] [-down] DIR
//	goworldctl reload [-config PATH] [-host NAME] [-timeout 30s] [-no-build] DIR
//	goworldctl status [-config PATH] [-host NAME] DIR
//	goworldctl stop   [-config PATH] [-host NAME] [-timeout 30s] DIR
//	goworldctl kill   [-config PATH] [-host NAME] [-timeout 30s] DIR
//	goworldctl bench  [-gate ADDR] [-clients N] [-duration D] [-scenario chat|echo|move] [-kcp] [DIR]
//
// DIR holds the game's main package. build compiles it to DIR/bin/NAME,
// NAME being the base name of DIR. start runs that binary once per process
// of the configuration (by default DIR/config.ini, else ./config.ini):
// dispatchers first, then games, then gates, each waited for until it
// signals readiness. Processes keep their PID files in DIR/run and their logs
// in DIR/log. Each process runs its own copy of the binary,
// DIR/run/NAME.bin, so DIR/bin/NAME is never busy and reload knows which
// binary each game runs.
//
// In a cluster over several machines, each process section of the config
// names its host (the host key), and every command above but build acts
// only on the processes of the host named by -host, or else by the
// environment variable GOWORLD_HOST; a config that names hosts needs one.
// Games and gates dial the dispatchers of other hosts at their configured
// advertise_addr (else listen_addr); status lists the processes of other
// hosts as remote, not probed. See docs/deployment.md.
//
// reload (Linux and macOS) builds, then hot-reloads the games one at a
// time, in ID order: the game freezes its world to a file on SIGUSR1 and
// exits, and the new binary restores it with -restore-from while the
// dispatchers hold the game's packets. If the new binary fails, the
// game's previous binary, DIR/run/NAME.bin, restores the same file, and
// reload exits non-zero without touching the games after it. One game at
// a time keeps each game's pause short, and a bad build is caught on the
// first game while the others still run the old one. See
// docs/hot-reload.md.
//
// bench drives bot clients against a running cluster (loopback only unless
// -allow-remote) and ends with one summary line,
//
//	clients=N duration=Ds rpc/s=X p50=Yms p99=Zms errors=E lost=L
//
// exiting 1 if anything errored or was lost. See docs/performance.md.
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
