// Package storagetest is a conformance suite for storage.Backend
// implementations.
//
// Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.Factory{
//			Open: func(t *testing.T, dir string) storage.Backend {
//				b, err := storage.OpenBolt(filepath.Join(dir, "test.db"), nil)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return b
//			},
//		})
//	}
//
// Run the suite with -race: several subtests exercise concurrent use.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/storage"
)

// Factory tells the suite how to open the backend under test.
type Factory struct {
	// Open opens a backend whose data lives in dir, failing t (t.Fatal) if
	// it cannot. The suite gives each subtest a fresh directory it owns; a
	// backend opened on a directory not seen before must be empty. The suite
	// may close a backend and call Open again with the same dir: the new
	// backend must then hold the data written through the old one. Backends
	// that do not keep files (a network server, say) can use dir as a
	// namespace. The suite closes every backend it opens.
	Open func(t *testing.T, dir string) storage.Backend
}

// Run runs the conformance suite as subtests of t. Subtests run one after
// another, never in parallel with each other.
func Run(t *testing.T, f Factory) {
	t.Helper()
	if f.Open == nil {
		t.Fatal("storagetest: Factory.Open is nil")
	}
	s := &suite{f: f}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"EntityRoundTrip", s.testEntityRoundTrip},
		{"EntityCopies", s.testEntityCopies},
		{"EntityEmptyData", s.testEntityEmptyData},
		{"EntityBatch", s.testEntityBatch},
		{"EntityBatchAtomic", s.testEntityBatchAtomic},
		{"EntityBatchDuplicates", s.testEntityBatchDuplicates},
		{"EntityEmptyBatch", s.testEntityEmptyBatch},
		{"EntityLoadMissing", s.testEntityLoadMissing},
		{"EntityOverwrite", s.testEntityOverwrite},
		{"EntityDelete", s.testEntityDelete},
		{"EntityListSortedAndIsolated", s.testEntityList},
		{"KVBasic", s.testKVBasic},
		{"KVCopies", s.testKVCopies},
		{"KVEmptyValue", s.testKVEmptyValue},
		{"KVAndEntitiesIsolated", s.testKVEntityIsolation},
		{"PutIfAbsent", s.testPutIfAbsent},
		{"PutIfAbsentRace", s.testPutIfAbsentRace},
		{"LargeValues", s.testLargeValues},
		{"BinaryData", s.testBinaryData},
		{"InvalidArguments", s.testInvalidArguments},
		{"Closed", s.testClosed},
		{"Reopen", s.testReopen},
		{"ConcurrentMixed", s.testConcurrentMixed},
		{"ConcurrentClose", s.testConcurrentClose},
		{"FenceClaim", s.testFenceClaim},
		{"FenceRetry", s.testFenceRetry},
		{"FenceMixedBatch", s.testFenceMixedBatch},
		{"FenceCreateOverExisting", s.testFenceCreateOverExisting},
		{"FenceDelete", s.testFenceDelete},
		{"FenceReopen", s.testFenceReopen},
		{"FenceClaimRace", s.testFenceClaimRace},
		{"FenceArguments", s.testFenceArguments},
		{"MailboxOrder", s.testMailboxOrder},
		{"MailboxFull", s.testMailboxFull},
		{"MailboxEntities", s.testMailboxEntities},
		{"MailboxReopen", s.testMailboxReopen},
		{"MailboxArguments", s.testMailboxArguments},
		{"MailboxRace", s.testMailboxRace},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	f Factory
}

// open opens a backend on dir and closes it when the test ends.
func (s *suite) open(t *testing.T, dir string) storage.Backend {
	t.Helper()
	b := s.f.Open(t, dir)
	if b == nil {
		t.Fatal("storagetest: Factory.Open returned nil")
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// fresh opens an empty backend in a new directory.
func (s *suite) fresh(t *testing.T) storage.Backend {
	t.Helper()
	return s.open(t, t.TempDir())
}

func ok(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprintf(what, args...), err)
	}
}

func save(t *testing.T, b storage.Backend, recs ...storage.EntityRecord) {
	t.Helper()
	ok(t, b.SaveEntities(recs), "SaveEntities(%d records)", len(recs))
}

func wantEntity(t *testing.T, b storage.Backend, typ, id string, want []byte) {
	t.Helper()
	got, err := b.LoadEntity(typ, id)
	ok(t, err, "LoadEntity(%q, %q)", typ, id)
	if !bytes.Equal(got, want) {
		t.Fatalf("LoadEntity(%q, %q) = %s, want %s", typ, id, short(got), short(want))
	}
}

