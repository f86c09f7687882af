package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The slot area (format version 1) follows the lock block on lock_device:
// slotCount slots of slotSize bytes from byte slotAreaOffset (4096), so it
// ends at 4096 + 64*8192 = 528 KiB, inside lockMinDeviceSize. Each slot is
// two 4 KiB blocks, and each block has exactly one writer:
//
//   - the own block (slot offset 0), written only by the node that claimed
//     the slot: its disk heartbeat and its acknowledgement of a pill;
//   - the mailbox (slot offset 4096), written only by a winner: the poison
//     pill it addresses to the slot's node.
//
// Own block, little-endian:
//
//	offset size field
//	     0    8 magic "RAFTHASO"
//	     8    4 format version (1)
//	    12    4 slot index (a block found at another index is corrupt)
//	    16    8 heartbeat counter (+1 on every write)
//	    24    8 write time, Unix nanoseconds (informational)
//	    32   64 node id, NUL-padded
//	    96   64 ack: group name, NUL-padded (empty: no ack)
//	   160    8 ack: pill epoch acknowledged
//	   168    8 ack: time, Unix nanoseconds
//	   176   64 ack: this node's instance id, NUL-padded (may be empty)
//	   240 3852 reserved (0)
//	  4092    4 CRC32C of bytes 0..4091
//
// Mailbox, little-endian:
//
//	   0    8 magic "RAFTHAPL"
//	   8    4 format version (1)
//	  12    4 slot index
//	  16    8 pill epoch: the winner's epoch
//	  24    8 write time, Unix nanoseconds
//	  32   64 target node id (the loser)
//	  96   64 from: the winner's node id
//	 160   64 group name
//	 224 3868 reserved (0)
//	4092    4 CRC32C of bytes 0..4091
//
// An all-zero block is an unused slot or an empty mailbox. Readers check
// the node ids in every block, so a slot that two nodes claimed at once
// costs liveness (a pill or an ack that is not seen), never safety.
const (
	slotAreaOffset = lockSlotOffset
	slotCount      = 64
	slotSize       = 2 * lockBlockSize
	slotVersion    = 1
	slotOwnMagic   = "RAFTHASO"
	slotPillMagic  = "RAFTHAPL"
	slotAreaSize   = slotCount * slotSize
)

// ownRecord is a decoded own block.
type ownRecord struct {
	Index   int
	Counter uint64
	Written time.Time
	Node    string
	Ack     ackRecord
}

// ackRecord is a node's acknowledgement of the pill of Group at Epoch.
type ackRecord struct {
	Group    string
	Epoch    uint64
	At       time.Time
	Instance string
}

// pillRecord is a decoded mailbox.
type pillRecord struct {
	Index   int
	Epoch   uint64
	Written time.Time
	Target  string
	From    string
	Group   string
}

func (r pillRecord) String() string {
	return fmt.Sprintf("pill for %s from %s, group %s epoch %d, written %s", r.Target, r.From, r.Group, r.Epoch, r.Written.UTC().Format(time.RFC3339Nano))
}

func slotHeader(magic string, index int) []byte {
	b := make([]byte, lockBlockSize)
	copy(b[0:8], magic)
	binary.LittleEndian.PutUint32(b[8:], slotVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(index))
	return b
}

func sealBlock(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[lockCRCOffset:], crc32.Checksum(b[:lockCRCOffset], castagnoli))
	return b
}

func (r ownRecord) encode() []byte {
	b := slotHeader(slotOwnMagic, r.Index)
	le := binary.LittleEndian
	le.PutUint64(b[16:], r.Counter)
	le.PutUint64(b[24:], uint64(r.Written.UnixNano()))
	copy(b[32:32+lockNameLen], r.Node)
	if r.Ack.Group != "" {
		copy(b[96:96+lockNameLen], r.Ack.Group)
		le.PutUint64(b[160:], r.Ack.Epoch)
		le.PutUint64(b[168:], uint64(r.Ack.At.UnixNano()))
		copy(b[176:176+lockNameLen], r.Ack.Instance)
	}
	return sealBlock(b)
}

func (r pillRecord) encode() []byte {
	b := slotHeader(slotPillMagic, r.Index)
	le := binary.LittleEndian
	le.PutUint64(b[16:], r.Epoch)
	le.PutUint64(b[24:], uint64(r.Written.UnixNano()))
	copy(b[32:32+lockNameLen], r.Target)
	copy(b[96:96+lockNameLen], r.From)
	copy(b[160:160+lockNameLen], r.Group)
	return sealBlock(b)
}

