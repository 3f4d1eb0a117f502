package game_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/sirupsen/logrus"
)

// Monster is the benchmark's entity: ten attributes of the usual kinds
// and a repeating timer, like a typical NPC.
type Monster struct{ entity.Entity }

func (m *Monster) DescribeEntityType(d *entity.TypeDesc) {
	for _, a := range []string{"name", "level", "hp", "pos", "inventory", "alive", "gold", "guild", "stats", "seen"} {
		d.DefineAttr(a, entity.AttrAllClients)
	}
}

// Think is the monster's timer callback.
func (m *Monster) Think(step int) { m.Attrs.Set("seen", m.Attrs.GetInt("seen")+int64(step)) }

func monsterAttrs(i int) map[string]any {
	return map[string]any{
		"name": fmt.Sprintf("monster-%d", i), "level": i % 60, "hp": 812.5, "alive": true,
		"pos":       map[string]any{"x": float64(i%1000) + 0.5, "y": 12.25, "z": float64(i/1000) + 0.75},
		"inventory": []any{"sword", "shield", "potion", "potion", "key"},
		"gold":      i * 7, "guild": "wanderers", "seen": 0,
		"stats": map[string]any{"str": 12, "dex": 14, "con": 10, "int": 8},
	}
}

// BenchmarkReloadPause measures a hot reload of one game in-process, on
// real sockets: from RequestFreeze (what SIGUSR1 does) until the restored
// game is serving again, split into the freeze (dispatcher acks, capture,
// encode, write, fsync) and the restore (read, decode, rebuild, connect,
// queue flushed). A process restart adds the new binary's start-up, which
// goworldctl reload reports separately. Run with -benchtime 1x: each
// iteration is one whole reload of a world of n entities.
func BenchmarkReloadPause(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchReload(b, n)
			}
		})
	}
}

func benchReload(b *testing.B, n int) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg := entity.NewRegistry()
	if err := reg.Register("Monster", &Monster{}); err != nil {
		b.Fatal(err)
	}
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	go d.Run(context.Background())
	defer d.Close()
	dir := b.TempDir()
	cfg := game.Config{ID: 1, Dispatchers: []string{d.Addr().String()}, BootEntity: "Monster",
		Registry: reg, GameTuning: config.GameTuning{FreezeDir: dir},
		Logger: log}

	g, err := game.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(context.Background()) }()
	<-g.Ready()
	created := make(chan error, 1)
	g.Post(func() {
		for i := 0; i < n; i++ {
			e, err := g.World().CreateEntityLocally("Monster", monsterAttrs(i))
			if err == nil {
				_, err = e.AddTimer(time.Second, "Think", 1)
			}
			if err != nil {
				created <- err
				return
			}
		}
		created <- nil
	})
	if err := <-created; err != nil {
		b.Fatal(err)
	}
	// Let the registrations reach the dispatcher before measuring.
	synced := make(chan struct{})
	g.Post(func() { close(synced) })
	<-synced

	b.ResetTimer()
	start := time.Now()
	g.RequestFreeze()
	if err := <-runErr; !errors.Is(err, game.ErrFrozen) {
		b.Fatalf("Run: %v", err)
	}
	frozeAt := time.Now()
	files, err := game.FreezeFiles(dir, 1)
	if err != nil || len(files) == 0 {
		b.Fatalf("no freeze file: %v", err)
	}
	fi, _ := os.Stat(files[len(files)-1])

	restoreStart := time.Now()
	frozen, err := game.LoadFreezeFile(files[len(files)-1], 1)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Restore = frozen
	g2, err := game.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() { runErr <- g2.Run(context.Background()) }()
	<-g2.Ready()
	end := time.Now()
	b.StopTimer()

	b.ReportMetric(float64(end.Sub(start).Microseconds())/1000, "pause-ms")
	b.ReportMetric(float64(frozeAt.Sub(start).Microseconds())/1000, "freeze-ms")
	b.ReportMetric(float64(end.Sub(restoreStart).Microseconds())/1000, "restore-ms")
	b.ReportMetric(float64(fi.Size()), "file-bytes")
	b.ReportMetric(float64(fi.Size())/float64(n), "bytes/entity")
	g2.Close()
	<-runErr
}
