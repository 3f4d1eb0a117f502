package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/goworld-engine/goworld/internal/metrics"
)

// metricsTimeout bounds one scrape by status: a process that does not
// answer in time is reported as such, and status goes on.
const metricsTimeout = 2 * time.Second

// maxMetricsBody bounds what status reads from one /metrics.
const maxMetricsBody = 8 << 20

// scrapeAddr returns the address status fetches /metrics from, given the
// admin address a process reported: a loopback address as it is, a
// wildcard one (0.0.0.0:P, [::]:P) as 127.0.0.1:P; anything else is not
// fetched (status talks to this machine's loopback only).
func scrapeAddr(admin string) (string, error) {
	host, port, err := net.SplitHostPort(admin)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.IsLoopback():
		return admin, nil
	case host == "" || (ip != nil && ip.IsUnspecified()):
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	return "", fmt.Errorf("%s is not a loopback address; not fetched", admin)
}

// fetchMetrics gets and parses http://addr/metrics within metricsTimeout.
func fetchMetrics(ctx context.Context, addr string) (metrics.Samples, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	// No proxy: the address is on this machine's loopback.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return metrics.Parse(io.LimitReader(resp.Body, maxMetricsBody))
}

// noAdminLine is what status says of a process without an admin server.
const noAdminLine = "metrics: none (http_addr is empty: no admin server)"

// scraped is what status learnt of one running process's metrics.
type scraped struct {
	role, admin string
	addr        string          // where /metrics is fetched
	ss          metrics.Samples // the last scrape
	prev        metrics.Samples // the one before, with -interval
	interval    time.Duration
	why         string // why there are no figures, if there are none
}

// scrapeProcess fetches the metrics of a running process of the given role
// whose READY record (if known) gave the admin address admin.
func scrapeProcess(role, admin string, known bool) *scraped {
	s := &scraped{role: role, admin: admin}
	switch {
	case !known:
		s.why = "metrics: unknown admin address (no READY record of this process)"
		return s
	case admin == "":
		s.why = noAdminLine
		return s
	}
	addr, err := scrapeAddr(admin)
	if err != nil {
		s.why = "admin=" + admin + " metrics: " + err.Error()
		return s
	}
	s.addr = addr
	s.fetch()
	return s
}

func (s *scraped) fetch() {
	ss, err := fetchMetrics(context.Background(), s.addr)
	if err != nil {
		s.why = "admin=" + s.admin + " metrics: unavailable: " + err.Error()
		return
	}
	s.ss = ss
}

// again scrapes a second time, interval after the first.
func (s *scraped) again(interval time.Duration) {
	if s.why != "" {
		return
	}
	s.prev, s.interval = s.ss, interval
	s.fetch()
}

// String is the line status prints under the process.
func (s *scraped) String() string {
	if s.why != "" {
		return s.why
	}
	line := "admin=" + s.admin + " " + metricsLine(s.role, s.ss)
	if s.prev != nil {
		line += " | over " + s.interval.String() + ": " + rateLine(s.role, s.ss.Delta(s.prev), s.interval)
	}
	return strings.TrimSpace(line)
}

// rateLine returns the rates and the tick p99 from delta, the counters'
// growth over interval.
func rateLine(role string, delta metrics.Samples, interval time.Duration) string {
	var f []string
	rate := func(key, name string, bytes bool) {
		v, ok := delta.Sum(name)
		if !ok {
			return
		}
		r := v / interval.Seconds()
		if bytes {
			f = append(f, key+"="+formatBytes(r)+"/s")
		} else {
			f = append(f, key+"="+strconv.FormatFloat(r, 'f', 1, 64)+"/s")
		}
	}
	if role == roleGame {
		if q, ok := withoutLabel(delta, "kind", "sync").Quantile(0.99, "goworld_game_tick_seconds"); ok {
			f = append(f, "tick_p99="+formatSeconds(q))
		}
		if q, ok := delta.Quantile(0.99, "goworld_game_tick_seconds", "kind", "sync"); ok {
			f = append(f, "sync_p99="+formatSeconds(q))
		}
		if v, ok := delta.Sum("goworld_game_aoi_deferred_total"); ok && v > 0 {
			rate("sync_deferred", "goworld_game_aoi_deferred_total", false)
		}
	}
	rate("packets_in", "goworld_packets_in_total", false)
	rate("packets_out", "goworld_packets_out_total", false)
	rate("bytes_in", "goworld_bytes_in_total", true)
	rate("bytes_out", "goworld_bytes_out_total", true)
	return strings.Join(f, " ")
}