// checkSlotBlock validates magic, version, index and CRC32C of a slot
// block; zero reports an all-zero block.
func checkSlotBlock(b []byte, magic string, index int) (zero bool, err error) {
	if len(b) != lockBlockSize {
		return false, fmt.Errorf("%w: slot block of %d bytes", ErrLockCorrupt, len(b))
	}
	if allZero(b) {
		return true, nil
	}
	le := binary.LittleEndian
	switch {
	case string(b[0:8]) != magic:
		return false, fmt.Errorf("%w: slot %d: bad magic %q, want %q", ErrLockCorrupt, index, b[0:8], magic)
	case le.Uint32(b[8:]) != slotVersion:
		return false, fmt.Errorf("%w: slot %d: format version %d, this raftha reads version %d", ErrLockCorrupt, index, le.Uint32(b[8:]), slotVersion)
	case int(le.Uint32(b[12:])) != index:
		return false, fmt.Errorf("%w: slot %d: block names slot %d", ErrLockCorrupt, index, le.Uint32(b[12:]))
	}
	if got, want := crc32.Checksum(b[:lockCRCOffset], castagnoli), le.Uint32(b[lockCRCOffset:]); got != want {
		return false, fmt.Errorf("%w: slot %d: CRC32C %08x, stored %08x", ErrLockCorrupt, index, got, want)
	}
	return false, nil
}

// decodeOwn parses the own block of slot index.
func decodeOwn(b []byte, index int) (r ownRecord, zero bool, err error) {
	if zero, err = checkSlotBlock(b, slotOwnMagic, index); zero || err != nil {
		return r, zero, err
	}
	le := binary.LittleEndian
	r = ownRecord{Index: index, Counter: le.Uint64(b[16:]), Written: time.Unix(0, int64(le.Uint64(b[24:]))), Node: cstring(b[32 : 32+lockNameLen])}
	if g := cstring(b[96 : 96+lockNameLen]); g != "" {
		r.Ack = ackRecord{Group: g, Epoch: le.Uint64(b[160:]), At: time.Unix(0, int64(le.Uint64(b[168:]))), Instance: cstring(b[176 : 176+lockNameLen])}
	}
	if r.Node == "" {
		return r, false, fmt.Errorf("%w: slot %d: own block without a node id", ErrLockCorrupt, index)
	}
	return r, false, nil
}

// decodePill parses the mailbox of slot index.
func decodePill(b []byte, index int) (r pillRecord, zero bool, err error) {
	if zero, err = checkSlotBlock(b, slotPillMagic, index); zero || err != nil {
		return r, zero, err
	}
	le := binary.LittleEndian
	r = pillRecord{Index: index, Epoch: le.Uint64(b[16:]), Written: time.Unix(0, int64(le.Uint64(b[24:]))),
		Target: cstring(b[32 : 32+lockNameLen]), From: cstring(b[96 : 96+lockNameLen]), Group: cstring(b[160 : 160+lockNameLen])}
	return r, false, nil
}

// ownOffset and mailOffset are the byte offsets of slot i's blocks.
func ownOffset(i int) int64  { return slotAreaOffset + int64(i)*slotSize }
func mailOffset(i int) int64 { return ownOffset(i) + lockBlockSize }

// alignedBuf returns an n-byte buffer (n a multiple of lockBlockSize)
// aligned for O_DIRECT (Go's heap does not move objects).
func alignedBuf(n int) []byte {
	raw := make([]byte, n+lockBlockSize)
	off := int(uintptr(unsafe.Pointer(&raw[0])) & (lockBlockSize - 1))
	if off != 0 {
		off = lockBlockSize - off
	}
	return raw[off : off+n : off+n]
}

var errShortIO = errors.New("short I/O")

// readDirectAt reads n bytes at off of path with O_DIRECT.
func readDirectAt(path string, off int64, n int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := alignedBuf(n)
	got, err := unix.Pread(fd, buf, off)
	if err != nil {
		return nil, fmt.Errorf("read at %d: %w", off, err)
	}
	if got != n {
		return nil, fmt.Errorf("%w: read %d of %d bytes at %d", errShortIO, got, n, off)
	}
	return append([]byte(nil), buf...), nil
}

// writeDirectAt writes one block at off of path with O_DIRECT|O_DSYNC and
// fdatasync.
func writeDirectAt(path string, off int64, b []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_DIRECT|unix.O_DSYNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	buf := alignedBuf(len(b))
	copy(buf, b)
	n, err := unix.Pwrite(fd, buf, off)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%w: wrote %d of %d bytes at %d", errShortIO, n, len(b), off)
	}
	if err == nil {
		if err = unix.Fdatasync(fd); err != nil {
			err = fmt.Errorf("fdatasync: %w", err)
		}
	} else {
		err = fmt.Errorf("write at %d: %w", off, err)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}
