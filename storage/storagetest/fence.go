package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/goworld-engine/goworld/storage"
)

// Fencing: every copy of a persistent entity that is made live (a load,
// ClaimEntity; a create, the first save with Epoch 0) takes a new epoch,
// and a save carrying an older epoch than the stored one is refused per
// record with a *storage.FenceError.

// claim claims (typ, id) and returns its data and epoch.
func claim(t *testing.T, b storage.Backend, typ, id string) ([]byte, uint64) {
	t.Helper()
	data, epoch, err := b.ClaimEntity(typ, id)
	ok(t, err, "ClaimEntity(%q, %q)", typ, id)
	if epoch == 0 {
		t.Fatalf("ClaimEntity(%q, %q) returned epoch 0", typ, id)
	}
	return data, epoch
}

// create saves a record with Epoch 0 (a new copy's first save) and
// returns the epoch it claimed.
func create(t *testing.T, b storage.Backend, typ, id string, data []byte) uint64 {
	t.Helper()
	recs := []storage.EntityRecord{{Type: typ, ID: id, Data: data}}
	save(t, b, recs...)
	if recs[0].Epoch == 0 {
		t.Fatalf("SaveEntities of %s<%s> with Epoch 0 did not set the claimed epoch", typ, id)
	}
	return recs[0].Epoch
}

// wantFenced checks that err is a *FenceError naming exactly the given
// records (type/ID) with the given stored epochs.
func wantFenced(t *testing.T, err error, want map[[2]string]uint64) {
	t.Helper()
	if !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("SaveEntities error = %v; want one wrapping storage.ErrFenced", err)
	}
	var fe *storage.FenceError
	if !errors.As(err, &fe) {
		t.Fatalf("SaveEntities error %T (%v) is not a *storage.FenceError", err, err)
	}
	got := map[[2]string]uint64{}
	for _, f := range fe.Fenced {
		got[[2]string{f.Type, f.ID}] = f.Current
		if f.Epoch >= f.Current {
			t.Errorf("fenced record %s<%s>: epoch %d is not older than the stored %d", f.Type, f.ID, f.Epoch, f.Current)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fenced records = %v; want %v", got, want)
	}
}

func (s *suite) testFenceClaim(t *testing.T) {
	b := s.fresh(t)
	if _, _, err := b.ClaimEntity("Avatar", "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ClaimEntity of a missing entity: err = %v; want ErrNotFound", err)
	}
	e0 := create(t, b, "Avatar", "A1", []byte("v1"))
	data, e1 := claim(t, b, "Avatar", "A1")
	if string(data) != "v1" {
		t.Fatalf("ClaimEntity data = %q; want %q", data, "v1")
	}
	if e1 <= e0 {
		t.Fatalf("claim after the create: epoch %d, not above the create's %d", e1, e0)
	}
	_, e2 := claim(t, b, "Avatar", "A1")
	if e2 <= e1 {
		t.Fatalf("second claim: epoch %d, not above %d", e2, e1)
	}
	// LoadEntity is a plain read: it claims nothing, so the newest copy
	// (e2) still saves.
	wantEntity(t, b, "Avatar", "A1", []byte("v1"))
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("v2 by e2"), Epoch: e2})
	wantEntity(t, b, "Avatar", "A1", []byte("v2 by e2"))
	// The copies of e0 and e1 are stale.
	for _, stale := range []uint64{e0, e1} {
		err := b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: []byte("stale"), Epoch: stale}})
		wantFenced(t, err, map[[2]string]uint64{{"Avatar", "A1"}: e2})
	}
	wantEntity(t, b, "Avatar", "A1", []byte("v2 by e2"))
	// A claim of a missing entity took nothing: the type's other IDs and
	// other types are apart.
	create(t, b, "Monster", "A1", []byte("m"))
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("v3 by e2"), Epoch: e2})
}