func wantNoEntity(t *testing.T, b storage.Backend, typ, id string) {
	t.Helper()
	got, err := b.LoadEntity(typ, id)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LoadEntity(%q, %q) = %s, %v; want error wrapping ErrNotFound", typ, id, short(got), err)
	}
}

func wantKV(t *testing.T, b storage.Backend, key string, want []byte) {
	t.Helper()
	got, err := b.Get(key)
	ok(t, err, "Get(%q)", key)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, short(got), short(want))
	}
}

func wantNoKV(t *testing.T, b storage.Backend, key string) {
	t.Helper()
	got, err := b.Get(key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = %s, %v; want error wrapping ErrNotFound", key, short(got), err)
	}
}

func wantList(t *testing.T, b storage.Backend, typ string, want []string) {
	t.Helper()
	got, err := b.ListEntities(typ)
	ok(t, err, "ListEntities(%q)", typ)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListEntities(%q) = %q, want %q", typ, got, want)
	}
}

// short formats a byte slice for failure messages without dumping megabytes.
func short(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) <= 64 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:64], len(b))
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (s *suite) testEntityRoundTrip(t *testing.T) {
	b := s.fresh(t)
	data := []byte("\x82\xa4name\xa5alice\xa5level\x07") // msgpack-like
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: data})
	wantEntity(t, b, "Avatar", "A1", data)
	wantList(t, b, "Avatar", []string{"A1"})
}

// testEntityCopies checks that the store neither keeps the caller's slices
// nor hands out slices it keeps.
func (s *suite) testEntityCopies(t *testing.T) {
	b := s.fresh(t)
	data := []byte("original")
	recs := []storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: data}}
	save(t, b, recs...)
	copy(data, "MUTATED!")
	wantEntity(t, b, "Avatar", "A1", []byte("original"))

	got, err := b.LoadEntity("Avatar", "A1")
	ok(t, err, "LoadEntity")
	for i := range got {
		got[i] = 'x'
	}
	wantEntity(t, b, "Avatar", "A1", []byte("original"))

	// Values must stay valid after later writes (a backend handing out views
	// into its own memory would see them change or be unmapped).
	first, err := b.LoadEntity("Avatar", "A1")
	ok(t, err, "LoadEntity")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: randBytes(r, 4096)},
			storage.EntityRecord{Type: "Filler", ID: fmt.Sprint(i), Data: randBytes(r, 64<<10)})
	}
	if string(first) != "original" {
		t.Fatalf("slice returned by LoadEntity changed after later writes: %s", short(first))
	}
}

func (s *suite) testEntityEmptyData(t *testing.T) {
	b := s.fresh(t)
	save(t, b,
		storage.EntityRecord{Type: "Avatar", ID: "nil", Data: nil},
		storage.EntityRecord{Type: "Avatar", ID: "empty", Data: []byte{}},
	)
	for _, id := range []string{"nil", "empty"} {
		got, err := b.LoadEntity("Avatar", id)
		ok(t, err, "LoadEntity(%q) of an entity saved with empty data", id)
		if len(got) != 0 {
			t.Fatalf("LoadEntity(%q) = %s, want empty", id, short(got))
		}
	}
	wantList(t, b, "Avatar", []string{"empty", "nil"})
}

func (s *suite) testEntityBatch(t *testing.T) {
	b := s.fresh(t)
	types := []string{"Avatar", "Monster", "Guild"}
	var recs []storage.EntityRecord
	want := map[string][]string{}
	for i := range 1000 {
		typ := types[i%len(types)]
		id := fmt.Sprintf("id-%04d", i)
		recs = append(recs, storage.EntityRecord{Type: typ, ID: id, Data: []byte("data-" + id)})
		want[typ] = append(want[typ], id)
	}
	save(t, b, recs...)
	for _, r := range recs {
		wantEntity(t, b, r.Type, r.ID, r.Data)
	}
	for _, typ := range types {
		wantList(t, b, typ, want[typ]) // generated in sorted order
	}
}

