package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) == "1" { // started by measure as the other end
		if err := run(os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "tcpfloor peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestModes runs both modes briefly over TCP and a Unix socket and checks
// that every message was counted and a CPU figure printed.
func TestModes(t *testing.T) {
	line := regexp.MustCompile(`^mode=(\w+) net=(tcp|unix) conns=10 rate=500 burst=5 messages=(\d+) .* cpu/message=[0-9.]+µs\n$`)
	for _, mode := range []string{"fanout", "echo"} {
		for _, network := range []string{"tcp", "unix"} {
			var out bytes.Buffer
			args := []string{mode, "-conns", "10", "-rate", "500", "-burst", "5", "-duration", "200ms", "-unix=" + strconv.FormatBool(network == "unix")}
			if err := run(args, &out); err != nil {
				t.Fatalf("%s %s: %v", mode, network, err)
			}
			m := line.FindStringSubmatch(out.String())
			if m == nil || m[1] != mode || m[2] != network {
				t.Fatalf("%s %s: unexpected output %q", mode, network, out.String())
			}
			if n, _ := strconv.Atoi(m[3]); n != 100 {
				t.Fatalf("%s %s: %d messages, want 100", mode, network, n)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"echo", "-conns", "0"}, {"fanout", "-duration", "1h"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
