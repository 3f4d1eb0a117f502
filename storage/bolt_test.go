package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/goworld-engine/goworld/storage"
	"github.com/goworld-engine/goworld/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openBolt(t testing.TB, path string) *storage.Bolt {
	t.Helper()
	b, err := storage.OpenBolt(path, nil)
	if err != nil {
		t.Fatalf("OpenBolt(%q): %v", path, err)
	}
	return b
}

func TestBoltConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend {
			return openBolt(t, filepath.Join(dir, "goworld.db"))
		},
	})
}

// TestOpenConformance runs the suite through the generic Open.
func TestOpenConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend {
			b, err := storage.Open("bbolt", filepath.Join(dir, "sub", "goworld.db"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	})
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	b := openBolt(t, path)
	defer b.Close()

	start := time.Now()
	b2, err := storage.OpenBolt(path, &storage.BoltOptions{Timeout: 100 * time.Millisecond})
	if err == nil {
		b2.Close()
		t.Fatal("second OpenBolt of an open file succeeded")
	}
	if b2 != nil {
		t.Fatalf("failed OpenBolt returned non-nil %v", b2)
	}
	if !errors.Is(err, storage.ErrLocked) {
		t.Errorf("error %v does not wrap ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "locked by another process") {
		t.Errorf("error %q does not name the path and say it is locked by another process", msg)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("OpenBolt waited %v with Timeout 100ms", d)
	}

	// No waiting at all with a negative timeout.
	if _, err := storage.OpenBolt(path, &storage.BoltOptions{Timeout: -1}); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("OpenBolt with negative timeout: %v, want ErrLocked", err)
	}

	// The first handle still works, and the file opens once it is closed.
	if err := b.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b3, err := storage.OpenBolt(path, &storage.BoltOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("OpenBolt after Close: %v", err)
	}
	defer b3.Close()
	if v, err := b3.Get("k"); err != nil || string(v) != "v" {
		t.Fatalf("Get after reopen = %q, %v", v, err)
	}
}

func TestBoltCreatesDirAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c", "goworld.db")
	b := openBolt(t, path)
	defer b.Close()
	if b.Path() != path {
		t.Errorf("Path() = %q, want %q", b.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v, want 0600", perm)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := storage.Open("redis", filepath.Join(dir, "x.db")); err == nil || !strings.Contains(err.Error(), "redis") {
		t.Errorf("Open of an unknown type: %v", err)
	}
	if _, err := storage.Open("bbolt", ""); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Errorf("Open with empty path: %v, want ErrInvalidArgument", err)
	}
	// A directory is not a database file.
	if b, err := storage.OpenBolt(dir, nil); err == nil {
		b.Close()
		t.Error("OpenBolt of a directory succeeded")
	}
	// Neither is a file of garbage; this must fail, not panic.
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := storage.OpenBolt(garbage, nil); err == nil {
		b.Close()
		t.Error("OpenBolt of a garbage file succeeded")
	} else if !strings.Contains(err.Error(), garbage) {
		t.Errorf("error %q does not name the path", err)
	}
	// The parent "directory" is a file.
	if _, err := storage.OpenBolt(filepath.Join(garbage, "x.db"), nil); err == nil {
		t.Error("OpenBolt under a file succeeded")
	}
}

// TestBoltLimits checks that inputs bbolt would reject are refused up front
// with ErrInvalidArgument, and that a rejected batch stores nothing.
func TestBoltLimits(t *testing.T) {
	b := openBolt(t, filepath.Join(t.TempDir(), "limits.db"))
	defer b.Close()
	long := strings.Repeat("k", 32769)
	inv := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	inv("Put with a too long key", b.Put(long, []byte("v")))
	_, err := b.Get(long)
	inv("Get with a too long key", err)
	_, _, err = b.PutIfAbsent(long, nil)
	inv("PutIfAbsent with a too long key", err)
	inv("Delete with a too long key", b.Delete(long))
	inv("SaveEntities with a too long ID", b.SaveEntities([]storage.EntityRecord{
		{Type: "T", ID: "ok", Data: []byte("x")},
		{Type: "T", ID: long, Data: []byte("x")},
	}))
	inv("SaveEntities with a too long type", b.SaveEntities([]storage.EntityRecord{{Type: long[:32767], ID: "x"}}))
	_, err = b.ListEntities(long)
	inv("ListEntities with a too long type", err)
	if _, err := b.LoadEntity("T", "ok"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("record of a rejected batch was stored: %v", err)
	}

	// The longest accepted names work.
	maxKey := long[:32768]
	if err := b.Put(maxKey, []byte("v")); err != nil {
		t.Errorf("Put with a 32768-byte key: %v", err)
	}
	maxType := long[:32766]
	if err := b.SaveEntities([]storage.EntityRecord{{Type: maxType, ID: maxKey, Data: []byte("d")}}); err != nil {
		t.Errorf("SaveEntities with the longest type and ID: %v", err)
	}
	if ids, err := b.ListEntities(maxType); err != nil || len(ids) != 1 || ids[0] != maxKey {
		t.Errorf("ListEntities of the longest type: %d IDs, %v", len(ids), err)
	}
}

func TestBoltNilReceiver(t *testing.T) {
	var b *storage.Bolt
	if err := b.Put("k", nil); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Put on nil *Bolt: %v", err)
	}
	if _, err := b.ListEntities("T"); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("ListEntities on nil *Bolt: %v", err)
	}
	if err := b.Close(); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Close on nil *Bolt: %v", err)
	}
}