// testEntityBatchAtomic checks the observable part of batch atomicity: a
// batch rejected because of one bad record stores none of its records and
// leaves existing entities untouched.
func (s *suite) testEntityBatchAtomic(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "old", Data: []byte("v1")})

	for _, bad := range []storage.EntityRecord{
		{Type: "Avatar", ID: "", Data: []byte("bad")},
		{Type: "", ID: "x", Data: []byte("bad")},
	} {
		batch := []storage.EntityRecord{
			{Type: "Avatar", ID: "old", Data: []byte("v2")},
			{Type: "Avatar", ID: "new1", Data: []byte("n1")},
			{Type: "Monster", ID: "new2", Data: []byte("n2")},
			bad,
			{Type: "Avatar", ID: "new3", Data: []byte("n3")},
		}
		if err := b.SaveEntities(batch); err == nil {
			t.Fatalf("SaveEntities with invalid record %+v succeeded", bad)
		}
		wantEntity(t, b, "Avatar", "old", []byte("v1"))
		wantNoEntity(t, b, "Avatar", "new1")
		wantNoEntity(t, b, "Monster", "new2")
		wantNoEntity(t, b, "Avatar", "new3")
		wantList(t, b, "Avatar", []string{"old"})
		wantList(t, b, "Monster", nil)
	}
}

func (s *suite) testEntityBatchDuplicates(t *testing.T) {
	b := s.fresh(t)
	save(t, b,
		storage.EntityRecord{Type: "Avatar", ID: "A", Data: []byte("first")},
		storage.EntityRecord{Type: "Avatar", ID: "B", Data: []byte("b")},
		storage.EntityRecord{Type: "Avatar", ID: "A", Data: []byte("last")},
	)
	wantEntity(t, b, "Avatar", "A", []byte("last"))
	wantList(t, b, "Avatar", []string{"A", "B"})
}

func (s *suite) testEntityEmptyBatch(t *testing.T) {
	b := s.fresh(t)
	ok(t, b.SaveEntities(nil), "SaveEntities(nil)")
	ok(t, b.SaveEntities([]storage.EntityRecord{}), "SaveEntities(empty)")
}

func (s *suite) testEntityLoadMissing(t *testing.T) {
	b := s.fresh(t)
	wantNoEntity(t, b, "Avatar", "nobody") // unknown type
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "somebody", Data: []byte("x")})
	wantNoEntity(t, b, "Avatar", "nobody") // known type, unknown ID
	wantNoEntity(t, b, "Monster", "somebody")
}

func (s *suite) testEntityOverwrite(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("a much longer first version")})
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("v2")})
	wantEntity(t, b, "Avatar", "A1", []byte("v2"))
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("third, longer again")})
	wantEntity(t, b, "Avatar", "A1", []byte("third, longer again"))
	wantList(t, b, "Avatar", []string{"A1"})
}

func (s *suite) testEntityDelete(t *testing.T) {
	b := s.fresh(t)
	ok(t, b.DeleteEntity("Avatar", "A1"), "DeleteEntity of an unknown type")
	save(t, b,
		storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("1")},
		storage.EntityRecord{Type: "Avatar", ID: "A2", Data: []byte("2")},
		storage.EntityRecord{Type: "Monster", ID: "A1", Data: []byte("m")},
	)
	ok(t, b.DeleteEntity("Avatar", "A1"), "DeleteEntity")
	wantNoEntity(t, b, "Avatar", "A1")
	wantEntity(t, b, "Avatar", "A2", []byte("2"))
	wantEntity(t, b, "Monster", "A1", []byte("m"))
	wantList(t, b, "Avatar", []string{"A2"})
	ok(t, b.DeleteEntity("Avatar", "A1"), "DeleteEntity of a deleted entity")
	ok(t, b.DeleteEntity("Avatar", "never"), "DeleteEntity of a missing entity")

	ok(t, b.DeleteEntity("Avatar", "A2"), "DeleteEntity")
	wantList(t, b, "Avatar", nil)
	// The type can be used again after it was emptied.
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("again")})
	wantEntity(t, b, "Avatar", "A1", []byte("again"))
}

