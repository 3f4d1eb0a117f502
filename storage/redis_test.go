package storage_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/storage"
	"github.com/goworld-engine/goworld/storage/storagetest"
)

// dirPrefix gives each of the suite's directories its own key prefix on
// the shared server, so that reopening a directory finds its data and a
// new directory is empty.
func dirPrefix(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return "t:" + hex.EncodeToString(h[:8]) + ":"
}

func openRedis(t testing.TB, o storage.RedisOptions) *storage.Redis {
	t.Helper()
	r, err := storage.OpenRedis(&o)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	return r
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend {
			return openRedis(t, storage.RedisOptions{Addr: srv.Addr, KeyPrefix: dirPrefix(dir)})
		},
	})
}

// TestRedisClusterConformance runs the suite on a 3-master Redis Cluster:
// every key the backend uses must land on the node that owns its slot.
func TestRedisClusterConformance(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend {
			return openRedis(t, storage.RedisOptions{Addrs: c.Addrs, KeyPrefix: dirPrefix(dir)})
		},
	})
	// The suite's entities really are spread over the masters.
	for _, n := range c.Nodes {
		keys, err := n.Command("DBSIZE")
		if err != nil || keys == "0" {
			t.Errorf("master %s holds %s keys (%v): the keys are not spread", n.Addr, keys, err)
		}
	}
}

// TestOpenConfigRedis opens Redis through the generic OpenConfig, with a
// DB number: another DB is another, empty, store.
func TestOpenConfigRedis(t *testing.T) {
	srv := redistest.Start(t)
	open := func(db int) storage.Backend {
		b, err := storage.OpenConfig(storage.Config{Type: storage.TypeRedis,
			Redis: &storage.RedisOptions{Addr: srv.Addr, DB: db, KeyPrefix: storage.DefaultRedisKeyPrefix}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	b0, b1 := open(0), open(1)
	if err := b0.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Get("k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get in DB 1 of a key put in DB 0: %v, want ErrNotFound", err)
	}
	if n, err := srv.Command("DBSIZE"); err != nil || n != "1" {
		t.Fatalf("DB 0 holds %s keys (%v), want 1", n, err)
	}
	got, err := srv.Command("GET", "goworld:"+keyTag("k")+":k:k")
	if err != nil || got != "v" {
		t.Fatalf("the KV key is not where the documented layout says: %q, %v", got, err)
	}
	if _, err := storage.OpenConfig(storage.Config{Type: storage.TypeRedis}); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("OpenConfig(redis) without options: %v, want ErrInvalidArgument", err)
	}
}

// keyTag is the documented hash tag of a KV key.
func keyTag(key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return fmt.Sprintf("{%08x}", h)
}

// TestRedisUnreachable: a server that does not answer is refused at
// Open, and the error names the address.
func TestRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, o := range []storage.RedisOptions{
		{Addr: addr},
		{Addrs: []string{addr}},
	} {
		start := time.Now()
		b, err := storage.OpenRedis(&o)
		if err == nil {
			b.Close()
			t.Fatalf("OpenRedis(%+v) of a closed port succeeded", o)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q does not name %s", err, addr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("OpenRedis took %v to fail on a refused port", d)
		}
	}
}

func TestRedisBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    storage.RedisOptions
		want string
	}{
		{storage.RedisOptions{}, "no address"},
		{storage.RedisOptions{Addr: "a:1", Addrs: []string{"b:1"}}, "both"},
		{storage.RedisOptions{Addrs: []string{"b:1"}, DB: 2}, "only database 0"},
		{storage.RedisOptions{Addr: "a:1", DB: -1}, "negative"},
		{storage.RedisOptions{Addr: "a:1", KeyPrefix: "x{y}"}, "hash tag"},
		{storage.RedisOptions{Addr: "nohostport"}, "not host:port"},
	} {
		_, err := storage.OpenRedis(&tc.o)
		if !errors.Is(err, storage.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenRedis(%+v) = %v, want ErrInvalidArgument saying %q", tc.o, err, tc.want)
		}
	}
}

