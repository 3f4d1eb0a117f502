package storage_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/storage"
)

// benchBackends are the backends BenchmarkBackends compares: bbolt (one
// fsync per write transaction), a standalone redis-server with the
// recommended persistence (appendonly yes, appendfsync everysec), the same
// with appendfsync always (an fsync per write, as bbolt), and a local
// 3-master Redis Cluster (appendonly, everysec). Every server is started
// by the benchmark on 127.0.0.1.
var benchBackends = []struct {
	name string
	open func(b *testing.B) storage.Backend
}{
	{"bbolt", func(b *testing.B) storage.Backend { return openBench(b) }},
	{"redis", func(b *testing.B) storage.Backend {
		srv := redistest.Start(b, "--appendonly", "yes", "--appendfsync", "everysec")
		return openRedisBench(b, storage.RedisOptions{Addr: srv.Addr})
	}},
	{"redis-fsync-always", func(b *testing.B) storage.Backend {
		srv := redistest.Start(b, "--appendonly", "yes", "--appendfsync", "always")
		return openRedisBench(b, storage.RedisOptions{Addr: srv.Addr})
	}},
	{"redis-cluster", func(b *testing.B) storage.Backend {
		c := redistest.StartCluster(b, 3, "--appendonly", "yes", "--appendfsync", "everysec")
		return openRedisBench(b, storage.RedisOptions{Addrs: c.Addrs})
	}},
}

func openRedisBench(b *testing.B, o storage.RedisOptions) storage.Backend {
	b.Helper()
	o.KeyPrefix = "bench:"
	r, err := storage.OpenRedis(&o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	return r
}

// BenchmarkBackends compares the backends on what a game asks of them:
//
//   - save/batch=N: SaveEntities of N ~500-byte entities (a save tick),
//     one caller, as a game's one storage worker; ns/record per entity.
//   - login: KV Get (account name to avatar ID) then LoadEntity of the
//     ~500-byte avatar, one caller; logins/s = 1e9 / ns/op.
//   - login-claim: the same with ClaimEntity, which takes the avatar's
//     fencing epoch with the read, as the engine's loads do.
//   - login-parallel: the same from 4 goroutines, as 4 game processes
//     sharing the store would (bbolt cannot be shared by processes; its
//     figure is 4 goroutines of one process).
//
// Run with: go test -run '^$' -bench BenchmarkBackends -benchtime 2s ./storage/
func BenchmarkBackends(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			db := be.open(b)
			r := rand.New(rand.NewPCG(1, 2))
			ids := benchIDs()
			keys := benchKeys()
			// The login benchmarks' data: every ID saved and mapped.
			var all []storage.EntityRecord
			for _, id := range ids {
				all = append(all, storage.EntityRecord{Type: "Avatar", ID: id, Data: benchData(r)})
			}
			for i := 0; i < len(all); i += 500 {
				if err := db.SaveEntities(all[i:min(i+500, len(all))]); err != nil {
					b.Fatal(err)
				}
			}
			for i, k := range keys {
				if err := db.Put(k, []byte(ids[i])); err != nil {
					b.Fatal(err)
				}
			}
			for _, batch := range []int{1, 100} {
				b.Run(fmt.Sprintf("save/batch=%d", batch), func(b *testing.B) {
					recs := make([]storage.EntityRecord, batch)
					for j := range recs {
						recs[j] = storage.EntityRecord{Type: "Avatar", Data: benchData(r)}
					}
					b.SetBytes(int64(batch * benchRecordSize))
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						for j := range recs {
							recs[j].ID = ids[(i*batch+j)%benchPool]
						}
						if err := db.SaveEntities(recs); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
				})
			}
			login := func(i int) error {
				id, err := db.Get(keys[i%benchPool])
				if err != nil {
					return err
				}
				_, err = db.LoadEntity("Avatar", string(id))
				return err
			}
			b.Run("login", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if err := login(i); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
			b.Run("login-claim", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					id, err := db.Get(keys[i%benchPool])
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := db.ClaimEntity("Avatar", string(id)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
			b.Run("login-parallel", func(b *testing.B) {
				const callers = 4
				var (
					next atomic.Int64
					wg   sync.WaitGroup
				)
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							if err := login(int(i)); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
		})
	}
}
