package storagetest_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/goworld-engine/goworld/storage"
	"github.com/goworld-engine/goworld/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memBackend is a minimal reference Backend kept in memory, used to check
// that the suite asks for nothing beyond the storage contracts (it shares no
// code with the bbolt backend). Data lives in memStores, keyed by directory,
// so that reopening a directory finds it again.
type memBackend struct {
	mu     sync.Mutex
	data   *memData
	closed bool
}

type memData struct {
	entities map[string]map[string][]byte
	epochs   map[[2]string]uint64
	kv       map[string][]byte
	mail     map[[2]string][][]byte
}

var (
	memStoresMu sync.Mutex
	memStores   = map[string]*memData{}
)

func openMem(dir string) *memBackend {
	memStoresMu.Lock()
	defer memStoresMu.Unlock()
	d := memStores[dir]
	if d == nil {
		d = &memData{entities: map[string]map[string][]byte{}, epochs: map[[2]string]uint64{}, kv: map[string][]byte{}, mail: map[[2]string][][]byte{}}
		memStores[dir] = d
	}
	return &memBackend{data: d}
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

func invalid(what string) error { return fmt.Errorf("mem: %s: %w", what, storage.ErrInvalidArgument) }

// lock locks the backend's data. Every backend on one directory shares it,
// but the suite never has two open at once.
func (m *memBackend) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return storage.ErrClosed
	}
	return nil
}

func (m *memBackend) SaveEntities(recs []storage.EntityRecord) error {
	for _, r := range recs {
		if r.Type == "" || r.ID == "" {
			return invalid("empty type or ID")
		}
		if r.Epoch > storage.MaxEpoch {
			return invalid("epoch too large")
		}
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	var fenced []storage.FencedRecord
	for i, r := range recs {
		t := m.data.entities[r.Type]
		if t == nil {
			t = map[string][]byte{}
			m.data.entities[r.Type] = t
		}
		k := [2]string{r.Type, r.ID}
		cur := m.data.epochs[k]
		switch {
		case r.Epoch == 0:
			cur++
		case r.Epoch < cur:
			fenced = append(fenced, storage.FencedRecord{Type: r.Type, ID: r.ID, Epoch: r.Epoch, Current: cur})
			continue
		default:
			cur = r.Epoch
		}
		m.data.epochs[k] = cur
		recs[i].Epoch = cur
		t[r.ID] = clone(r.Data)
	}
	if fenced != nil {
		return &storage.FenceError{Fenced: fenced}
	}
	return nil
}

func (m *memBackend) ClaimEntity(typ, id string) ([]byte, uint64, error) {
	if typ == "" || id == "" {
		return nil, 0, invalid("empty type or ID")
	}
	if err := m.lock(); err != nil {
		return nil, 0, err
	}
	defer m.mu.Unlock()
	v, ok := m.data.entities[typ][id]
	if !ok {
		return nil, 0, storage.ErrNotFound
	}
	k := [2]string{typ, id}
	m.data.epochs[k]++
	return clone(v), m.data.epochs[k], nil
}

func (m *memBackend) LoadEntity(typ, id string) ([]byte, error) {
	if typ == "" || id == "" {
		return nil, invalid("empty type or ID")
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.data.entities[typ][id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

func (m *memBackend) DeleteEntity(typ, id string) error {
	if typ == "" || id == "" {
		return invalid("empty type or ID")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	k := [2]string{typ, id}
	if _, had := m.data.entities[typ][id]; had || m.data.epochs[k] != 0 {
		m.data.epochs[k]++
	}
	delete(m.data.entities[typ], id)
	delete(m.data.mail, k)
	return nil
}

func (m *memBackend) AppendMessage(typ, id string, msg []byte, limit int) (int, error) {
	switch {
	case typ == "" || id == "":
		return 0, invalid("empty type or ID")
	case limit < 1 || limit > storage.MaxMailboxLimit:
		return 0, invalid("bad limit")
	case len(msg) > storage.MaxMailboxMessage:
		return 0, invalid("message too large")
	}
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	if _, ok := m.data.entities[typ][id]; !ok {
		return 0, storage.ErrNotFound
	}
	k := [2]string{typ, id}
	if len(m.data.mail[k]) >= limit {
		return limit, fmt.Errorf("mem: full: %w", storage.ErrMailboxFull)
	}
	m.data.mail[k] = append(m.data.mail[k], clone(msg))
	return len(m.data.mail[k]), nil
}

func (m *memBackend) TakeMessages(typ, id string) ([][]byte, error) {
	if typ == "" || id == "" {
		return nil, invalid("empty type or ID")
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	k := [2]string{typ, id}
	out := m.data.mail[k]
	delete(m.data.mail, k)
	return out, nil
}

func (m *memBackend) ListEntities(typ string) ([]string, error) {
	if typ == "" {
		return nil, invalid("empty type")
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var ids []string
	for id := range m.data.entities[typ] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (m *memBackend) Get(key string) ([]byte, error) {
	if key == "" {
		return nil, invalid("empty key")
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.data.kv[key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

func (m *memBackend) Put(key string, value []byte) error {
	if key == "" {
		return invalid("empty key")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.data.kv[key] = clone(value)
	return nil
}

func (m *memBackend) PutIfAbsent(key string, value []byte) (bool, []byte, error) {
	if key == "" {
		return false, nil, invalid("empty key")
	}
	if err := m.lock(); err != nil {
		return false, nil, err
	}
	defer m.mu.Unlock()
	if v, ok := m.data.kv[key]; ok {
		return false, clone(v), nil
	}
	m.data.kv[key] = clone(value)
	return true, nil, nil
}

func (m *memBackend) Delete(key string) error {
	if key == "" {
		return invalid("empty key")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.data.kv, key)
	return nil
}

func (m *memBackend) Close() error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func TestReferenceBackend(t *testing.T) {
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend { return openMem(dir) },
	})
}
