package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/goworld-engine/goworld/storage"
)

// appendMsg appends msg to the mailbox of (typ, id), failing t on an
// error, and checks the count AppendMessage returns.
func appendMsg(t *testing.T, b storage.Backend, typ, id, msg string, limit, wantN int) {
	t.Helper()
	n, err := b.AppendMessage(typ, id, []byte(msg), limit)
	ok(t, err, "AppendMessage(%s, %s, %q)", typ, id, msg)
	if n != wantN {
		t.Fatalf("AppendMessage(%s, %s, %q): %d messages, want %d", typ, id, msg, n, wantN)
	}
}

// wantTake takes the mailbox of (typ, id) and checks its messages.
func wantTake(t *testing.T, b storage.Backend, typ, id string, want ...string) {
	t.Helper()
	got, err := b.TakeMessages(typ, id)
	ok(t, err, "TakeMessages(%s, %s)", typ, id)
	var gs []string
	for _, m := range got {
		gs = append(gs, string(m))
	}
	if strings.Join(gs, "|") != strings.Join(want, "|") || len(gs) != len(want) {
		t.Fatalf("TakeMessages(%s, %s) = %q, want %q", typ, id, gs, want)
	}
}

// testMailboxOrder: messages come back in the order they were appended,
// once; the mailbox is empty after a take.
func (s *suite) testMailboxOrder(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	wantTake(t, b, "Avatar", "A1")
	appendMsg(t, b, "Avatar", "A1", "one", 10, 1)
	appendMsg(t, b, "Avatar", "A1", "", 10, 2)
	appendMsg(t, b, "Avatar", "A1", "three\x00\xff", 10, 3)
	wantTake(t, b, "Avatar", "A1", "one", "", "three\x00\xff")
	wantTake(t, b, "Avatar", "A1")
	appendMsg(t, b, "Avatar", "A1", "four", 10, 1)
	wantTake(t, b, "Avatar", "A1", "four")
	// The mailbox is not the entity: its data is untouched.
	wantEntity(t, b, "Avatar", "A1", []byte("x"))
}

// testMailboxFull: past the limit an append fails with ErrMailboxFull and
// stores nothing; after a take there is room again.
func (s *suite) testMailboxFull(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	for i := range 3 {
		appendMsg(t, b, "Avatar", "A1", fmt.Sprint(i), 3, i+1)
	}
	if _, err := b.AppendMessage("Avatar", "A1", []byte("3"), 3); !errors.Is(err, storage.ErrMailboxFull) {
		t.Fatalf("AppendMessage past the limit: error %v, want one wrapping ErrMailboxFull", err)
	}
	// A larger limit lets it in: the limit is the caller's.
	appendMsg(t, b, "Avatar", "A1", "3", 4, 4)
	wantTake(t, b, "Avatar", "A1", "0", "1", "2", "3")
	appendMsg(t, b, "Avatar", "A1", "again", 3, 1)
}

// testMailboxEntities: an append needs a stored entity; mailboxes of
// different entities and types are apart; deleting an entity deletes its
// mailbox.
func (s *suite) testMailboxEntities(t *testing.T) {
	b := s.fresh(t)
	if _, err := b.AppendMessage("Avatar", "nobody", []byte("m"), 10); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("AppendMessage to a missing entity: error %v, want one wrapping ErrNotFound", err)
	}
	wantTake(t, b, "Avatar", "nobody")
	save(t, b,
		storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")},
		storage.EntityRecord{Type: "Avatar2", ID: "A1", Data: []byte("x")},
		storage.EntityRecord{Type: "Avatar", ID: "A2", Data: []byte("x")},
	)
	appendMsg(t, b, "Avatar", "A1", "a1", 10, 1)
	appendMsg(t, b, "Avatar2", "A1", "a2/1", 10, 1)
	appendMsg(t, b, "Avatar", "A2", "a2", 10, 1)
	wantTake(t, b, "Avatar2", "A1", "a2/1")
	ok(t, b.DeleteEntity("Avatar", "A1"), "DeleteEntity")
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("new")})
	wantTake(t, b, "Avatar", "A1")
	wantTake(t, b, "Avatar", "A2", "a2")
	wantEntity(t, b, "Avatar", "A1", []byte("new"))
}

