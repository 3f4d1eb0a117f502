package game

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// Errors of storage operations the game refuses or gives up without
// asking the backend. They reach the operations' callbacks (a load's as
// entity.ErrStorageFailed, with this text as its reason).
var (
	// ErrStorageQueueFull: more than Config.StorageQueueLimit bytes of
	// storage operations are waiting: the backend is too slow or down.
	ErrStorageQueueFull = errors.New("game: storage queue full")
	// ErrStorageFailing: a save is being retried because the backend
	// fails; loads and KV operations fail at once meanwhile, rather than
	// waiting behind it or overtaking it.
	ErrStorageFailing = errors.New("game: storage is failing")
)

// Defaults of the storage queue.
const (
	// DefaultStorageQueueLimit is Config.StorageQueueLimit's default.
	DefaultStorageQueueLimit = 256 << 20
	// DefaultSaveRetryTimeout is Config.SaveRetryTimeout's default.
	DefaultSaveRetryTimeout = 2 * time.Minute
	// storeOpOverhead is what one queued operation counts for besides
	// its data.
	storeOpOverhead = 256
	// Backoff between the tries of a failing save: doubling from
	// saveRetryFirst up to saveRetryMax.
	saveRetryFirst = 100 * time.Millisecond
	saveRetryMax   = 5 * time.Second
)

// storeOpKind names an operation in metrics.
type storeOpKind int

const (
	opLoad storeOpKind = iota
	opSave
	opKVGet
	opKVPut
	opKVPutIfAbsent
	opMailAppend
	opMailTake
	numStoreOps
)

var storeOpNames = [numStoreOps]string{"load", "save", "kv_get", "kv_put", "kv_put_if_absent", "mail_append", "mail_take"}

// storeOp is one storage operation: do calls the backend (on the storage
// worker) and post hands the result to the loop.
type storeOp struct {
	kind storeOpKind
	size int
	do   func() error
	post func(err error)
}

// storeMetrics are the storage figures of /metrics.
type storeMetrics struct {
	errors   [numStoreOps]atomic.Uint64 // operations that ended in an error of the backend
	rejected [2]atomic.Uint64           // refused without the backend: queue full, failing
	retries  atomic.Uint64              // tries of a failed save after the first
	failing  atomic.Bool                // a save is being retried
}

// asyncStore implements entity.Store: operations wait in an unbounded
// FIFO (bounded in bytes: past limit new ones fail with
// ErrStorageQueueFull) for the storage worker, which runs them one at a
// time, in order, and posts each result to the loop. The loop never
// waits for storage.
//
// A save that fails with an error that may pass (the backend lost, a
// timeout) is retried with backoff for up to retryFor before the failure
// is reported; saves behind it wait, so that an entity's saves reach the
// store in order, and every other operation fails at once with
// ErrStorageFailing (a load must not read what a pending save is about
// to overwrite, and a KV write must not overtake the save of the entity
// it refers to).
type asyncStore struct {
	g        *Game
	b        storage.Backend
	limit    int
	retryFor time.Duration
	met      *storeMetrics

	mu     sync.Mutex
	queue  []storeOp
	head   int
	bytes  int
	signal chan struct{}
}

func newAsyncStore(g *Game, b storage.Backend) *asyncStore {
	return &asyncStore{g: g, b: b, limit: g.cfg.StorageQueueLimit, retryFor: g.cfg.SaveRetryTimeout,
		met: &g.met.store, signal: make(chan struct{}, 1)}
}

// push queues op, or fails it (posted to the loop) if the queue is full.
// It never blocks.
func (s *asyncStore) push(op storeOp) {
	op.size += storeOpOverhead
	s.mu.Lock()
	n, b := len(s.queue)-s.head, s.bytes
	if n > 0 && b+op.size > s.limit {
		s.mu.Unlock()
		s.met.rejected[0].Add(1)
		err := fmt.Errorf("%w: %d operations (%d bytes) wait for storage, limit %d bytes: storage is too slow or down",
			ErrStorageQueueFull, n, b, s.limit)
		s.g.Post(func() { op.post(err) })
		return
	}
	s.queue = append(s.queue, op)
	s.bytes += op.size
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// pop takes the first queued operation.
func (s *asyncStore) pop() (storeOp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		return storeOp{}, false
	}
	op := s.queue[s.head]
	s.queue[s.head] = storeOp{}
	s.head++
	s.bytes -= op.size
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	} else if s.head > 1024 && s.head*2 > len(s.queue) {
		s.queue, s.head = append(s.queue[:0:0], s.queue[s.head:]...), 0
	}
	return op, true
}

// failQueued removes every queued operation but the saves and fails it
// with err.
func (s *asyncStore) failQueued(err error) {
	s.mu.Lock()
	var failed []storeOp
	kept := s.queue[:0:0]
	for _, op := range s.queue[s.head:] {
		if op.kind == opSave {
			kept = append(kept, op)
		} else {
			failed = append(failed, op)
			s.bytes -= op.size
		}
	}
	s.queue, s.head = kept, 0
	s.mu.Unlock()
	for _, op := range failed {
		s.met.rejected[1].Add(1)
		s.g.Post(func() { op.post(err) })
	}
}

// queued returns the operations and bytes waiting.
func (s *asyncStore) queued() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) - s.head, s.bytes
}

// run is the storage worker: it runs until ctx is done, then runs what
// is still queued (the final saves) once each, without retries.
func (s *asyncStore) run(ctx context.Context) {
	for {
		op, ok := s.pop()
		if !ok {
			select {
			case <-s.signal:
				continue
			case <-ctx.Done():
				for {
					op, ok := s.pop()
					if !ok {
						return
					}
					s.finish(op, op.do())
				}
			}
		}
		err := op.do()
		if err != nil && op.kind == opSave && mayPass(err) {
			err = s.retrySave(ctx, op, err)
		}
		s.finish(op, err)
	}
}

