package disk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LockInfo is what the lock block of a lock_device says (`raftha disk
// lock show`).
type LockInfo struct {
	// Fresh: the block is all zeros (no owner yet).
	Fresh bool
	// Group, Owner and Epoch are the holder; Cluster is empty today.
	Group, Owner, Cluster string
	// Epoch is the holder's fencing token.
	Epoch uint64
	// Written is when the holder wrote the block (its clock).
	Written time.Time
	// SlotCount is the number of per-node slots block 0 describes (64; 0
	// when an older raftha wrote it).
	SlotCount uint32
}

// ErrLockHeld is returned by InitLock for a block that holds a valid lock,
// without force.
var ErrLockHeld = errors.New("the lock block holds a valid lock")

func adminLock(path string, timeout time.Duration) *diskLock {
	if timeout <= 0 {
		timeout = defaultLockIOTimeout
	}
	return &diskLock{path: path, log: hclog.NewNullLogger(), ioTimeout: timeout, lostAfter: timeout, read: readBlockDirect, write: writeBlockDirect}
}

// ReadLock reads the lock block of the lock device at path with direct
// I/O, bounded by timeout (lock_io_timeout's default when 0). A block that
// is neither zero nor valid is ErrLockCorrupt; I/O failures are ErrLockIO.
func ReadLock(path string, timeout time.Duration) (LockInfo, error) {
	raw, err := adminLock(path, timeout).readRaw(context.Background())
	if err != nil {
		return LockInfo{}, err
	}
	rec, zero, err := decodeLock(raw)
	if err != nil {
		return LockInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return LockInfo{Fresh: zero, Group: rec.Group, Owner: rec.Owner, Cluster: rec.Cluster, Epoch: rec.Epoch, Written: rec.Written, SlotCount: rec.SlotCnt}, nil
}

// InitLock zeroes the lock block at path (a fresh lock: the next start
// writes its own epoch), synced, and reads it back. It refuses a block
// that holds a valid lock (ErrLockHeld) unless force: zeroing a held
// lock lets a stale owner mount again, so do it only when no node has
// the file system mounted.
func InitLock(path string, timeout time.Duration, force bool) error {
	l := adminLock(path, timeout)
	ctx := context.Background()
	if !force {
		info, err := ReadLock(path, timeout)
		if err == nil && !info.Fresh {
			return fmt.Errorf("%w (group %s, owner %s, epoch %d) on %s; pass force to zero it anyway", ErrLockHeld, info.Group, info.Owner, info.Epoch, path)
		}
		if err != nil && !errors.Is(err, ErrLockCorrupt) {
			return err
		}
	}
	zero := make([]byte, lockBlockSize)
	if err := l.bounded(ctx, "write of lock block on", func() error { return l.write(path, zero) }); err != nil {
		return err
	}
	info, err := ReadLock(path, timeout)
	if err != nil {
		return err
	}
	if !info.Fresh {
		return fmt.Errorf("%w: %s: the block read back after zeroing is not zero", ErrLockIO, path)
	}
	return nil
}
