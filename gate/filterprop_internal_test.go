package gate

import (
	"io"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/internal/fdlimit"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// TestGateIgnoresOverLongFilterProps: a game that sets a filter property
// over rpc.MaxFilterPropLen (entity.SetClientFilterProp refuses to; this
// is the gate's own check, for a game that does not) leaves the client's
// properties alone, and the one at the bound is set.
func TestGateIgnoresOverLongFilterProps(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	g, err := New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Dispatchers: []string{"127.0.0.1:1"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const cid = rpc.ClientID(42)
	g.clients[cid] = &client{id: cid}
	set := func(key, val string) {
		b := rpc.AppendUint64(rpc.AppendUint16(nil, 1), uint64(cid))
		b = rpc.AppendString(rpc.AppendString(b, key), val)
		if err := g.handleDispatcher(&rpc.Batch{}, rpc.MsgSetClientFilterProp, b); err != nil {
			t.Fatal(err)
		}
	}
	set("room", strings.Repeat("r", rpc.MaxFilterPropLen+1))
	set(strings.Repeat("k", rpc.MaxFilterPropLen+1), "v")
	set("room", strings.Repeat("r", rpc.MaxFilterPropLen))
	props := g.clients[cid].props
	if len(props) != 1 || len(props["room"]) != rpc.MaxFilterPropLen || len(g.index) != 1 {
		t.Fatalf("client properties: %d of them, room of %d bytes; index of %d keys", len(props), len(props["room"]), len(g.index))
	}
	delete(g.clients, cid)
}

// TestClampClients: max_clients against the open-file limit.
func TestClampClients(t *testing.T) {
	for _, tc := range []struct {
		max     int
		limit   uint64
		reserve int
		want    int
		fails   bool
	}{
		{50000, 20000, 65, 19935, false},
		{1000, 20000, 65, 1000, false},
		{-1, 20000, 65, 19935, false}, // unlimited: what fits
		{50000, 65 + MinClients, 65, MinClients, false},
		{50000, 65 + MinClients - 1, 65, 0, true},
		{10, 64, 65, 0, true},
	} {
		got, err := clampClients(tc.max, tc.limit, tc.reserve)
		if (err != nil) != tc.fails || (!tc.fails && got != tc.want) {
			t.Errorf("clampClients(%d, %d, %d) = %d, %v", tc.max, tc.limit, tc.reserve, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
			t.Errorf("error does not name the limit: %v", err)
		}
	}
}

// TestFillKeepsUnlimitedAndOff: what New makes of config.Unlimited and
// config.Off. An unlimited max_clients is clamped to what the open-file
// limit leaves (where the process has one: it was left unlimited before
// the tunables moved to config.GateTuning, and accept then failed at the
// limit); unlimited rates become the limiters' 0 (none), bursts stay at
// least 1 (a frame for the bytes), and resume_window = off turns resumes
// off; zeros take config's defaults.
func TestFillKeepsUnlimitedAndOff(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	c := Config{ID: 1, Dispatchers: []string{"127.0.0.1:1"}, Logger: log, GateTuning: config.GateTuning{
		MaxClients: config.Unlimited, ClientMsgRate: config.Unlimited, ClientMsgBurst: config.Unlimited,
		ClientByteRate: config.Unlimited, ClientByteBurst: config.Unlimited, KCPSessionRate: config.Unlimited,
		KCPSessionBurst: config.Unlimited, KCPHelloRate: config.Unlimited, ResumeWindow: config.Off,
	}}
	c.fill()
	if err := c.fitOpenFiles(); err != nil {
		t.Fatal(err)
	}
	if limit, ok := fdlimit.Raise(); ok {
		if want := fdlimit.ClientsFor(limit, FDReserve+1); c.MaxClients != want {
			t.Errorf("MaxClients = %d, want %d (what the open-file limit %d leaves)", c.MaxClients, want, limit)
		}
	} else if c.MaxClients != config.Unlimited {
		t.Errorf("MaxClients = %d without an open-file limit, want Unlimited", c.MaxClients)
	}
	if c.ClientMsgRate != 0 || c.ClientByteRate != 0 || c.KCPSessionRate != 0 || c.KCPHelloRate != 0 {
		t.Errorf("rates %d %d %d %d, want 0 (none)", c.ClientMsgRate, c.ClientByteRate, c.KCPSessionRate, c.KCPHelloRate)
	}
	if c.ClientMsgBurst != 1 || c.KCPSessionBurst != 1 || c.ClientByteBurst != config.DefaultMaxClientPacketSize+rpc.HeaderSize {
		t.Errorf("bursts %d %d %d", c.ClientMsgBurst, c.KCPSessionBurst, c.ClientByteBurst)
	}
	if c.ResumeWindow != 0 || c.ResumeLimit != config.DefaultResumeLimit || c.HeartbeatInterval != config.DefaultHeartbeatInterval {
		t.Errorf("ResumeWindow %v, ResumeLimit %d, HeartbeatInterval %v", c.ResumeWindow, c.ResumeLimit, c.HeartbeatInterval)
	}
}