func (s *suite) testEntityList(t *testing.T) {
	b := s.fresh(t)
	ids, err := b.ListEntities("Avatar")
	ok(t, err, "ListEntities of an unknown type")
	if len(ids) != 0 {
		t.Fatalf("ListEntities of an unknown type = %q, want empty", ids)
	}

	r := rand.New(rand.NewPCG(3, 4))
	wantA := []string{"0", "10", "9", "A", "B", "a", "a0", "ab", "b", "\xff"} // byte order
	wantM := []string{"m1", "m2", "m3"}
	var recs []storage.EntityRecord
	for _, id := range wantA {
		recs = append(recs, storage.EntityRecord{Type: "Avatar", ID: id, Data: []byte("a")})
	}
	for _, id := range wantM {
		recs = append(recs, storage.EntityRecord{Type: "Monster", ID: id, Data: []byte("m")})
	}
	// "Avatar2" and "Avata" share prefixes with "Avatar": still other types.
	recs = append(recs,
		storage.EntityRecord{Type: "Avatar2", ID: "x", Data: []byte("x")},
		storage.EntityRecord{Type: "Avata", ID: "y", Data: []byte("y")},
	)
	r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	// Save in several batches to mix insertion order further.
	for len(recs) > 0 {
		n := min(len(recs), 1+r.IntN(4))
		save(t, b, recs[:n]...)
		recs = recs[n:]
	}
	if !sort.StringsAreSorted(wantA) {
		t.Fatal("storagetest: bad test data")
	}
	wantList(t, b, "Avatar", wantA)
	wantList(t, b, "Monster", wantM)
	wantList(t, b, "Avatar2", []string{"x"})
	wantList(t, b, "Avata", []string{"y"})
	wantList(t, b, "Guild", nil)

	got, err := b.ListEntities("Avatar")
	ok(t, err, "ListEntities")
	got[0] = "mutated"
	wantList(t, b, "Avatar", wantA)
}

func (s *suite) testKVBasic(t *testing.T) {
	b := s.fresh(t)
	wantNoKV(t, b, "account/alice")
	ok(t, b.Put("account/alice", []byte("avatar-1")), "Put")
	wantKV(t, b, "account/alice", []byte("avatar-1"))
	ok(t, b.Put("account/alice", []byte("avatar-2-longer")), "Put overwrite")
	wantKV(t, b, "account/alice", []byte("avatar-2-longer"))
	ok(t, b.Put("account/bob", []byte("avatar-3")), "Put")
	ok(t, b.Delete("account/alice"), "Delete")
	wantNoKV(t, b, "account/alice")
	wantKV(t, b, "account/bob", []byte("avatar-3"))
	ok(t, b.Delete("account/alice"), "Delete of a deleted key")
	ok(t, b.Delete("never"), "Delete of a missing key")
	ok(t, b.Put("account/alice", []byte("back")), "Put after Delete")
	wantKV(t, b, "account/alice", []byte("back"))
}

func (s *suite) testKVCopies(t *testing.T) {
	b := s.fresh(t)
	v := []byte("value")
	ok(t, b.Put("k", v), "Put")
	copy(v, "XXXXX")
	wantKV(t, b, "k", []byte("value"))

	got, err := b.Get("k")
	ok(t, err, "Get")
	copy(got, "YYYYY")
	wantKV(t, b, "k", []byte("value"))

	_, existing, err := b.PutIfAbsent("k", []byte("other"))
	ok(t, err, "PutIfAbsent")
	copy(existing, "ZZZZZ")
	wantKV(t, b, "k", []byte("value"))

	v2 := []byte("fresh")
	stored, _, err := b.PutIfAbsent("k2", v2)
	ok(t, err, "PutIfAbsent")
	if !stored {
		t.Fatal("PutIfAbsent on a new key did not store")
	}
	copy(v2, "WWWWW")
	wantKV(t, b, "k2", []byte("fresh"))
}

func (s *suite) testKVEmptyValue(t *testing.T) {
	b := s.fresh(t)
	for _, v := range [][]byte{nil, {}} {
		ok(t, b.Put("empty", v), "Put of an empty value")
		got, err := b.Get("empty")
		ok(t, err, "Get of a key holding an empty value (empty is not absent)")
		if len(got) != 0 {
			t.Fatalf("Get = %s, want empty", short(got))
		}
		stored, existing, err := b.PutIfAbsent("empty", []byte("x"))
		ok(t, err, "PutIfAbsent")
		if stored || len(existing) != 0 {
			t.Fatalf("PutIfAbsent on a key holding an empty value = %v, %s; want false, empty", stored, short(existing))
		}
		ok(t, b.Delete("empty"), "Delete")
	}
	stored, _, err := b.PutIfAbsent("e2", nil)
	ok(t, err, "PutIfAbsent of an empty value")
	if !stored {
		t.Fatal("PutIfAbsent of an empty value on a new key did not store")
	}
	stored, existing, err := b.PutIfAbsent("e2", []byte("x"))
	ok(t, err, "PutIfAbsent")
	if stored || len(existing) != 0 {
		t.Fatalf("PutIfAbsent = %v, %s; want false, empty", stored, short(existing))
	}
}