// testFenceRetry: a save retried with the same epoch (after a lost reply,
// the first try applied) is not fenced by its own first try.
func (s *suite) testFenceRetry(t *testing.T) {
	b := s.fresh(t)
	create(t, b, "Avatar", "A1", []byte("v1"))
	_, e := claim(t, b, "Avatar", "A1")
	rec := storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("v2"), Epoch: e}
	for i := range 3 {
		recs := []storage.EntityRecord{rec}
		ok(t, b.SaveEntities(recs), "save %d with the same epoch", i)
		if recs[0].Epoch != e {
			t.Fatalf("save with epoch %d set the record's epoch to %d", e, recs[0].Epoch)
		}
	}
	wantEntity(t, b, "Avatar", "A1", []byte("v2"))
	// A create's save retried (Epoch 0 again) claims again: not fenced.
	e1 := create(t, b, "Avatar", "N1", []byte("new"))
	e2 := create(t, b, "Avatar", "N1", []byte("new"))
	if e2 <= e1 {
		t.Fatalf("retried create: epoch %d, not above %d", e2, e1)
	}
}

// testFenceMixedBatch: a batch with fenced and good records stores the
// good ones and names only the fenced ones.
func (s *suite) testFenceMixedBatch(t *testing.T) {
	b := s.fresh(t)
	create(t, b, "Avatar", "good", []byte("g1"))
	create(t, b, "Avatar", "stale", []byte("s1"))
	create(t, b, "Monster", "stale", []byte("m1"))
	_, eg := claim(t, b, "Avatar", "good")
	_, es := claim(t, b, "Avatar", "stale")
	_, em := claim(t, b, "Monster", "stale")
	_, es2 := claim(t, b, "Avatar", "stale") // another copy elsewhere
	_, em2 := claim(t, b, "Monster", "stale")
	recs := []storage.EntityRecord{
		{Type: "Avatar", ID: "stale", Data: []byte("s2"), Epoch: es},
		{Type: "Avatar", ID: "good", Data: []byte("g2"), Epoch: eg},
		{Type: "Avatar", ID: "new", Data: []byte("n1")},
		{Type: "Monster", ID: "stale", Data: []byte("m2"), Epoch: em},
	}
	err := b.SaveEntities(recs)
	wantFenced(t, err, map[[2]string]uint64{{"Avatar", "stale"}: es2, {"Monster", "stale"}: em2})
	wantEntity(t, b, "Avatar", "good", []byte("g2"))
	wantEntity(t, b, "Avatar", "new", []byte("n1"))
	wantEntity(t, b, "Avatar", "stale", []byte("s1"))
	wantEntity(t, b, "Monster", "stale", []byte("m1"))
	if recs[2].Epoch == 0 {
		t.Fatal("the batch's create (Epoch 0) was stored but its claimed epoch not set")
	}
	if recs[1].Epoch != eg {
		t.Fatalf("a stored record's epoch changed from %d to %d", eg, recs[1].Epoch)
	}
	// The good copy keeps saving; the created one with its claimed epoch.
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "good", Data: []byte("g3"), Epoch: eg},
		storage.EntityRecord{Type: "Avatar", ID: "new", Data: []byte("n2"), Epoch: recs[2].Epoch})
	wantEntity(t, b, "Avatar", "new", []byte("n2"))
}

// testFenceCreateOverExisting: a create (Epoch 0) of an ID that exists
// replaces it and fences every copy claimed before.
func (s *suite) testFenceCreateOverExisting(t *testing.T) {
	b := s.fresh(t)
	create(t, b, "Avatar", "A1", []byte("old"))
	_, e := claim(t, b, "Avatar", "A1")
	ec := create(t, b, "Avatar", "A1", []byte("created again"))
	if ec <= e {
		t.Fatalf("create over a claimed entity: epoch %d, not above %d", ec, e)
	}
	err := b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: []byte("from the old copy"), Epoch: e}})
	wantFenced(t, err, map[[2]string]uint64{{"Avatar", "A1"}: ec})
	wantEntity(t, b, "Avatar", "A1", []byte("created again"))
}

