package gate

import (
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/recovered"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
)

// gateMetrics are the gate's counters, updated by the connections
// themselves (atomic adds, see rpc.ConnStats).
type gateMetrics struct {
	clients rpc.ConnStats // every client connection
	links   rpc.ConnStats // the dispatcher links
	// linkAuth counts the dispatcher link handshakes refused.
	linkAuth rpc.LinkAuthStats
	panics   recovered.Log // panics recovered handling client or dispatcher frames
	// versionRefused counts clients refused for a MsgClientHello of
	// another protocol version.
	versionRefused atomic.Uint64
	// resumes counts resumes by result; endedHeld, held sessions that
	// ended without a resume, by kind.
	resumes   [numResumes]atomic.Uint64
	endedHeld [numEnds]atomic.Uint64
}

// WriteMetrics writes the gate's metrics in the Prometheus text format,
// each with the label process="gateN". Gauges are read now: it takes the
// gate's lock (for reading) and each client's send-buffer lock in turn,
// never for long. Safe to call from any goroutine.
func (g *Gate) WriteMetrics(out io.Writer) error {
	w := metrics.NewWriter(out, "process", fmt.Sprintf("gate%d", g.cfg.ID))
	g.mu.RLock()
	n := len(g.clients)
	conns := make([]*rpc.Conn, 0, n)
	for _, c := range g.clients {
		conns = append(conns, c.conn.Load())
	}
	g.mu.RUnlock()
	var queued, most int
	for _, c := range conns {
		p := c.Pending()
		queued += p
		most = max(most, p)
	}
	w.Gauge("goworld_gate_clients", "Clients connected to the gate.", float64(n))
	w.Gauge("goworld_gate_max_clients", "Clients the gate serves at most: max_clients, or less if the open-file limit is lower (-1: unlimited).", float64(g.cfg.MaxClients))
	w.Gauge("goworld_gate_client_queue_bytes", "Bytes queued for all clients, not yet written.", float64(queued))
	w.Gauge("goworld_gate_client_queue_max_bytes", "Bytes queued for the client with the most queued (client_send_buffer_size closes it).", float64(most))
	if f := g.udp; f != nil {
		w.Gauge("goworld_gate_kcp_pending_sessions", "KCP sessions open but without their first complete frame yet: not clients (kcp_handshake_timeout closes them).", float64(g.PendingKCP()))
		w.Gauge("goworld_gate_kcp_addresses", "Client addresses whose KCP conversation the filter lets through.", float64(f.numAddrs()))
		w.Counter("goworld_gate_kcp_hellos_answered_total", "KCP handshake hellos answered with a cookie.", f.answered.Load())
		w.Counter("goworld_gate_kcp_old_client_kicks_total", "KCP first segments without a cookie answered with a kick saying the handshake is required (at most 10 a second).", f.oldKicks.Load())
		w.Counter("goworld_gate_kcp_handshake_timeouts_total", "KCP sessions closed for sending no complete frame within kcp_handshake_timeout.", g.kcpTimeouts.Load())
		for i, name := range dropNames {
			w.Counter("goworld_gate_kcp_dropped_total", "UDP datagrams the KCP filter dropped, by reason: malformed, bad_cookie (new address, no valid cookie), wrong_conv (a session's address, another conversation), no_frame (a valid cookie without a whole first frame in segment 0), session_rate (kcp_session_rate), hello_rate (kcp_hello_rate).",
				f.dropped[i].Load(), "reason", name)
		}
	}
	w.Gauge("goworld_gate_sessions_held", "Resumable sessions held for clients whose connection dropped (counted in goworld_gate_clients).", float64(g.HeldSessions()))
	w.Gauge("goworld_gate_session_journal_bytes", "Bytes of session frames kept for resumable clients (unacknowledged, or sent while away), in all; each client's at most resume_limit.", float64(g.journalBytes()))
	for i, name := range resumeNames {
		w.Counter("goworld_gate_resumes_total", "Resumes of sessions (MsgResume), by result: ok, unknown (token unknown or expired), ended (the session ended while away), missed (frames the client missed were forgotten), protocol_error.",
			g.met.resumes[i].Load(), "result", name)
	}
	for i, name := range endNames {
		w.Counter("goworld_gate_sessions_ended_held_total", "Held sessions that ended without a resume, by why: window (resume_window passed), limit (more than resume_limit sent while away), kicked, closed (the gate closed).",
			g.met.endedHeld[i].Load(), "reason", name)
	}
	w.Counter("goworld_gate_clients_refused_per_ip_total", "Connections refused because their address held max_clients_per_ip already (TCP, TLS and KCP: kicked; WebSocket: HTTP 429).", g.perAddr.refused.Load())
	w.Gauge("goworld_gate_client_addresses", "Addresses (IPv6: /64 networks) holding connections counted against max_clients_per_ip, exempt ones left out.", float64(g.perAddr.addrs()))
	w.Counter("goworld_gate_protocol_version_refused_total", "Clients refused because their ClientHello named another protocol version than the gate's.", g.met.versionRefused.Load())
	w.Counter("goworld_gate_requests_overloaded_total", "Client requests the gate answered \"overloaded\" itself: max_client_requests were waiting, or the dispatcher link was down.", g.reqOverloaded.Load())
	w.Counter("goworld_gate_replies_unmatched_total", "Answers dropped because the client had no such request waiting (forgotten after a minute unanswered).", g.reqUnmatched.Load())
	w.WriteTraffic(metrics.Traffic{Link: "client", Stats: &g.met.clients}, metrics.Traffic{Link: "dispatcher", Stats: &g.met.links})
	w.WriteLinkAuth(&g.met.linkAuth)
	w.Counter("goworld_gate_panics_total", "Panics recovered handling a frame (each logged with its stack, the first few a minute); a client's costs it a kick, a dispatcher's the frame.", g.met.panics.Total())
	for i, l := range g.links {
		w.Gauge("goworld_link_queue_bytes", "Bytes queued for a dispatcher, not yet written (0 while the link is down).",
			float64(linkPending(l)), "dispatcher", strconv.Itoa(i+1))
	}
	return w.Err()
}

// linkPending returns the bytes queued on a link's current connection.
func linkPending(l *link.Link) int {
	if c := l.Conn(); c != nil {
		return c.Queued()
	}
	return 0
}