func (s *suite) testKVEntityIsolation(t *testing.T) {
	b := s.fresh(t)
	// Names that could collide with a naive key layout.
	save(t, b,
		storage.EntityRecord{Type: "kv", ID: "k", Data: []byte("entity kv/k")},
		storage.EntityRecord{Type: "Avatar", ID: "k", Data: []byte("entity Avatar/k")},
	)
	ok(t, b.Put("k", []byte("kv k")), "Put")
	ok(t, b.Put("Avatar", []byte("kv Avatar")), "Put")
	ok(t, b.Put("e/Avatar", []byte("kv e/Avatar")), "Put")
	ok(t, b.Put("Avatar/k", []byte("kv Avatar/k")), "Put")
	wantEntity(t, b, "kv", "k", []byte("entity kv/k"))
	wantEntity(t, b, "Avatar", "k", []byte("entity Avatar/k"))
	wantKV(t, b, "k", []byte("kv k"))
	wantList(t, b, "Avatar", []string{"k"})
	wantList(t, b, "kv", []string{"k"})

	ok(t, b.Delete("k"), "Delete")
	wantEntity(t, b, "kv", "k", []byte("entity kv/k"))
	ok(t, b.DeleteEntity("Avatar", "k"), "DeleteEntity")
	wantKV(t, b, "Avatar/k", []byte("kv Avatar/k"))
	wantKV(t, b, "e/Avatar", []byte("kv e/Avatar"))
}

func (s *suite) testPutIfAbsent(t *testing.T) {
	b := s.fresh(t)
	stored, existing, err := b.PutIfAbsent("name/alice", []byte("A1"))
	ok(t, err, "PutIfAbsent")
	if !stored || existing != nil {
		t.Fatalf("first PutIfAbsent = %v, %s; want true, nil", stored, short(existing))
	}
	stored, existing, err = b.PutIfAbsent("name/alice", []byte("A2"))
	ok(t, err, "PutIfAbsent")
	if stored || string(existing) != "A1" {
		t.Fatalf("second PutIfAbsent = %v, %s; want false, \"A1\"", stored, short(existing))
	}
	wantKV(t, b, "name/alice", []byte("A1"))

	ok(t, b.Put("name/bob", []byte("B1")), "Put")
	stored, existing, err = b.PutIfAbsent("name/bob", []byte("B2"))
	ok(t, err, "PutIfAbsent")
	if stored || string(existing) != "B1" {
		t.Fatalf("PutIfAbsent over Put = %v, %s; want false, \"B1\"", stored, short(existing))
	}

	ok(t, b.Delete("name/alice"), "Delete")
	stored, _, err = b.PutIfAbsent("name/alice", []byte("A3"))
	ok(t, err, "PutIfAbsent")
	if !stored {
		t.Fatal("PutIfAbsent after Delete did not store")
	}
	wantKV(t, b, "name/alice", []byte("A3"))
}

// testPutIfAbsentRace races many goroutines on one key, several times.
func (s *suite) testPutIfAbsentRace(t *testing.T) {
	b := s.fresh(t)
	const (
		rounds  = 5
		racers  = 50
		prelude = "only the winner's value: "
	)
	for round := range rounds {
		key := fmt.Sprintf("account/contested-%d", round)
		type result struct {
			stored   bool
			existing []byte
			err      error
		}
		results := make([]result, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				st, ex, err := b.PutIfAbsent(key, []byte(fmt.Sprintf("%s%d", prelude, i)))
				results[i] = result{st, ex, err}
			}()
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, r := range results {
			ok(t, r.err, "round %d: racer %d: PutIfAbsent", round, i)
			if r.stored {
				if winner >= 0 {
					t.Fatalf("round %d: racers %d and %d both stored", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no racer stored", round)
		}
		want := []byte(fmt.Sprintf("%s%d", prelude, winner))
		for i, r := range results {
			if i != winner && !bytes.Equal(r.existing, want) {
				t.Fatalf("round %d: racer %d saw existing %s, want the winner's %s", round, i, short(r.existing), short(want))
			}
		}
		wantKV(t, b, key, want)
	}
}

func (s *suite) testLargeValues(t *testing.T) {
	b := s.fresh(t)
	r := rand.New(rand.NewPCG(5, 6))
	big := randBytes(r, 1<<20)
	big2 := randBytes(r, 1<<20+17)

	save(t, b,
		storage.EntityRecord{Type: "Avatar", ID: "big", Data: big},
		storage.EntityRecord{Type: "Avatar", ID: "big2", Data: big2},
		storage.EntityRecord{Type: "Avatar", ID: "small", Data: []byte("s")},
	)
	wantEntity(t, b, "Avatar", "big", big)
	wantEntity(t, b, "Avatar", "big2", big2)
	wantEntity(t, b, "Avatar", "small", []byte("s"))

	ok(t, b.Put("big", big), "Put 1 MiB")
	wantKV(t, b, "big", big)
	stored, existing, err := b.PutIfAbsent("big", []byte("x"))
	ok(t, err, "PutIfAbsent")
	if stored || !bytes.Equal(existing, big) {
		t.Fatalf("PutIfAbsent on a 1 MiB value = %v, %s; want false and the value", stored, short(existing))
	}

	// Shrink and grow again.
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "big", Data: []byte("tiny")})
	wantEntity(t, b, "Avatar", "big", []byte("tiny"))
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "big", Data: big2})
	wantEntity(t, b, "Avatar", "big", big2)
}

