package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The layout of a bbolt meta page (go.etcd.io/bbolt, internal/common:
// Page and Meta), written in the machine's byte order: a 16-byte page
// header (id u64, flags u16, count u16, overflow u32), then magic u32,
// version u32, pageSize u32, flags u32, root bucket (root page u64,
// sequence u64), freelist page u64, pgid u64 (the high-water mark: pages
// in use), txid u64 and an FNV-64a checksum of the meta's bytes before
// it. Pages 0 and 1 are the two meta pages, written alternately.
const (
	boltPageHeader  = 16
	boltMetaSize    = 64 // magic .. checksum
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltMetaFlag    = 0x04
	boltNoFreelist  = ^uint64(0)
	boltMinPageSize = 1024
	boltMaxPageSize = 1024 << 14 // what bbolt probes for the second meta page
)

// damagedAdvice ends the error for a damaged database file.
const damagedAdvice = "Restore it from a backup; or, to start a new, empty world on purpose, move it away (every account and saved entity in it would be gone)"

// boltMeta is the part of a bbolt meta page that checkBoltFile uses.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseBoltMeta decodes and validates the meta page at the start of b
// (a whole page or at least its header and meta). ok is false for
// anything bbolt would not accept as a meta page: wrong magic, version,
// checksum or page type, or fields that point outside the database.
func parseBoltMeta(b []byte) (m boltMeta, ok bool) {
	if len(b) < boltPageHeader+boltMetaSize {
		return m, false
	}
	o := binary.NativeEndian // bbolt writes its structs as they are in memory
	if o.Uint16(b[8:])&boltMetaFlag == 0 {
		return m, false
	}
	meta := b[boltPageHeader : boltPageHeader+boltMetaSize]
	if o.Uint32(meta[0:]) != boltMagic || o.Uint32(meta[4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(meta[:56])
	if h.Sum64() != o.Uint64(meta[56:]) {
		return m, false
	}
	m = boltMeta{
		pageSize: o.Uint32(meta[8:]),
		root:     o.Uint64(meta[16:]),
		freelist: o.Uint64(meta[32:]),
		pgid:     o.Uint64(meta[40:]),
		txid:     o.Uint64(meta[48:]),
	}
	switch {
	case m.pageSize < boltMinPageSize || m.pageSize > boltMaxPageSize || m.pageSize&(m.pageSize-1) != 0:
		return m, false
	case m.pgid < 4 || m.root < 2 || m.root >= m.pgid: // pages 0 and 1 are the metas
		return m, false
	case m.freelist != boltNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return m, false
	}
	return m, true
}

// checkBoltFile looks at an existing database file before bbolt opens it,
// and refuses what bbolt would silently treat as a new database (an empty
// file) or could crash on (a file shorter than its own header says, or
// one without a valid header): both are a world lost, and an operator
// must decide. A missing file is fine (a new world). Every error names
// the file and says what to do, and wraps ErrCorrupt, except errors
// reading the file.
func checkBoltFile(path string) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // the messages say which file, wherever the process runs
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: open bbolt %q: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: open bbolt %q: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("storage: open bbolt %q: not a regular file (%v): %w", path, info.Mode().Type(), ErrInvalidArgument)
	}
	size := info.Size()
	advice := damagedAdvice
	if size == 0 {
		return fmt.Errorf("storage: database file %q is empty (0 bytes): it holds no world, and opening it would start an empty one "+
			"(a disk that filled up, or a copy cut short?). %s: %w", path, advice, ErrCorrupt)
	}

	// The first meta page, at offset 0, tells the page size; the second
	// is one page further. As bbolt does when the first is damaged, look
	// for the second at every page size it could have been created with.
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("storage: open bbolt %q: read: %w", path, err)
	}
	var metas []boltMeta
	if m, ok := parseBoltMeta(buf[:n]); ok {
		metas = append(metas, m)
		if n, err = f.ReadAt(buf, int64(m.pageSize)); err != nil && err != io.EOF {
			return fmt.Errorf("storage: open bbolt %q: read: %w", path, err)
		}
		if m1, ok := parseBoltMeta(buf[:n]); ok && m1.pageSize == m.pageSize {
			metas = append(metas, m1)
		}
	} else {
		for ps := int64(boltMinPageSize); ps <= boltMaxPageSize && ps < size; ps *= 2 {
			if n, err = f.ReadAt(buf, ps); err != nil && err != io.EOF {
				return fmt.Errorf("storage: open bbolt %q: read: %w", path, err)
			}
			if m1, ok := parseBoltMeta(buf[:n]); ok && int64(m1.pageSize) == ps {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		what := "has no valid bbolt header: it is not a goworld database, or its beginning is damaged"
		if size < boltPageHeader+boltMetaSize {
			what = fmt.Sprintf("is %d bytes, too short to be a bbolt database", size)
		}
		return fmt.Errorf("storage: database file %q %s. %s: %w", path, what, advice, ErrCorrupt)
	}
	// bbolt uses the valid meta page with the higher transaction ID: the
	// file must hold every page that one says is in use.
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	if want := m.pgid * uint64(m.pageSize); uint64(size) < want {
		return fmt.Errorf("storage: database file %q is truncated: it is %d bytes, but its header says its data takes %d "+
			"(a copy cut short, or a disk that filled up?). %s: %w", path, size, want, advice, ErrCorrupt)
	}
	return nil
}
