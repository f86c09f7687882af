package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ErrDamaged reports a raft.db that cannot be trusted: a file bbolt
// cannot map safely, or a log entry whose checksum does not match.
// The member refuses to start (or, found at run time, to use the entry);
// the error names the file and the recovery steps.
var ErrDamaged = errors.New("raft store damaged")

// Each log entry this build stores carries a checksum in its Extensions,
// which the wrapper strips again on read: [logSumMagic][CRC-32C][the
// entry's own Extensions]. The checksum covers index, term, type, data and
// the entry's own Extensions. It detects an edited or decayed value; it is
// not a signature (whoever can write data_dir can recompute it).
const logSumMagic = "RHs1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func logSum(l *raft.Log, ext []byte) uint32 {
	var hdr [25]byte
	binary.BigEndian.PutUint64(hdr[0:], l.Index)
	binary.BigEndian.PutUint64(hdr[8:], l.Term)
	hdr[16] = byte(l.Type)
	binary.BigEndian.PutUint64(hdr[17:], uint64(len(l.Data)))
	h := crc32.Update(0, castagnoli, hdr[:])
	h = crc32.Update(h, castagnoli, l.Data)
	return crc32.Update(h, castagnoli, ext)
}

// LogStore wraps the bolt store: it seals every entry it stores with a
// checksum and verifies it on every read. Open returns it.
type LogStore struct {
	store *raftboltdb.BoltStore
	path  string // raft.db, for errors
	hint  string // recovery steps, for errors
	// OnDamage is told of damage found after start (may be nil).
	OnDamage func(error)
}

func (s *LogStore) damaged(idx uint64, what string) error {
	err := fmt.Errorf("%w: %s: log entry %d %s; %s", ErrDamaged, s.path, idx, what, s.hint)
	if s.OnDamage != nil {
		s.OnDamage(err)
	}
	return err
}

// FirstIndex implements raft.LogStore.
func (s *LogStore) FirstIndex() (uint64, error) { return s.store.FirstIndex() }

// LastIndex implements raft.LogStore.
func (s *LogStore) LastIndex() (uint64, error) { return s.store.LastIndex() }

// GetLog implements raft.LogStore: it verifies and strips the checksum.
func (s *LogStore) GetLog(idx uint64, l *raft.Log) error {
	_, err := s.get(idx, l)
	return err
}

// get reads entry idx into l, verified and with its checksum stripped;
// summed says whether it carried one.
func (s *LogStore) get(idx uint64, l *raft.Log) (summed bool, err error) {
	if err := s.store.GetLog(idx, l); err != nil {
		if errors.Is(err, raft.ErrLogNotFound) {
			return false, err
		}
		return false, s.damaged(idx, "cannot be decoded ("+err.Error()+")")
	}
	if l.Index != idx {
		return false, s.damaged(idx, fmt.Sprintf("holds index %d", l.Index))
	}
	ext := l.Extensions
	if len(ext) == 0 {
		return false, nil // written by a build without checksums
	}
	if len(ext) < len(logSumMagic)+4 || !bytes.Equal(ext[:len(logSumMagic)], []byte(logSumMagic)) {
		return false, s.damaged(idx, "has a damaged checksum")
	}
	want := binary.BigEndian.Uint32(ext[len(logSumMagic):])
	own := ext[len(logSumMagic)+4:]
	if len(own) == 0 {
		own = nil
	}
	if logSum(l, own) != want {
		return false, s.damaged(idx, "does not match its checksum (edited or corrupted on disk)")
	}
	l.Extensions = own
	return true, nil
}

// StoreLog implements raft.LogStore.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore. It seals copies: the caller's
// entries (which the log cache keeps) are not changed.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	sealed := make([]*raft.Log, len(logs))
	for i, l := range logs {
		c := *l
		ext := make([]byte, len(logSumMagic)+4, len(logSumMagic)+4+len(l.Extensions))
		copy(ext, logSumMagic)
		binary.BigEndian.PutUint32(ext[len(logSumMagic):], logSum(l, l.Extensions))
		c.Extensions = append(ext, l.Extensions...)
		sealed[i] = &c
	}
	return s.store.StoreLogs(sealed)
}

// DeleteRange implements raft.LogStore.
func (s *LogStore) DeleteRange(lo, hi uint64) error { return s.store.DeleteRange(lo, hi) }

// IsMonotonic implements raft.MonotonicLogStore: the checksummed log
// never holds a hole (verifyAll refuses one at start). So raft deletes
// every entry below a restored snapshot (raft.Restore on the leader, an
// installed snapshot on a follower) instead of leaving them below the
// hole it burns, which the next start would take for damage.
func (s *LogStore) IsMonotonic() bool { return true }

// verifyAll reads every entry once, so damage stops the start instead of
// surfacing when Raft first needs the entry. It returns how many entries
// carry no checksum (written by a build without them).
func (s *LogStore) verifyAll() (unsummed uint64, err error) {
	first, err := s.store.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := s.store.LastIndex()
	if err != nil {
		return 0, err
	}
	if last == 0 {
		return 0, nil
	}
	for i := first; i <= last; i++ {
		var l raft.Log
		summed, err := s.get(i, &l)
		if errors.Is(err, raft.ErrLogNotFound) {
			return 0, s.damaged(i, fmt.Sprintf("is missing between entries %d and %d", first, last))
		}
		if err != nil {
			return 0, err
		}
		if !summed {
			unsummed++
		}
	}
	return unsummed, nil
}