func (s *suite) testBinaryData(t *testing.T) {
	b := s.fresh(t)
	keys := []string{"\x00", "\x00\x00", "a", "a\x00", "a\x00b", "\xff\xfe", "\xc3\x28 invalid utf-8", "\n\r\t "}
	for i, k := range keys {
		ok(t, b.Put(k, []byte(fmt.Sprintf("\x00v%d\x00\xff", i))), "Put(%q)", k)
	}
	for i, k := range keys {
		wantKV(t, b, k, []byte(fmt.Sprintf("\x00v%d\x00\xff", i)))
	}
	ok(t, b.Delete("a"), "Delete")
	wantNoKV(t, b, "a")
	wantKV(t, b, "a\x00", []byte("\x00v3\x00\xff"))
	stored, existing, err := b.PutIfAbsent("\x00", []byte("other"))
	ok(t, err, "PutIfAbsent")
	if stored || string(existing) != "\x00v0\x00\xff" {
		t.Fatalf("PutIfAbsent(%q) = %v, %s", "\x00", stored, short(existing))
	}

	typ := "Ty\x00pe"
	var recs []storage.EntityRecord
	for i, id := range keys {
		recs = append(recs, storage.EntityRecord{Type: typ, ID: id, Data: []byte{0, byte(i), 0, 0xff}})
	}
	save(t, b, recs...)
	save(t, b, storage.EntityRecord{Type: "Ty", ID: "\x00", Data: []byte("other type")})
	for _, r := range recs {
		wantEntity(t, b, r.Type, r.ID, r.Data)
	}
	want := slices.Clone(keys)
	sort.Strings(want)
	wantList(t, b, typ, want)
	wantList(t, b, "Ty", []string{"\x00"})
}

func (s *suite) testInvalidArguments(t *testing.T) {
	b := s.fresh(t)
	inv := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("%s: error %v, want one wrapping ErrInvalidArgument", what, err)
		}
	}
	inv("SaveEntities with empty type", b.SaveEntities([]storage.EntityRecord{{Type: "", ID: "x", Data: []byte("d")}}))
	inv("SaveEntities with empty ID", b.SaveEntities([]storage.EntityRecord{{Type: "T", ID: "", Data: []byte("d")}}))
	inv("SaveEntities with zero record", b.SaveEntities(make([]storage.EntityRecord, 3)))
	_, err := b.LoadEntity("", "x")
	inv("LoadEntity with empty type", err)
	_, err = b.LoadEntity("T", "")
	inv("LoadEntity with empty ID", err)
	inv("DeleteEntity with empty type", b.DeleteEntity("", "x"))
	inv("DeleteEntity with empty ID", b.DeleteEntity("T", ""))
	_, err = b.ListEntities("")
	inv("ListEntities with empty type", err)
	_, err = b.Get("")
	inv("Get with empty key", err)
	inv("Put with empty key", b.Put("", []byte("v")))
	_, _, err = b.PutIfAbsent("", []byte("v"))
	inv("PutIfAbsent with empty key", err)
	inv("Delete with empty key", b.Delete(""))

	// The backend is still usable.
	save(t, b, storage.EntityRecord{Type: "T", ID: "x", Data: []byte("d")})
	wantEntity(t, b, "T", "x", []byte("d"))
	wantList(t, b, "T", []string{"x"})
}

