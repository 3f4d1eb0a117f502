package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// faultProxyEnv makes the test binary a fault proxy instead of running
// tests (see TestMain): faultProxyEnv="LISTEN UPSTREAM" starts a
// toxiproxy that listens on LISTEN and forwards to UPSTREAM, in whatever
// network namespace the process was started in (the multi-host tests
// start it with ip netns exec), so that every socket it makes, its
// accept loop's upstream dials included, belongs to that host.
const faultProxyEnv = "GOWORLD_TEST_FAULTPROXY"

// faultProxyMain runs the fault proxy described by spec (faultProxyEnv's
// value) and returns the process's exit status. It prints "listening
// ADDR" once the proxy listens, then obeys one command a line on stdin,
// answering each with "ok" or "error: WHY" on stdout:
//
//	latency MS   MS milliseconds of latency each way (replaces any toxic)
//	reset        reset every connection when data next passes (reset_peer)
//	clear        remove every toxic
//
// The test controls it over these pipes, never over the network. It
// stops at the end of stdin: when the test closes it, or dies.
func faultProxyMain(spec string, in io.Reader, out io.Writer) int {
	listen, upstream, ok := strings.Cut(spec, " ")
	if !ok {
		fmt.Fprintf(os.Stderr, "faultproxy: %s=%.64q: want \"LISTEN UPSTREAM\"\n", faultProxyEnv, spec)
		return 2
	}
	p, err := startToxiProxy("game-dispatcher", listen, upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		return 1
	}
	defer p.Stop()
	fmt.Fprintf(out, "listening %s\n", p.Listen)
	sc := bufio.NewScanner(in) // lines of at most 64 KiB: the test's commands
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		err := fmt.Errorf("unknown command %.64q", sc.Text())
		switch {
		case len(f) == 2 && f[0] == "latency":
			var ms int
			if ms, err = strconv.Atoi(f[1]); err == nil && (ms < 0 || ms > 60_000) {
				err = fmt.Errorf("latency %d ms: want 0 to 60000", ms)
			}
			if err == nil {
				clearToxics(p)
				err = addToxic(p, "latency", fmt.Sprintf(`{"latency":%d}`, ms))
			}
		case len(f) == 1 && f[0] == "reset":
			clearToxics(p)
			err = addToxic(p, "reset_peer", `{"timeout":0}`)
		case len(f) == 1 && f[0] == "clear":
			clearToxics(p)
			err = nil
		}
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
	return 0
}
