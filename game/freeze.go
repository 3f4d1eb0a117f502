package game

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/rpc"
)

// ErrFrozen is returned by Run after the game froze for a hot reload.
var ErrFrozen = errors.New("game: frozen for a hot reload")

// FreezeResult is what a freeze attempt leaves in FreezeDir as
// game<ID>.result.json, for goworldctl reload to read (defined with the
// rest of the process contract in internal/proc, so that goworldctl
// needs not import the game).
type FreezeResult = proc.FreezeResult

// freezer is the loop's freeze state machine: ask every dispatcher to
// queue (and wait for their acknowledgements, handling whatever arrives
// meanwhile), wait for storage to drain, then capture the world, write it
// and stop. Any failure tells the dispatchers to resume and the game goes
// on serving.
type freezer struct {
	g        *Game
	active   bool
	signalAt time.Time
	// unacked counts, per dispatcher link, the MsgFreezeGame sent and not
	// yet acknowledged. The ack of an attempt that timed out may still
	// arrive during the next one: it must not count for it.
	unacked []int
	timer   *time.Timer
}

func (f *freezer) start() {
	if f.active {
		return
	}
	g := f.g
	f.active, f.signalAt = true, time.Now()
	g.linkLost = false
	g.engine.SetFreezing(true) // no migration may start: see entity.Engine.SetFreezing
	f.timer = time.NewTimer(g.cfg.FreezeTimeout)
	g.log.Info("freezing for a hot reload")
	for i, l := range g.links {
		if err := l.Send(rpc.MsgFreezeGame, nil); err != nil {
			f.abort(fmt.Errorf("dispatcher %d: %w", i, err))
			return
		}
		f.unacked[i]++
	}
}

// acked counts an acknowledgement from dispatcher link i.
func (f *freezer) acked(i int) {
	if f.unacked[i] > 0 {
		f.unacked[i]--
	}
}

// acks returns how many dispatchers acknowledged every freeze sent to them.
func (f *freezer) acks() int {
	n := 0
	for _, u := range f.unacked {
		if u == 0 {
			n++
		}
	}
	return n
}

// deadline is the freeze timeout's channel, or nil (never ready).
func (f *freezer) deadline() <-chan time.Time {
	if !f.active {
		return nil
	}
	return f.timer.C
}

// ready reports whether every dispatcher queues for us and storage is idle.
func (f *freezer) ready() bool {
	return f.active && f.acks() == len(f.g.links) && f.g.World().StorageInFlight() == 0
}

func (f *freezer) stop() {
	if f.timer != nil {
		f.timer.Stop()
	}
}

// finish captures and writes the world. On error it aborts.
func (f *freezer) finish() error {
	g := f.g
	frozen, err := g.engine.Freeze()
	if err == nil {
		frozen.SignalAt = f.signalAt.UnixNano()
		var path string
		var n int
		if path, n, err = writeFreezeFile(g.cfg.FreezeDir, g.cfg.ID, frozen, g.cfg.KeepFreezeFiles); err == nil {
			res := FreezeResult{OK: true, File: path, Entities: len(frozen.Entities), Bytes: n,
				SignalAt: frozen.SignalAt, FreezeMS: float64(time.Since(f.signalAt).Microseconds()) / 1000}
			writeResult(g.cfg.FreezeDir, g.cfg.ID, res)
			g.log.WithField("file", path).WithField("entities", res.Entities).WithField("bytes", n).
				WithField("took", time.Since(f.signalAt).Round(time.Microsecond).String()).Info("frozen; exiting for the new binary")
			f.stop()
			return nil
		}
	}
	f.abort(err)
	return err
}

// finishGuarded is finish, with a panic while capturing or writing the
// world turned into a failed freeze: the game keeps serving.
func (f *freezer) finishGuarded() (err error) {
	defer func() {
		if p := recover(); p != nil {
			f.g.met.panics.Record(f.g.log, "while freezing", p, debug.Stack(), nil)
			err = fmt.Errorf("panic while freezing: %v", p)
			f.abort(err)
		}
	}()
	return f.finish()
}

// abort tells the dispatchers to resume and records the failure.
func (f *freezer) abort(err error) {
	g := f.g
	f.active = false
	f.stop()
	g.engine.SetFreezing(false)
	for _, l := range g.links {
		l.Send(rpc.MsgUnfreezeGame, nil)
	}
	g.log.WithError(err).Error("freeze failed; the game keeps serving")
	writeResult(g.cfg.FreezeDir, g.cfg.ID, FreezeResult{Error: err.Error(), SignalAt: f.signalAt.UnixNano()})
}

// FreezeFilePrefix returns the file name prefix of game id's freeze files.
func FreezeFilePrefix(id int) string { return fmt.Sprintf("game%d-", id) }

// writeFreezeFile writes f to dir as game<ID>-<signal time>.freeze: a
// temporary file, fsynced, renamed into place, and the directory fsynced,
// so that a crash leaves either the whole file or none. It keeps the
// newest keep files of this game and removes older ones.
func writeFreezeFile(dir string, id int, f *entity.Frozen, keep int) (string, int, error) {
	data, err := entity.EncodeFrozen(f)
	if err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	name := fmt.Sprintf("%s%020d.freeze", FreezeFilePrefix(id), f.SignalAt)
	path := filepath.Join(dir, name)
	if err := writeAtomic(path, data); err != nil {
		return "", 0, fmt.Errorf("writing freeze file: %w", err)
	}
	files, _ := FreezeFiles(dir, id)
	for len(files) > keep {
		os.Remove(files[0])
		files = files[1:]
	}
	return path, len(data), nil
}

// FreezeFiles lists game id's freeze files in dir, oldest first.
func FreezeFiles(dir string, id int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, FreezeFilePrefix(id)) && strings.HasSuffix(n, ".freeze") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	sort.Strings(files) // the fixed-width time in the name sorts by age
	return files, nil
}

// LoadFreezeFile reads and decodes a freeze file for game id.
func LoadFreezeFile(path string, id int) (*entity.Frozen, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := entity.DecodeFrozen(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int(f.GameID) != id {
		return nil, fmt.Errorf("%s: %w: written by game%d, not game%d", path, entity.ErrFreezeFile, f.GameID, id)
	}
	return f, nil
}

// ResultPath is where game id's last freeze result is written.
func ResultPath(dir string, id int) string { return proc.FreezeResultPath(dir, id) }

func writeResult(dir string, id int, r FreezeResult) {
	data, _ := json.Marshal(r)
	os.MkdirAll(dir, 0o755)
	writeAtomic(ResultPath(dir, id), append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