func (s *suite) testClosed(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("x")})
	ok(t, b.Put("k", []byte("v")), "Put")
	ok(t, b.Close(), "Close")

	closed := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: error %v, want one wrapping ErrClosed", what, err)
		}
	}
	closed("SaveEntities", b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A2", Data: []byte("y")}}))
	closed("SaveEntities(nil)", b.SaveEntities(nil))
	_, err := b.LoadEntity("Avatar", "A1")
	closed("LoadEntity", err)
	closed("DeleteEntity", b.DeleteEntity("Avatar", "A1"))
	_, err = b.ListEntities("Avatar")
	closed("ListEntities", err)
	_, err = b.Get("k")
	closed("Get", err)
	closed("Put", b.Put("k", []byte("v")))
	_, _, err = b.PutIfAbsent("k2", []byte("v"))
	closed("PutIfAbsent", err)
	closed("Delete", b.Delete("k"))
	closed("Close", b.Close())
}

func (s *suite) testReopen(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	big := randBytes(r, 256<<10)

	b1 := s.open(t, dir)
	save(t, b1,
		storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("a1")},
		storage.EntityRecord{Type: "Avatar", ID: "A2", Data: big},
		storage.EntityRecord{Type: "Monster", ID: "M1", Data: []byte("m1")},
		storage.EntityRecord{Type: "Avatar", ID: "gone", Data: []byte("x")},
	)
	ok(t, b1.DeleteEntity("Avatar", "gone"), "DeleteEntity")
	ok(t, b1.Put("account/alice", []byte("A1")), "Put")
	ok(t, b1.Put("gone", []byte("x")), "Put")
	ok(t, b1.Delete("gone"), "Delete")
	ok(t, b1.Close(), "Close")

	b2 := s.open(t, dir)
	wantEntity(t, b2, "Avatar", "A1", []byte("a1"))
	wantEntity(t, b2, "Avatar", "A2", big)
	wantEntity(t, b2, "Monster", "M1", []byte("m1"))
	wantNoEntity(t, b2, "Avatar", "gone")
	wantList(t, b2, "Avatar", []string{"A1", "A2"})
	wantKV(t, b2, "account/alice", []byte("A1"))
	wantNoKV(t, b2, "gone")
	stored, existing, err := b2.PutIfAbsent("account/alice", []byte("A9"))
	ok(t, err, "PutIfAbsent after reopen")
	if stored || string(existing) != "A1" {
		t.Fatalf("PutIfAbsent after reopen = %v, %s; want false, \"A1\"", stored, short(existing))
	}
	// Write again and reopen once more.
	save(t, b2, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("a1 v2")})
	ok(t, b2.Close(), "Close")

	b3 := s.open(t, dir)
	wantEntity(t, b3, "Avatar", "A1", []byte("a1 v2"))
	wantEntity(t, b3, "Avatar", "A2", big)

	// Another directory is another, empty, store.
	other := s.fresh(t)
	wantNoEntity(t, other, "Avatar", "A1")
	wantNoKV(t, other, "account/alice")
}

