package dispatcher

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/recovered"
	"github.com/goworld-engine/goworld/rpc"
)

// dispatcherMetrics are the dispatcher's traffic counters, by the role of
// the peer (atomic adds by the connections, see rpc.ConnStats).
type dispatcherMetrics struct {
	games, gates rpc.ConnStats
	panics       recovered.Log // panics recovered routing a frame
	// refusals counts the links refused at the hello, by rpc.RefusalCode.
	refusals [8]atomic.Uint64
}

func (m *dispatcherMetrics) refused(c rpc.RefusalCode) {
	if int(c) < len(m.refusals) {
		m.refusals[c].Add(1)
	}
}

func (m *dispatcherMetrics) stats(r rpc.Role) *rpc.ConnStats {
	if r == rpc.RoleGate {
		return &m.gates
	}
	return &m.games
}

// WriteMetrics writes the dispatcher's metrics in the Prometheus text
// format, each with the label process="dispatcherN". It holds the routing
// table's read lock while it reads the table sizes and the peers' send
// queues. Safe to call from any goroutine.
func (d *Dispatcher) WriteMetrics(out io.Writer) error {
	w := metrics.NewWriter(out, "process", fmt.Sprintf("dispatcher%d", d.cfg.ID))
	type queue struct {
		name  string
		bytes int
	}
	d.mu.RLock()
	games, gates, entities := len(d.games), len(d.gates), len(d.entities)
	frozen, migrating := len(d.frozen), len(d.blocked)
	var queues []queue
	for _, p := range d.games {
		queues = append(queues, queue{p.String(), p.conn.Queued()})
	}
	for _, p := range d.gates {
		queues = append(queues, queue{p.String(), p.conn.Queued()})
	}
	var frozenBytes int
	for _, fg := range d.frozen {
		fg.mu.Lock()
		frozenBytes += fg.q.size()
		fg.mu.Unlock()
	}
	d.mu.RUnlock()
	slices.SortFunc(queues, func(a, b queue) int { return cmp.Compare(a.name, b.name) })

	w.Counter("goworld_dispatcher_panics_total", "Panics recovered routing a frame (the frame is dropped; each is logged with its stack, the first few a minute).", d.met.panics.Total())
	for _, c := range rpc.RefusalCodes {
		w.Counter("goworld_dispatcher_link_refusals_total", "Game and gate connections refused at the hello, by reason (bad_proof: a wrong cluster secret; no_auth: none offered; not_loopback: from another machine while this dispatcher has no secret).",
			d.met.refusals[c].Load(), "reason", c.String())
	}
	w.Gauge("goworld_dispatcher_peers", "Connected peers, by role.", float64(games), "role", "game")
	w.Gauge("goworld_dispatcher_peers", "Connected peers, by role.", float64(gates), "role", "gate")
	w.Gauge("goworld_dispatcher_entities", "Entities in this dispatcher's shard of the routing table.", float64(entities))
	w.Gauge("goworld_dispatcher_frozen_games", "Games frozen for a hot reload, their packets queued.", float64(frozen))
	w.Gauge("goworld_dispatcher_frozen_queue_bytes", "Bytes queued for frozen games (freeze_queue_limit bounds each).", float64(frozenBytes))
	w.Gauge("goworld_dispatcher_migrating_entities", "Entities migrating between games, their packets held.", float64(migrating))
	for _, q := range queues {
		w.Gauge("goworld_dispatcher_peer_queue_bytes", "Bytes queued for a peer, not yet written (past send_buffer_size, the senders wait: back-pressure).", float64(q.bytes), "peer", q.name)
	}
	w.WriteTraffic(metrics.Traffic{Link: "game", Stats: &d.met.games}, metrics.Traffic{Link: "gate", Stats: &d.met.gates})
	return w.Err()
}
