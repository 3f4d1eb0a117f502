package storage_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/goworld-engine/goworld/storage"
)

const (
	benchRecordSize = 500   // bytes of entity data, a typical small msgpack blob
	benchPool       = 10000 // distinct entity IDs / keys used by a benchmark
)

func benchData(r *rand.Rand) []byte {
	b := make([]byte, benchRecordSize)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func benchIDs() []string {
	ids := make([]string, benchPool)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15) // spread out, like random entity IDs
	}
	return ids
}

func benchKeys() []string {
	keys := benchIDs()
	for i := range keys {
		keys[i] = "account/" + keys[i]
	}
	return keys
}

func openBench(b *testing.B) *storage.Bolt {
	b.Helper()
	db, err := storage.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// BenchmarkSaveEntities saves batches of ~500-byte records, each batch one
// fsynced transaction, cycling over a pool of entity IDs (a save tick
// rewrites the same entities). ns/record is the cost per saved entity.
func BenchmarkSaveEntities(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db := openBench(b)
			r := rand.New(rand.NewPCG(1, 2))
			ids := benchIDs()
			recs := make([]storage.EntityRecord, batch)
			for j := range recs {
				recs[j] = storage.EntityRecord{Type: "Avatar", Data: benchData(r)}
			}
			b.SetBytes(int64(batch * benchRecordSize))
			b.ReportAllocs()
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
}

func BenchmarkLoadEntity(b *testing.B) {
	db := openBench(b)
	r := rand.New(rand.NewPCG(3, 4))
	ids := benchIDs()
	recs := make([]storage.EntityRecord, len(ids))
	for i, id := range ids {
		recs[i] = storage.EntityRecord{Type: "Avatar", ID: id, Data: benchData(r)}
	}
	if err := db.SaveEntities(recs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.LoadEntity("Avatar", ids[i%benchPool]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVGet(b *testing.B) {
	db := openBench(b)
	keys := benchKeys()[:1000]
	for _, k := range keys {
		if err := db.Put(k, []byte("avatar-0123456789abcdef")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Get(keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVPut measures one fsynced transaction per Put.
func BenchmarkKVPut(b *testing.B) {
	db := openBench(b)
	keys := benchKeys()
	val := []byte("avatar-0123456789abcdef")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Put(keys[i%len(keys)], val); err != nil {
			b.Fatal(err)
		}
	}
}
