package recovered

import (
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func TestRecordLogsABudgetThenASummary(t *testing.T) {
	log, hook := test.NewNullLogger()
	clock := time.Unix(1000, 0)
	l := &Log{now: func() time.Time { return clock }}
	for i := 0; i < Burst+3; i++ {
		l.Record(log, "in a test", "boom", []byte("the stack"), logrus.Fields{"entity": "E1"})
	}
	if got := len(hook.AllEntries()); got != Burst {
		t.Fatalf("%d lines logged for %d panics in one interval, want %d", got, Burst+3, Burst)
	}
	e := hook.AllEntries()[0]
	if e.Level != logrus.ErrorLevel || e.Message != "panic in a test: boom\nthe stack" || e.Data["entity"] != "E1" {
		t.Fatalf("logged %v %q %v", e.Level, e.Message, e.Data)
	}
	clock = clock.Add(Interval)
	l.Record(log, "in a test", "boom", nil, nil)
	entries := hook.AllEntries()
	if len(entries) != Burst+2 || !strings.HasPrefix(entries[Burst].Message, "3 more panics were recovered") {
		t.Fatalf("after the interval: %d lines, the first new one %q; want the summary of 3, then the panic", len(entries), entries[Burst].Message)
	}
	if l.Total() != Burst+4 {
		t.Fatalf("Total %d, want %d", l.Total(), Burst+4)
	}
}

func TestRecordBoundsThePanicValue(t *testing.T) {
	log, hook := test.NewNullLogger()
	var l Log
	l.Record(log, "in a test", strings.Repeat("é", 40000), nil, nil)
	msg := hook.LastEntry().Message
	if len(msg) > maxValue+100 || !strings.Contains(msg, "(80000 bytes)") {
		t.Fatalf("a panic value of 80000 bytes logged as %d bytes: %.200q", len(msg), msg)
	}
}
