package metrics

import (
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// Traffic is the ConnStats of one kind of link, named by the label
// link="Link": "client", "dispatcher", "game" or "gate".
type Traffic struct {
	Link  string
	Stats *rpc.ConnStats
}

// WriteTraffic writes the traffic counters, goworld_packets_in_total,
// goworld_bytes_in_total, goworld_packets_out_total and
// goworld_bytes_out_total, with one sample per kind of link, then the
// back-pressure stalls, the slow consumers and the disconnects by reason.
func (w *Writer) WriteTraffic(ts ...Traffic) {
	for _, c := range []struct {
		name, help string
		get        func(*rpc.ConnStats) uint64
	}{
		{"goworld_packets_in_total", "Frames received.", func(s *rpc.ConnStats) uint64 { return s.FramesIn.Load() }},
		{"goworld_bytes_in_total", "Bytes received in frames, headers included.", func(s *rpc.ConnStats) uint64 { return s.BytesIn.Load() }},
		{"goworld_packets_out_total", "Sends queued: one frame each, except batches (a freeze queue flush) that count once.", func(s *rpc.ConnStats) uint64 { return s.FramesOut.Load() }},
		{"goworld_bytes_out_total", "Bytes written to sockets.", func(s *rpc.ConnStats) uint64 { return s.BytesOut.Load() }},
	} {
		for _, t := range ts {
			w.Counter(c.name, c.help, c.get(t.Stats), "link", t.Link)
		}
	}
	for _, t := range ts {
		w.Counter("goworld_send_stalls_total", "Times a sender waited for a link whose queue was past send_buffer_size (back-pressure between servers) instead of the link being closed.", t.Stats.Stalls.Load(), "link", t.Link)
	}
	for _, t := range ts {
		w.FloatCounter("goworld_send_stall_seconds_total", "Time senders spent waiting for room on a link (back-pressure).", time.Duration(t.Stats.StallNanos.Load()).Seconds(), "link", t.Link)
	}
	for _, t := range ts {
		w.Counter("goworld_slow_consumers_total", "Connections closed because more was queued for them than their bound.", t.Stats.SlowConsumers.Load(), "link", t.Link)
	}
	for _, t := range ts {
		for r, name := range rpc.CloseReasons {
			w.Counter("goworld_disconnects_total", "Connections closed, by why.", t.Stats.Closes[r].Load(), "link", t.Link, "reason", name)
		}
	}
}

// WriteLinkAuth writes goworld_link_refusals_total: the handshakes of a
// process's dispatcher links that failed on authentication, by the side
// that refused (refused_by="dispatcher": it refused this process's hello;
// "this_process": the dispatcher could not prove the cluster secret).
func (w *Writer) WriteLinkAuth(s *rpc.LinkAuthStats) {
	const help = "Dispatcher link handshakes refused on authentication, by the side that refused (see the log for why)."
	w.Counter("goworld_link_refusals_total", help, s.RefusedByDispatcher.Load(), "refused_by", "dispatcher")
	w.Counter("goworld_link_refusals_total", help, s.RefusedDispatcher.Load(), "refused_by", "this_process")
}
