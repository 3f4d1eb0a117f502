package storage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/storage"
)

// validDB writes a real database with 300 entities and a key, closes it
// and returns its bytes, its page size and its high-water mark (pages in
// use, from the newer meta page).
func validDB(t *testing.T) (data []byte, pageSize, pages int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	b := openBolt(t, path)
	var recs []storage.EntityRecord
	for i := 0; i < 300; i++ {
		recs = append(recs, storage.EntityRecord{Type: "Avatar", ID: fmt.Sprintf("id%05d", i), Data: bytes.Repeat([]byte{byte(i)}, 400)})
	}
	if err := b.SaveEntities(recs); err != nil {
		t.Fatal(err)
	}
	if err := b.Put("account/alice", []byte("alice's record")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Meta pages: page header (16 bytes), then magic, version, page size
	// (u32 at 24), flags, root (16 bytes), freelist, pgid (u64 at 56),
	// txid (u64 at 64).
	o := binary.NativeEndian
	pageSize = int(o.Uint32(data[24:]))
	m0, m1 := data[:pageSize], data[pageSize:2*pageSize]
	newer := m0
	if o.Uint64(m1[64:]) > o.Uint64(m0[64:]) {
		newer = m1
	}
	pages = int(o.Uint64(newer[56:]))
	if pages < 8 || len(data) < pages*pageSize {
		t.Fatalf("test database: %d bytes, %d pages of %d in use", len(data), pages, pageSize)
	}
	return data, pageSize, pages
}

// checkHasData checks that b holds what validDB wrote.
func checkHasData(t *testing.T, b *storage.Bolt) {
	t.Helper()
	ids, err := b.ListEntities("Avatar")
	if err != nil || len(ids) != 300 {
		t.Fatalf("ListEntities: %d IDs, %v; want 300", len(ids), err)
	}
	if v, err := b.Get("account/alice"); err != nil || string(v) != "alice's record" {
		t.Fatalf("Get: %q, %v", v, err)
	}
}

// TestOpenBoltRefusesDamagedFiles writes damaged database files (empty,
// cut at several points, garbage) and checks that OpenBolt refuses each
// with an error that names the file, says what is wrong and what to do,
// and wraps ErrCorrupt, and that it leaves the file as it was: an empty
// file, in particular, must not become a new database.
func TestOpenBoltRefusesDamagedFiles(t *testing.T) {
	valid, pageSize, pages := validDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "is empty (0 bytes)"},
		{"header only", valid[:64], "too short to be a bbolt database"},
		{"first meta page only", valid[:pageSize], "is truncated"},
		{"both meta pages only", valid[:2*pageSize], "is truncated"},
		{"half", valid[:len(valid)/2], "is truncated"},
		{"half of the pages in use", valid[:pages*pageSize/2], "is truncated"},
		{"one page short", valid[:(pages-1)*pageSize], "is truncated"},
		{"one byte short", valid[:pages*pageSize-1], "is truncated"},
		{"garbage", garbage, "has no valid bbolt header"},
		{"short garbage", garbage[:40], "too short to be a bbolt database"},
		{"both meta pages damaged", append(bytes.Repeat([]byte{0xAB}, 2*pageSize), valid[2*pageSize:]...), "has no valid bbolt header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "goworld.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := storage.OpenBolt(path, nil)
			if err == nil {
				b.Close()
				t.Fatalf("OpenBolt of a damaged file (%d bytes) succeeded", len(tc.data))
			}
			if b != nil {
				t.Fatalf("failed OpenBolt returned %v", b)
			}
			if !errors.Is(err, storage.ErrCorrupt) {
				t.Errorf("error does not wrap ErrCorrupt: %v", err)
			}
			msg := err.Error()
			for _, s := range []string{path, tc.want, "Restore it from a backup", "move it away"} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tc.data) {
				t.Errorf("OpenBolt changed the file: %d bytes before, %d after", len(tc.data), len(after))
			}
			// Through the generic Open too (what a game calls).
			if _, err := storage.Open(storage.TypeBolt, path); !errors.Is(err, storage.ErrCorrupt) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestOpenBoltAcceptsWhatBboltCan: the checks refuse only what is
// damaged. A missing file is a new database; a valid one opens with its
// data; one with its older meta page damaged, or with bytes beyond the
// pages in use cut off (bbolt grows files ahead), opens as bbolt would.
func TestOpenBoltAcceptsWhatBboltCan(t *testing.T) {
	valid, pageSize, pages := validDB(t)
	o := binary.NativeEndian
	older := 0
	if o.Uint64(valid[64:]) > o.Uint64(valid[pageSize+64:]) {
		older = pageSize
	}
	olderDamaged := bytes.Clone(valid)
	olderDamaged[older+70] ^= 0xFF // its txid: the checksum no longer matches
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"valid", valid},
		{"older meta page damaged", olderDamaged},
		{"cut after the pages in use", valid[:pages*pageSize]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "goworld.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			b := openBolt(t, path)
			defer b.Close()
			checkHasData(t, b)
			if err := b.Put("k", []byte("v")); err != nil {
				t.Fatal(err)
			}
		})
	}

	path := filepath.Join(t.TempDir(), "new", "goworld.db")
	b := openBolt(t, path)
	defer b.Close()
	if ids, err := b.ListEntities("Avatar"); err != nil || len(ids) != 0 {
		t.Fatalf("new database: %v, %v", ids, err)
	}
}

