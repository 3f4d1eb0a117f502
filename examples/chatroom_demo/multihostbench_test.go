//go:build linux

package main

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/procstat"
)

// BenchmarkChatAcrossHosts is the chat figure across hosts: the demo over
// the multi-host test's namespaces (Redis, a dispatcher, two games, two
// gates, each on its own host, started with goworldctl start -host), and
// goworldctl bench on the client host driving GOWORLD_BENCH_CLIENTS chat
// clients (default 1,000) for GOWORLD_BENCH_DURATION (default 20s),
// client i on gate i mod 2. Each iteration is one bench run; run it with
// -benchtime 1x:
//
//	go test -run '^$' -bench ChatAcrossHosts -benchtime 1x ./examples/chatroom_demo/
//
// It reports deliveries/s, the round trip's p50 and p99 (ms) and the five
// servers' CPU per delivery (µs) from the end of set-up to the end of the
// load and its drain, read from /proc by the PIDs that goworldctl status
// gives on each host. Compare it with the same cluster on
// loopback: tools/benchscripts/scaleout.sh.
func BenchmarkChatAcrossHosts(b *testing.B) {
	clients, duration := 1000, "20s"
	if v := os.Getenv("GOWORLD_BENCH_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("GOWORLD_BENCH_CLIENTS=%q: %v", v, err)
		}
		clients = n
	}
	if v := os.Getenv("GOWORLD_BENCH_DURATION"); v != "" {
		duration = v
	}
	m := startMultiHost(b, multiHostOptions{})
	gates := m.net.Host("gate1").Addr + ":14001," + m.net.Host("gate2").Addr + ":14001"
	pids := map[string]int{}
	for name, field := range m.pids() {
		pid, err := strconv.Atoi(field[len("pid="):])
		if err != nil {
			b.Fatalf("%s: %q", name, field)
		}
		pids[name] = pid
	}
	summary := regexp.MustCompile(`(?m)^clients=\d+ duration=(\d+)s rpc/s=\d+ p50=([\d.]+)ms p99=([\d.]+)ms errors=(\d+) lost=(\d+)$`)
	counts := regexp.MustCompile(`(?m)^sent=\d+ expected=\d+ delivered=(\d+) deliveries/s=(\d+) `)
	b.ResetTimer()
	for range b.N {
		cmd := m.net.Host("client").Command(m.ctl, "bench", "-clients", strconv.Itoa(clients), "-duration", duration,
			"-idle", "0", "-allow-remote", "-gate", gates)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// The servers' CPU from the end of set-up (logins hash passwords)
		// to the counts line, which bench prints once the answers have
		// drained: the window of bench's own per-process figures.
		var out strings.Builder
		var cpu0, cpu time.Duration
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			switch {
			case strings.HasPrefix(line, "set up "):
				cpu0 = serversCPU(b, pids)
			case strings.HasPrefix(line, "sent="):
				cpu = serversCPU(b, pids) - cpu0
			}
		}
		err = cmd.Wait()
		s, c := summary.FindStringSubmatch(out.String()), counts.FindStringSubmatch(out.String())
		if err != nil || s == nil || c == nil || s[4] != "0" || s[5] != "0" || cpu <= 0 {
			b.Fatalf("bench across hosts: %v\n%s", err, out.String())
		}
		b.Logf("%s", out.String())
		delivered, _ := strconv.ParseFloat(c[1], 64)
		perSec, _ := strconv.ParseFloat(c[2], 64)
		p50, _ := strconv.ParseFloat(s[2], 64)
		p99, _ := strconv.ParseFloat(s[3], 64)
		b.ReportMetric(perSec, "deliveries/s")
		b.ReportMetric(p50, "p50-ms")
		b.ReportMetric(p99, "p99-ms")
		b.ReportMetric(float64(cpu.Microseconds())/delivered, "server-µs/delivery")
	}
}

// serversCPU is the CPU time used so far by the processes of pids.
func serversCPU(b *testing.B, pids map[string]int) time.Duration {
	var total time.Duration
	for name, pid := range pids {
		d, err := procstat.CPU(pid)
		if err != nil {
			b.Fatalf("CPU of %s (pid %d): %v", name, pid, err)
		}
		total += d
	}
	return total
}