func (s *asyncStore) finish(op storeOp, err error) {
	if err != nil && !errors.Is(err, storage.ErrFenced) {
		s.met.errors[op.kind].Add(1)
	}
	s.g.Post(func() { op.post(err) })
}

// mayPass reports whether a failed operation may succeed if tried again.
// A fenced save does not: the rest of its batch was stored.
func mayPass(err error) bool {
	return !errors.Is(err, storage.ErrInvalidArgument) && !errors.Is(err, storage.ErrClosed) &&
		!errors.Is(err, storage.ErrFenced) &&
		!errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrCorrupt)
}

// retrySave tries a failed save again with backoff until it succeeds,
// fails for good, retryFor has passed or ctx is done (then it tries once
// more at once). Meanwhile every other operation fails at once.
func (s *asyncStore) retrySave(ctx context.Context, op storeOp, err error) error {
	s.met.failing.Store(true)
	defer s.met.failing.Store(false)
	start := time.Now()
	s.g.log.WithError(err).Warnf("saving failed; retrying with backoff for up to %v (loads and KV operations fail meanwhile)", s.retryFor)
	delay := saveRetryFirst
	for tries := 1; ; tries++ {
		failing := fmt.Errorf("%w (a save is being retried): %v", ErrStorageFailing, err)
		s.failQueued(failing)
		timer := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-timer.C:
				break wait
			case <-s.signal:
				s.failQueued(failing)
			case <-ctx.Done():
				timer.Stop()
				break wait
			}
		}
		s.met.retries.Add(1)
		err = op.do()
		switch {
		case err == nil:
			s.g.log.Infof("saving succeeded after %d retries (%v)", tries, time.Since(start).Round(time.Millisecond))
			return nil
		case !mayPass(err) || ctx.Err() != nil:
			return err
		case time.Since(start) >= s.retryFor:
			return fmt.Errorf("gave up after %d retries in %v: %w", tries, time.Since(start).Round(time.Millisecond), err)
		}
		delay = min(2*delay, saveRetryMax)
	}
}

// LoadEntity claims the entity (storage.EntityStore.ClaimEntity): the
// copy the world makes of it gets a new epoch, which fences every older
// copy's saves. Then, in the same operation, it takes the entity's
// mailbox (storage.MailboxStore.TakeMessages); a failed take is logged,
// and the load goes on without the mail, which waits for the next load.
func (s *asyncStore) LoadEntity(typeName string, id rpc.EntityID, done func([]byte, uint64, [][]byte, error)) {
	var (
		data  []byte
		epoch uint64
		mail  [][]byte
	)
	s.push(storeOp{kind: opLoad, size: len(typeName) + len(id),
		do: func() (err error) {
			if data, epoch, err = s.b.ClaimEntity(typeName, string(id)); err != nil {
				return err
			}
			var merr error
			if mail, merr = s.b.TakeMessages(typeName, string(id)); merr != nil {
				s.met.errors[opMailTake].Add(1)
				s.g.log.WithError(merr).Errorf("taking the offline calls of %s at its load failed; they wait for its next load", id)
			}
			return nil
		},
		post: func(err error) { done(data, epoch, mail, err) },
	})
}

// AppendMessage appends an offline call to the entity's mailbox.
func (s *asyncStore) AppendMessage(typeName string, id rpc.EntityID, msg []byte, limit int, done func(int, error)) {
	var n int
	s.push(storeOp{kind: opMailAppend, size: len(typeName) + len(id) + len(msg),
		do:   func() (err error) { n, err = s.b.AppendMessage(typeName, string(id), msg, limit); return err },
		post: func(err error) { done(n, err) },
	})
}

// TakeMessages takes the entity's mailbox.
func (s *asyncStore) TakeMessages(typeName string, id rpc.EntityID, done func([][]byte, error)) {
	var mail [][]byte
	s.push(storeOp{kind: opMailTake, size: len(typeName) + len(id),
		do:   func() (err error) { mail, err = s.b.TakeMessages(typeName, string(id)); return err },
		post: func(err error) { done(mail, err) },
	})
}

func (s *asyncStore) SaveEntities(recs []storage.EntityRecord, done func(error)) {
	size := 0
	for _, r := range recs {
		size += len(r.Type) + len(r.ID) + len(r.Data)
	}
	s.push(storeOp{kind: opSave, size: size,
		do:   func() error { return s.b.SaveEntities(recs) },
		post: done,
	})
}

func (s *asyncStore) KVGet(key string, done func([]byte, error)) {
	var v []byte
	s.push(storeOp{kind: opKVGet, size: len(key),
		do:   func() (err error) { v, err = s.b.Get(key); return err },
		post: func(err error) { done(v, err) },
	})
}

func (s *asyncStore) KVPut(key string, value []byte, done func(error)) {
	s.push(storeOp{kind: opKVPut, size: len(key) + len(value),
		do: func() error { return s.b.Put(key, value) },
		post: func(err error) {
			if done != nil {
				done(err)
			}
		},
	})
}

func (s *asyncStore) KVPutIfAbsent(key string, value []byte, done func(bool, []byte, error)) {
	var (
		stored   bool
		existing []byte
	)
	s.push(storeOp{kind: opKVPutIfAbsent, size: len(key) + len(value),
		do:   func() (err error) { stored, existing, err = s.b.PutIfAbsent(key, value); return err },
		post: func(err error) { done(stored, existing, err) },
	})
}