// metricsLine returns the key figures of a process of the given role, as
// space-separated key=value pairs.
func metricsLine(role string, ss metrics.Samples) string {
	var f []string
	add := func(key, val string) { f = append(f, key+"="+val) }
	count := func(key, name string, match ...string) {
		if v, ok := ss.Sum(name, match...); ok {
			add(key, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	switch role {
	case roleDispatcher:
		count("games", "goworld_dispatcher_peers", "role", "game")
		count("gates", "goworld_dispatcher_peers", "role", "gate")
		count("entities", "goworld_dispatcher_entities")
		if v, ok := ss.Sum("goworld_dispatcher_peer_queue_bytes"); ok {
			add("queued", formatBytes(v))
		}
	case roleGame:
		count("entities", "goworld_game_entities")
		count("spaces", "goworld_game_spaces")
		// Position syncs (a space's sends to its clients, every
		// position_sync_interval) apart from the other wake-ups: a few
		// long syncs vanish in the p99 of thousands of short frames.
		ticks := withoutLabel(ss, "kind", "sync")
		n, _ := ticks.Sum("goworld_game_tick_seconds_count")
		sum, _ := ticks.Sum("goworld_game_tick_seconds_sum")
		if n > 0 {
			add("tick_mean", formatSeconds(sum/n))
		}
		if q, ok := ticks.Quantile(0.99, "goworld_game_tick_seconds"); ok {
			add("tick_p99", formatSeconds(q))
		}
		if n, _ := ss.Sum("goworld_game_tick_seconds_count", "kind", "sync"); n > 0 {
			sum, _ := ss.Sum("goworld_game_tick_seconds_sum", "kind", "sync")
			add("sync_mean", formatSeconds(sum/n))
			if q, ok := ss.Quantile(0.99, "goworld_game_tick_seconds", "kind", "sync"); ok {
				add("sync_p99", formatSeconds(q))
			}
		}
		count("aoi_moves", "goworld_game_aoi_moves_total")
		if v, ok := ss.Sum("goworld_game_aoi_deferred_total"); ok && v > 0 {
			// What the syncs left for later (budgets binding): shown
			// only when there is some.
			add("sync_deferred", strconv.FormatFloat(v, 'f', 0, 64))
		}
		if moves, _ := ss.Sum("goworld_game_aoi_moves_total"); moves > 0 {
			spent, _ := ss.Sum("goworld_game_aoi_move_seconds_total")
			add("aoi_move_mean", formatSeconds(spent/moves))
		}
		count("inbound_queue", "goworld_game_inbound_queue")
	case roleGate:
		count("clients", "goworld_gate_clients")
		if v, ok := ss.Sum("goworld_gate_sessions_held"); ok && v > 0 {
			// Resumable sessions whose connection dropped, counted in
			// clients: shown only when there are some.
			add("held", strconv.FormatFloat(v, 'f', 0, 64))
		}
		if v, ok := ss.Sum("goworld_gate_client_queue_bytes"); ok {
			add("client_queue", formatBytes(v))
		}
	}
	count("packets_in", "goworld_packets_in_total")
	count("packets_out", "goworld_packets_out_total")
	if v, ok := ss.Sum("goworld_bytes_in_total"); ok {
		add("bytes_in", formatBytes(v))
	}
	if v, ok := ss.Sum("goworld_bytes_out_total"); ok {
		add("bytes_out", formatBytes(v))
	}
	if v, ok := ss.Sum("process_resident_memory_bytes"); ok {
		add("rss", formatBytes(v))
	}
	return strings.Join(f, " ")
}

// formatBytes writes n bytes with a binary unit: 512B, 1.5KiB, 12.0MiB.
func formatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(n, 'f', 0, 64) + "B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + units[i]
}

// formatSeconds writes a duration given in seconds, rounded to 3
// significant digits: 42.1µs, 3.2ms, 1.05s.
func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	for _, r := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		if d >= 100*r {
			return d.Round(r).String()
		}
		if d >= r {
			return d.Round(r / 100).String()
		}
	}
	return d.String()
}

// withoutLabel returns the samples of ss whose label key is not value.
func withoutLabel(ss metrics.Samples, key, value string) metrics.Samples {
	out := make(metrics.Samples, 0, len(ss))
	for _, s := range ss {
		if s.Labels[key] != value {
			out = append(out, s)
		}
	}
	return out
}
