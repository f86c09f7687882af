// Package raftstore owns the member's Raft storage checks: raft.db's bbolt
// meta pages checked before bbolt maps the file, every log entry
// checksummed (ErrDamaged), the data_dir's and snapshots' permissions, and
// the level of hashicorp/raft's peer-failure log lines.
package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"runtime/debug"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt/internal/common): a 16-byte
// page header, then magic, version, page size, flags, root bucket (root
// page, sequence), freelist page, high-water page id, txid and an FNV-64a
// checksum of the preceding 56 bytes, in native byte order.
const (
	boltPageHeader = 16
	boltMetaSize   = 64
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)
)

type boltMeta struct {
	pageSize           uint32
	root, freelist, hi uint64
	txid               uint64
}

// parseBoltMeta reads a meta page from b (at least boltPageHeader +
// boltMetaSize bytes); ok is false when its magic, version or checksum is
// wrong.
func parseBoltMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltPageHeader+boltMetaSize {
		return boltMeta{}, false
	}
	m := b[boltPageHeader : boltPageHeader+boltMetaSize]
	ne := binary.NativeEndian
	h := fnv.New64a()
	_, _ = h.Write(m[:56])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), hi: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
}

// checkBoltFile validates path before bbolt maps it: bbolt trusts its meta
// page, and a file shorter than the pages the meta claims faults (SIGBUS)
// on the first read past its end. A missing file is fine (a new store).
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	if size == 0 {
		return errors.New("the file is empty (truncated)")
	}
	read := func(off int64) []byte {
		b := make([]byte, boltPageHeader+boltMetaSize)
		n, _ := f.ReadAt(b, off)
		return b[:n]
	}
	meta0, ok0 := parseBoltMeta(read(0))
	var meta1 boltMeta
	var ok1 bool
	if ok0 {
		meta1, ok1 = parseBoltMeta(read(int64(meta0.pageSize)))
	} else {
		// As bbolt does: find the second meta page by trying page sizes.
		for i := 0; i <= 14 && !ok1; i++ {
			if off := int64(1024) << i; off < size {
				meta1, ok1 = parseBoltMeta(read(off))
			}
		}
	}
	if !ok0 && !ok1 {
		return fmt.Errorf("neither bbolt meta page is valid (%d bytes: truncated or overwritten)", size)
	}
	// bbolt uses the valid meta with the higher transaction id.
	m := meta0
	if !ok0 || (ok1 && meta1.txid > meta0.txid) {
		m = meta1
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps&(ps-1) != 0 {
		return fmt.Errorf("bbolt meta page claims a page size of %d bytes", ps)
	}
	if m.hi < 2 || m.root >= m.hi || (m.freelist >= m.hi && m.freelist != boltNoFreelist) {
		return fmt.Errorf("bbolt meta page is inconsistent (root page %d, freelist page %d, %d pages)", m.root, m.freelist, m.hi)
	}
	if m.hi > uint64(size)/ps {
		return fmt.Errorf("the file is %d bytes but its bbolt meta page claims %d pages of %d bytes (truncated)", size, m.hi, ps)
	}
	return nil
}

// guardFaults runs fn with memory faults turned into panics and recovers
// any panic into an error: bbolt reads the file through mmap and panics on
// pages it cannot make sense of.
func guardFaults(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reading it failed: %v", p)
		}
	}()
	return fn()
}

// Open opens raft.db at path, validated before bbolt maps it, and every
// log entry verified against its checksum. Damage returns an error
// wrapping ErrDamaged that names path and hint (the recovery steps); it
// never panics. legacy counts entries written without checksums by an
// older build.
func Open(path, hint string) (store *raftboltdb.BoltStore, logs *LogStore, legacy uint64, err error) {
	if err := checkBoltFile(path); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %s: %v; %s", ErrDamaged, path, err, hint)
	}
	err = guardFaults(func() error {
		var err error
		if store, err = raftboltdb.New(raftboltdb.Options{Path: path, NoSync: false}); err != nil {
			return err
		}
		logs = &LogStore{store: store, path: path, hint: hint}
		legacy, err = logs.verifyAll()
		return err
	})
	if err == nil {
		return store, logs, legacy, nil
	}
	if store != nil {
		_ = guardFaults(store.Close)
	}
	var pe *fs.PathError
	if errors.Is(err, ErrDamaged) || errors.As(err, &pe) {
		return nil, nil, 0, err
	}
	return nil, nil, 0, fmt.Errorf("%w: %s: %v; %s", ErrDamaged, path, err, hint)
}
