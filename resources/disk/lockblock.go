package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"golang.org/x/sys/unix"
)

// The lock block is the first 4096 bytes of lock_device (format version
// 1, little-endian):
//
//	offset size field
//	     0    8 magic "RAFTHALK"
//	     8    4 format version (1)
//	    12    4 block size (4096)
//	    16    8 epoch: the owner's fencing token from the Raft log
//	    24    8 write time, Unix nanoseconds (informational)
//	    32    4 slot area offset in bytes (4096, see below)
//	    36    4 slot size in bytes (8192; 0 written by older raftha)
//	    40    4 slot count (64; 0 written by older raftha)
//	    44    4 reserved (0)
//	    48   64 cluster id, NUL-padded (empty: raftha has none yet)
//	   112   64 group name, NUL-padded
//	   176   64 owner node id, NUL-padded
//	   240 3852 reserved (0)
//	  4092    4 CRC32C (Castagnoli) of bytes 0..4091
//
// Bytes from 4096 hold the per-node slot area (disk heartbeat, poison
// pill and its acknowledgement; layout in slotblock.go, 528 KiB, inside
// lockMinDeviceSize). Block 0 is unchanged by it: a writer carries the
// slot fields over, and fills them in (4096, 8192, 64) only where they
// are zero; the slot I/O uses the fixed geometry of slot format 1, so a
// block 0 written by an older raftha (zero slot fields) is no format
// break. An all-zero block is a fresh lock device.
const (
	lockBlockSize     = 4096
	lockMagic         = "RAFTHALK"
	lockVersion       = 1
	lockSlotOffset    = lockBlockSize
	lockMinDeviceSize = 1 << 20
	lockNameLen       = 64
	lockCRCOffset     = lockBlockSize - 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the lock block; each is wrapped with the device's name.
var (
	// ErrSuperseded: the lock block holds a higher epoch than this node's:
	// a newer owner has taken the disk. Start refuses to mount, and a
	// holder that reads it gives the group up at once.
	ErrSuperseded = errors.New("superseded: the disk lock holds a higher epoch")
	// ErrLockConflict: the lock block names another group, or another
	// node at this node's own epoch.
	ErrLockConflict = errors.New("the disk lock belongs to another holder")
	// ErrLockCorrupt: the block is neither all zeros nor a valid lock
	// block (bad magic, version or CRC32C).
	ErrLockCorrupt = errors.New("the disk lock block is corrupt")
	// ErrLockIO: a read or write of the lock block failed or did not
	// return within lock_io_timeout.
	ErrLockIO = errors.New("disk lock I/O failed")
	// ErrLockLost: while holding, the lock block could not be read (or
	// was not valid) for longer than lock_lost_after.
	ErrLockLost = errors.New("disk lock lost")
)

// lockRecord is the decoded lock block.
type lockRecord struct {
	Epoch                         uint64
	Written                       time.Time
	SlotOffset, SlotSize, SlotCnt uint32
	Cluster, Group, Owner         string
}

func (r lockRecord) String() string {
	return fmt.Sprintf("group %s owner %s epoch %d written %s", r.Group, r.Owner, r.Epoch, r.Written.UTC().Format(time.RFC3339Nano))
}

// encode returns the block for r, CRC included.
func (r lockRecord) encode() []byte {
	b := make([]byte, lockBlockSize)
	copy(b[0:8], lockMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], lockVersion)
	le.PutUint32(b[12:], lockBlockSize)
	le.PutUint64(b[16:], r.Epoch)
	le.PutUint64(b[24:], uint64(r.Written.UnixNano()))
	le.PutUint32(b[32:], r.SlotOffset)
	le.PutUint32(b[36:], r.SlotSize)
	le.PutUint32(b[40:], r.SlotCnt)
	copy(b[48:48+lockNameLen], r.Cluster)
	copy(b[112:112+lockNameLen], r.Group)
	copy(b[176:176+lockNameLen], r.Owner)
	le.PutUint32(b[lockCRCOffset:], crc32.Checksum(b[:lockCRCOffset], castagnoli))
	return b
}

// decodeLock parses a block. zero reports an all-zero (fresh) block; any
// other block that is not a valid version-1 lock block is ErrLockCorrupt.
func decodeLock(b []byte) (rec lockRecord, zero bool, err error) {
	if len(b) != lockBlockSize {
		return rec, false, fmt.Errorf("%w: %d bytes, want %d", ErrLockCorrupt, len(b), lockBlockSize)
	}
	if allZero(b) {
		return rec, true, nil
	}
	le := binary.LittleEndian
	switch {
	case string(b[0:8]) != lockMagic:
		return rec, false, fmt.Errorf("%w: bad magic %q (not a raftha lock device?)", ErrLockCorrupt, b[0:8])
	case le.Uint32(b[8:]) != lockVersion:
		return rec, false, fmt.Errorf("%w: format version %d, this raftha reads version %d", ErrLockCorrupt, le.Uint32(b[8:]), lockVersion)
	case le.Uint32(b[12:]) != lockBlockSize:
		return rec, false, fmt.Errorf("%w: block size %d, want %d", ErrLockCorrupt, le.Uint32(b[12:]), lockBlockSize)
	}
	if got, want := crc32.Checksum(b[:lockCRCOffset], castagnoli), le.Uint32(b[lockCRCOffset:]); got != want {
		return rec, false, fmt.Errorf("%w: CRC32C %08x, stored %08x", ErrLockCorrupt, got, want)
	}
	rec = lockRecord{
		Epoch:      le.Uint64(b[16:]),
		Written:    time.Unix(0, int64(le.Uint64(b[24:]))),
		SlotOffset: le.Uint32(b[32:]),
		SlotSize:   le.Uint32(b[36:]),
		SlotCnt:    le.Uint32(b[40:]),
		Cluster:    cstring(b[48 : 48+lockNameLen]),
		Group:      cstring(b[112 : 112+lockNameLen]),
		Owner:      cstring(b[176 : 176+lockNameLen]),
	}
	return rec, false, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// readBlockDirect reads block 0 of path with O_DIRECT, past the page
// cache: what another host wrote is what it sees.
func readBlockDirect(path string) ([]byte, error) {
	return readDirectAt(path, 0, lockBlockSize)
}

// writeBlockDirect writes block 0 of path with O_DIRECT|O_DSYNC and
// fdatasync: on return the block is on the device, not in a cache.
func writeBlockDirect(path string, b []byte) error {
	return writeDirectAt(path, 0, b)
}

// deviceSize is the size of the block device at path.
func deviceSize(path string) (int64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.Seek(fd, 0, 2)
}
