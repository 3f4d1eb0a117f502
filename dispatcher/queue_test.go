package dispatcher

import (
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// TestFrameQueueBudget checks the one bounded queue the dispatcher holds
// frames in: frames kept in order within the budget, refusals counted,
// bytes given back by take, and a budget shared by several queues (as a
// recovery's are) bounding their sum.
func TestFrameQueueBudget(t *testing.T) {
	q := newQueue(3 * (rpc.HeaderSize + 4))
	for i, body := range []string{"aaaa", "bbbb", "cccc"} {
		if !q.add(rpc.MsgClientCall, []byte(body)) {
			t.Fatalf("frame %d refused within the budget", i)
		}
	}
	if q.add(rpc.MsgClientCall, []byte("d")) {
		t.Fatal("a frame over the budget was kept")
	}
	if q.budget.dropped != 1 || !q.budget.shouldLog() {
		t.Fatalf("dropped %d, shouldLog %v; want 1, true", q.budget.dropped, q.budget.shouldLog())
	}
	var got []string
	if err := eachFrame(q.take(), func(typ rpc.MsgType, body []byte) {
		if typ != rpc.MsgClientCall {
			t.Errorf("type %v", typ)
		}
		got = append(got, string(body))
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "aaaa" || got[2] != "cccc" {
		t.Fatalf("frames %q", got)
	}
	if q.budget.used != 0 || q.size() != 0 {
		t.Fatalf("after take: used %d, size %d", q.budget.used, q.size())
	}

	shared := &budget{limit: 2 * (rpc.HeaderSize + 1)}
	a, b := frameQueue{budget: shared}, frameQueue{budget: shared}
	if !a.add(1, []byte("x")) || !b.add(1, []byte("y")) || a.add(1, []byte("z")) || b.add(1, []byte("z")) {
		t.Fatal("a shared budget does not bound the sum of its queues")
	}
	a.take()
	if !b.add(1, []byte("z")) {
		t.Fatal("take did not give the bytes back to the shared budget")
	}

	if err := eachFrame([]byte{9, 0, 0, 0, 1}, func(rpc.MsgType, []byte) {}); err == nil {
		t.Fatal("a truncated frame parsed")
	}
}