// TestOpenBoltDirectory: a directory where the file should be is an error
// naming it, not a crash or a new file inside it.
func TestOpenBoltDirectory(t *testing.T) {
	path := t.TempDir()
	if _, err := storage.OpenBolt(path, nil); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("OpenBolt of a directory: %v", err)
	}
}

// TestDamagedPagesDoNotCrash: with both meta pages valid and every other
// page overwritten with garbage, bbolt panics (on the freelist, a bucket
// page): OpenBolt refuses the file with ErrCorrupt, or, if it opens, every
// call returns (an error wrapping ErrCorrupt where bbolt failed) instead
// of taking the process down. Several garbage patterns, several seeds.
func TestDamagedPagesDoNotCrash(t *testing.T) {
	valid, pageSize, pages := validDB(t)
	for seed := uint64(0); seed < 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			data := bytes.Clone(valid)
			first := 2 * pageSize
			if seed%2 == 1 {
				first = 4 * pageSize // keep the freelist and the first pages
			}
			for i := first; i < pages*pageSize; i++ {
				switch seed % 4 {
				case 0, 1:
					data[i] = byte(rng.Uint32())
				case 2:
					data[i] = 0xFF
				default:
					if rng.IntN(64) == 0 {
						data[i] ^= byte(rng.Uint32())
					}
				}
			}
			path := filepath.Join(t.TempDir(), "goworld.db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := storage.OpenBolt(path, nil)
			if err != nil {
				if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), path) {
					t.Fatalf("OpenBolt: %v, want ErrCorrupt naming the file", err)
				}
				// The refusal let go of the file: restored from a
				// "backup", it opens at once (a lock left behind would
				// make this ErrLocked).
				if err := os.WriteFile(path, valid, 0o600); err != nil {
					t.Fatal(err)
				}
				b, err := storage.OpenBolt(path, &storage.BoltOptions{Timeout: -1})
				if err != nil {
					t.Fatalf("reopening the restored file: %v", err)
				}
				defer b.Close()
				checkHasData(t, b)
				return
			}
			defer b.Close()
			calls := map[string]error{}
			_, calls["ListEntities"] = b.ListEntities("Avatar")
			_, calls["LoadEntity"] = b.LoadEntity("Avatar", "id00150")
			_, calls["Get"] = b.Get("account/alice")
			calls["Put"] = b.Put("account/bob", []byte("x"))
			calls["SaveEntities"] = b.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: "new", Data: []byte("y")}})
			corrupt := 0
			for name, err := range calls {
				switch {
				case errors.Is(err, storage.ErrCorrupt):
					corrupt++
				case err != nil && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("%s: %v, want nil, ErrNotFound or ErrCorrupt", name, err)
				}
			}
			if corrupt == 0 {
				t.Errorf("every page but the metas is damaged, yet no call failed: %v", calls)
			}
		})
	}
}
