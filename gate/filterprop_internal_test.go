package gate

import (
	"io"
	"strings"
	"testing"

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