// testFenceDelete: a deleted entity cannot be saved back by a copy live
// before the delete; a new create of the ID can.
func (s *suite) testFenceDelete(t *testing.T) {
	b := s.fresh(t)
	create(t, b, "Avatar", "A1", []byte("v1"))
	_, e := claim(t, b, "Avatar", "A1")
	ok(t, b.DeleteEntity("Avatar", "A1"), "DeleteEntity")
	err := b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: []byte("resurrected"), Epoch: e}})
	if !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("save by a copy live before the delete: err = %v; want ErrFenced", err)
	}
	wantNoEntity(t, b, "Avatar", "A1")
	if _, _, err := b.ClaimEntity("Avatar", "A1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ClaimEntity after delete: err = %v; want ErrNotFound", err)
	}
	ec := create(t, b, "Avatar", "A1", []byte("v2"))
	if ec <= e {
		t.Fatalf("create after delete: epoch %d, not above %d", ec, e)
	}
	wantEntity(t, b, "Avatar", "A1", []byte("v2"))
	wantList(t, b, "Avatar", []string{"A1"})
}

// testFenceReopen: epochs survive a close and reopen.
func (s *suite) testFenceReopen(t *testing.T) {
	dir := t.TempDir()
	b1 := s.open(t, dir)
	create(t, b1, "Avatar", "A1", []byte("v1"))
	_, e1 := claim(t, b1, "Avatar", "A1")
	_, e2 := claim(t, b1, "Avatar", "A1")
	ok(t, b1.Close(), "Close")
	b2 := s.open(t, dir)
	err := b2.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: []byte("stale"), Epoch: e1}})
	wantFenced(t, err, map[[2]string]uint64{{"Avatar", "A1"}: e2})
	save(t, b2, storage.EntityRecord{Type: "Avatar", ID: "A1", Data: []byte("v2"), Epoch: e2})
	_, e3 := claim(t, b2, "Avatar", "A1")
	if e3 <= e2 {
		t.Fatalf("claim after reopen: epoch %d, not above %d", e3, e2)
	}
	wantEntity(t, b2, "Avatar", "A1", []byte("v2"))
}

// testFenceClaimRace: claims racing from many goroutines each get a
// distinct epoch, and only the last one's copy can save.
func (s *suite) testFenceClaimRace(t *testing.T) {
	b := s.fresh(t)
	create(t, b, "Avatar", "A1", []byte("v1"))
	const n = 16
	epochs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, epochs[i], errs[i] = b.ClaimEntity("Avatar", "A1")
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	var newest uint64
	for i := range n {
		ok(t, errs[i], "ClaimEntity %d", i)
		if seen[epochs[i]] {
			t.Fatalf("two claims got epoch %d: %v", epochs[i], epochs)
		}
		seen[epochs[i]] = true
		newest = max(newest, epochs[i])
	}
	for _, e := range epochs {
		err := b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "A1", Data: []byte(fmt.Sprint(e)), Epoch: e}})
		if e == newest {
			ok(t, err, "save by the newest claim")
		} else if !errors.Is(err, storage.ErrFenced) {
			t.Fatalf("save by claim %d (newest %d): err = %v; want ErrFenced", e, newest, err)
		}
	}
	wantEntity(t, b, "Avatar", "A1", []byte(fmt.Sprint(newest)))
}

// testFenceArguments: ClaimEntity checks its arguments and fails after
// Close like every method.
func (s *suite) testFenceArguments(t *testing.T) {
	b := s.fresh(t)
	for _, c := range [][2]string{{"", "x"}, {"Avatar", ""}} {
		if _, _, err := b.ClaimEntity(c[0], c[1]); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("ClaimEntity(%q, %q): err = %v; want ErrInvalidArgument", c[0], c[1], err)
		}
	}
	// An epoch no load can reach is refused, and nothing of the batch
	// is stored.
	err := b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "ok", Data: []byte("x")},
		{Type: "Avatar", ID: "huge", Data: []byte("x"), Epoch: storage.MaxEpoch + 1}})
	if !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("SaveEntities with epoch MaxEpoch+1: err = %v; want ErrInvalidArgument", err)
	}
	wantNoEntity(t, b, "Avatar", "ok")
	save(t, b, storage.EntityRecord{Type: "Avatar", ID: "max", Data: []byte("x"), Epoch: storage.MaxEpoch})
	err = b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "max", Data: []byte("y"), Epoch: storage.MaxEpoch - 1}})
	wantFenced(t, err, map[[2]string]uint64{{"Avatar", "max"}: storage.MaxEpoch})
	ok(t, b.Close(), "Close")
	if _, _, err := b.ClaimEntity("Avatar", "x"); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("ClaimEntity after Close: err = %v; want ErrClosed", err)
	}
}
