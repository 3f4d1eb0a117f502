package metrics

import "github.com/goworld-engine/goworld/rpc"

// Traffic is the ConnStats of one kind of link, named by the label
// link="Link": "client", "dispatcher", "game" or "gate".
type Traffic struct {
	Link  string
	Stats *rpc.ConnStats
}

// WriteTraffic writes the four traffic counters, goworld_packets_in_total,
// goworld_bytes_in_total, goworld_packets_out_total and
// goworld_bytes_out_total, with one sample per kind of link.
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
}