// testConcurrentMixed runs writers, readers and PutIfAbsent callers at the
// same time and checks the final state. Run with -race.
func (s *suite) testConcurrentMixed(t *testing.T) {
	b := s.fresh(t)
	const (
		workers = 8
		iters   = 60
	)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		winners  = map[string]int{}
		sharedEx = map[string][][]byte{}
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Errorf(format, args...))
		mu.Unlock()
	}
	// Shared entities that everyone reads while worker 0 rewrites them.
	save(t, b, storage.EntityRecord{Type: "Shared", ID: "s", Data: []byte("shared-0")})

	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := fmt.Sprintf("Type%d", w%3)
			for i := range iters {
				id := fmt.Sprintf("w%02d-i%03d", w, i)
				batch := []storage.EntityRecord{
					{Type: typ, ID: id, Data: []byte("v1-" + id)},
					{Type: "Common", ID: id, Data: []byte("c-" + id)},
				}
				if w == 0 {
					batch = append(batch, storage.EntityRecord{Type: "Shared", ID: "s", Data: []byte(fmt.Sprintf("shared-%d", i+1))})
				}
				if err := b.SaveEntities(batch); err != nil {
					fail("worker %d: SaveEntities: %v", w, err)
					return
				}
				if got, err := b.LoadEntity(typ, id); err != nil || string(got) != "v1-"+id {
					fail("worker %d: LoadEntity(%q, %q) = %q, %v", w, typ, id, got, err)
					return
				}
				if got, err := b.LoadEntity("Shared", "s"); err != nil || !bytes.HasPrefix(got, []byte("shared-")) {
					fail("worker %d: LoadEntity(Shared, s) = %q, %v", w, got, err)
					return
				}
				if _, err := b.ListEntities("Common"); err != nil {
					fail("worker %d: ListEntities: %v", w, err)
					return
				}
				if i%3 == 0 {
					if err := b.DeleteEntity("Common", id); err != nil {
						fail("worker %d: DeleteEntity: %v", w, err)
						return
					}
				}
				key := "kv/" + id
				if err := b.Put(key, []byte(id)); err != nil {
					fail("worker %d: Put: %v", w, err)
					return
				}
				if got, err := b.Get(key); err != nil || string(got) != id {
					fail("worker %d: Get(%q) = %q, %v", w, key, got, err)
					return
				}
				if i%2 == 0 {
					if err := b.Delete(key); err != nil {
						fail("worker %d: Delete: %v", w, err)
						return
					}
				}
				shared := fmt.Sprintf("name/%d", i%10)
				stored, existing, err := b.PutIfAbsent(shared, []byte(fmt.Sprint(w)))
				if err != nil {
					fail("worker %d: PutIfAbsent: %v", w, err)
					return
				}
				mu.Lock()
				if stored {
					if prev, dup := winners[shared]; dup {
						errs = append(errs, fmt.Errorf("PutIfAbsent(%q): workers %d and %d both stored", shared, prev, w))
					}
					winners[shared] = w
				} else {
					sharedEx[shared] = append(sharedEx[shared], existing)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Final state.
	var wantCommon []string
	for w := range workers {
		typ := fmt.Sprintf("Type%d", w%3)
		for i := range iters {
			id := fmt.Sprintf("w%02d-i%03d", w, i)
			wantEntity(t, b, typ, id, []byte("v1-"+id))
			if i%3 == 0 {
				wantNoEntity(t, b, "Common", id)
			} else {
				wantEntity(t, b, "Common", id, []byte("c-"+id))
				wantCommon = append(wantCommon, id)
			}
			if i%2 == 0 {
				wantNoKV(t, b, "kv/"+id)
			} else {
				wantKV(t, b, "kv/"+id, []byte(id))
			}
		}
	}
	sort.Strings(wantCommon)
	wantList(t, b, "Common", wantCommon)
	wantEntity(t, b, "Shared", "s", []byte(fmt.Sprintf("shared-%d", iters)))
	for key, w := range winners {
		want := []byte(fmt.Sprint(w))
		wantKV(t, b, key, want)
		for _, ex := range sharedEx[key] {
			if !bytes.Equal(ex, want) {
				t.Fatalf("PutIfAbsent(%q) reported existing %q, winner stored %q", key, ex, want)
			}
		}
	}
	if len(winners) != 10 {
		t.Fatalf("%d shared names were claimed, want 10", len(winners))
	}
}

// testConcurrentClose closes the backend while goroutines use it: every call
// must either work or fail with ErrClosed, and calls after Close returned
// must fail with ErrClosed.
func (s *suite) testConcurrentClose(t *testing.T) {
	b := s.fresh(t)
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A", Data: []byte("a")})
	const workers = 6
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		closed  = make(chan struct{})
		mu      sync.Mutex
		errs    []error
	)
	deadline := time.Now().Add(20 * time.Second)
	for w := range workers {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for i := 0; ; i++ {
				closedBefore := false
				select {
				case <-closed:
					closedBefore = true
				default:
				}
				var err error
				switch (w + i) % 6 {
				case 0:
					err = b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: fmt.Sprint(w, "-", i), Data: []byte("d")}})
				case 1:
					_, err = b.LoadEntity("Avatar", "A")
				case 2:
					_, err = b.ListEntities("Avatar")
				case 3:
					err = b.Put(fmt.Sprint("k", w), []byte("v"))
				case 4:
					_, err = b.Get("missing")
					if errors.Is(err, storage.ErrNotFound) {
						err = nil
					}
				case 5:
					_, _, err = b.PutIfAbsent("claimed", []byte(fmt.Sprint(w)))
				}
				if first {
					first = false
					started.Done()
				}
				switch {
				case errors.Is(err, storage.ErrClosed):
					return
				case err != nil:
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d: op %d during Close: %v (want nil or ErrClosed)", w, (w+i)%6, err))
					mu.Unlock()
					return
				case closedBefore:
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d: op %d succeeded after Close returned", w, (w+i)%6))
					mu.Unlock()
					return
				case time.Now().After(deadline):
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d: never saw ErrClosed", w))
					mu.Unlock()
					return
				}
			}
		}()
	}
	started.Wait()
	time.Sleep(5 * time.Millisecond)
	ok(t, b.Close(), "Close while in use")
	close(closed)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}