// testMailboxReopen: messages outlive the backend.
func (s *suite) testMailboxReopen(t *testing.T) {
	dir := t.TempDir()
	b1 := s.open(t, dir)
	save(t, b1, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	appendMsg(t, b1, "Avatar", "A1", "before", 10, 1)
	appendMsg(t, b1, "Avatar", "A1", "close", 10, 2)
	ok(t, b1.Close(), "Close")
	b2 := s.open(t, dir)
	appendMsg(t, b2, "Avatar", "A1", "after", 10, 3)
	wantTake(t, b2, "Avatar", "A1", "before", "close", "after")
}

// testMailboxArguments: bad arguments are refused with ErrInvalidArgument
// and store nothing.
func (s *suite) testMailboxArguments(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	for _, c := range []struct {
		what    string
		typ, id string
		msg     []byte
		limit   int
	}{
		{"empty type", "", "A1", nil, 10},
		{"empty ID", "Avatar", "", nil, 10},
		{"limit 0", "Avatar", "A1", nil, 0},
		{"negative limit", "Avatar", "A1", nil, -1},
		{"limit too large", "Avatar", "A1", nil, storage.MaxMailboxLimit + 1},
		{"message too large", "Avatar", "A1", make([]byte, storage.MaxMailboxMessage+1), 10},
	} {
		if _, err := b.AppendMessage(c.typ, c.id, c.msg, c.limit); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("AppendMessage with %s: error %v, want one wrapping ErrInvalidArgument", c.what, err)
		}
	}
	if _, err := b.TakeMessages("", "A1"); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("TakeMessages with an empty type: error %v, want one wrapping ErrInvalidArgument", err)
	}
	if _, err := b.TakeMessages("Avatar", ""); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("TakeMessages with an empty ID: error %v, want one wrapping ErrInvalidArgument", err)
	}
	big := bytes.Repeat([]byte{0xab}, storage.MaxMailboxMessage)
	appendMsg(t, b, "Avatar", "A1", string(big), 1, 1)
	wantTake(t, b, "Avatar", "A1", string(big))
	ok(t, b.Close(), "Close")
	if _, err := b.AppendMessage("Avatar", "A1", nil, 1); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("AppendMessage after Close: error %v, want one wrapping ErrClosed", err)
	}
	if _, err := b.TakeMessages("Avatar", "A1"); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("TakeMessages after Close: error %v, want one wrapping ErrClosed", err)
	}
}

// testMailboxRace: senders append while a taker takes, concurrently; every
// message is taken exactly once, each sender's in its order, and no
// append gets past the limit.
func (s *suite) testMailboxRace(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	const senders, each, limit = 4, 25, 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		taken    []string
		appended = make([]int, senders)
		errs     []error
		done     = make(chan struct{})
	)
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n, err := b.AppendMessage("Avatar", "A1", []byte(fmt.Sprintf("%d/%03d", w, i)), limit)
				mu.Lock()
				switch {
				case err == nil && (n < 1 || n > limit):
					errs = append(errs, fmt.Errorf("sender %d: %d messages after an append, limit %d", w, n, limit))
				case err == nil:
					appended[w]++
				case !errors.Is(err, storage.ErrMailboxFull):
					errs = append(errs, fmt.Errorf("sender %d: %v", w, err))
				}
				mu.Unlock()
			}
		}()
	}
	var tg sync.WaitGroup
	{
		tg.Add(1)
		go func() {
			defer tg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				m, err := b.TakeMessages("Avatar", "A1")
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("taker: %v", err))
				}
				for _, x := range m {
					taken = append(taken, string(x))
				}
				mu.Unlock()
				if err != nil || i > 100000 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	tg.Wait()
	rest, err := b.TakeMessages("Avatar", "A1")
	ok(t, err, "TakeMessages")
	for _, x := range rest {
		taken = append(taken, string(x))
	}
	for _, e := range errs {
		t.Error(e)
	}
	total := 0
	for _, n := range appended {
		total += n
	}
	if len(taken) != total {
		t.Fatalf("%d messages taken, %d appended", len(taken), total)
	}
	seen := map[string]bool{}
	next := make([]int, senders)
	for _, x := range taken {
		if seen[x] {
			t.Fatalf("message %q taken twice", x)
		}
		seen[x] = true
		var w, i int
		if _, err := fmt.Sscanf(x, "%d/%d", &w, &i); err != nil || w < 0 || w >= senders {
			t.Fatalf("message %q was never sent", x)
		}
		// One taker, so taken is in the order of the mailbox: each
		// sender's messages in the order sent (some refused as full).
		if i < next[w] {
			t.Fatalf("message %q taken after %d/%03d", x, w, next[w]-1)
		}
		next[w] = i + 1
	}
}