// TestRedisWrongMode: a cluster node configured as a standalone server,
// and a standalone server configured as a cluster, are refused at Open.
func TestRedisWrongMode(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	if _, err := storage.OpenRedis(&storage.RedisOptions{Addr: c.Addrs[0]}); err == nil ||
		!strings.Contains(err.Error(), "is a Redis Cluster node") {
		t.Errorf("OpenRedis(addr = a cluster node) = %v, want a refusal", err)
	}
	srv := redistest.Start(t)
	if _, err := storage.OpenRedis(&storage.RedisOptions{Addrs: []string{srv.Addr}}); err == nil ||
		!strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("OpenRedis(addrs = a standalone server) = %v, want a refusal naming it", err)
	}
}

// TestRedisRestartKeepsSaves: with appendonly yes, what SaveEntities and
// Put acknowledged survives a restart of the server, and the backend
// opened before the restart works again after it (its dead connections
// are replaced) without being reopened.
func TestRedisRestartKeepsSaves(t *testing.T) {
	for _, stop := range []string{"shutdown", "kill -9"} {
		t.Run(stop, func(t *testing.T) {
			// appendfsync always: every acknowledged write is on disk, so
			// that even kill -9 loses nothing here. With everysec (the
			// recommended trade-off) a crash of the server loses up to
			// about a second; a clean shutdown loses nothing.
			fsync := "everysec"
			if stop == "kill -9" {
				fsync = "always"
			}
			srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", fsync)
			b := openRedis(t, storage.RedisOptions{Addr: srv.Addr, KeyPrefix: "w:"})
			defer b.Close()
			var recs []storage.EntityRecord
			for i := range 200 {
				recs = append(recs, storage.EntityRecord{Type: "Avatar", ID: fmt.Sprint("A", i), Data: []byte(fmt.Sprint("state-", i))})
			}
			if err := b.SaveEntities(recs); err != nil {
				t.Fatal(err)
			}
			if stored, _, err := b.PutIfAbsent("account/alice", []byte("A1")); err != nil || !stored {
				t.Fatalf("PutIfAbsent = %v, %v", stored, err)
			}
			if stop == "kill -9" {
				srv.Kill()
			} else {
				srv.Stop()
			}
			if _, err := b.LoadEntity("Avatar", "A1"); err == nil {
				t.Fatal("LoadEntity succeeded with the server down")
			} else if !strings.Contains(err.Error(), srv.Addr) {
				t.Errorf("error with the server down does not name it: %v", err)
			}
			srv.Restart(t)
			for _, r := range recs {
				got, err := b.LoadEntity(r.Type, r.ID)
				if err != nil || string(got) != string(r.Data) {
					t.Fatalf("after the restart LoadEntity(%s) = %q, %v; want %q", r.ID, got, err, r.Data)
				}
			}
			if got, err := b.Get("account/alice"); err != nil || string(got) != "A1" {
				t.Fatalf("after the restart Get = %q, %v", got, err)
			}
		})
	}
}

// TestRedisPutIfAbsentAcrossBackends: two backends (two game processes)
// race on many names at once: exactly one wins each.
func TestRedisPutIfAbsentAcrossBackends(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	const (
		names  = 50
		racers = 4
	)
	var backends []*storage.Redis
	for range racers {
		b := openRedis(t, storage.RedisOptions{Addrs: c.Addrs, KeyPrefix: "race:"})
		defer b.Close()
		backends = append(backends, b)
	}
	wins := make([][]bool, racers)
	var wg sync.WaitGroup
	for i, b := range backends {
		wins[i] = make([]bool, names)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range names {
				stored, existing, err := b.PutIfAbsent(fmt.Sprint("account/", n), []byte(fmt.Sprint(i)))
				if err != nil {
					t.Error(err)
					return
				}
				if !stored && len(existing) != 1 {
					t.Errorf("name %d: existing %q", n, existing)
				}
				wins[i][n] = stored
			}
		}()
	}
	wg.Wait()
	for n := range names {
		winners := 0
		for i := range racers {
			if wins[i][n] {
				winners++
				got, err := backends[0].Get(fmt.Sprint("account/", n))
				if err != nil || string(got) != fmt.Sprint(i) {
					t.Errorf("name %d: won by %d, stored %q, %v", n, i, got, err)
				}
			}
		}
		if winners != 1 {
			t.Errorf("name %d: %d winners, want exactly 1", n, winners)
		}
	}
}
