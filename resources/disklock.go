package resources

import "time"

// DiskLockLayout is the disk lock of one resource (a `disk` with
// lock_device), with the type's defaults applied: what `raftha config
// check --groups` validates against the cluster timings and what `raftha
// timing explain --groups` lays out.
type DiskLockLayout struct {
	// LockDevice is the lock partition (lock_device), cleaned.
	LockDevice string
	// DataDevice is the data device (device), cleaned; empty when the
	// resource names a volume_id instead.
	DataDevice string
	// IOTimeout bounds each read and write of the lock partition
	// (lock_io_timeout).
	IOTimeout time.Duration
	// LostAfter is how long a holder tolerates failed reads before it
	// gives the group up (lock_lost_after).
	LostAfter time.Duration
	// Settle is an explicit lock_settle (0: the default, 2 heartbeats +
	// IOTimeout, see SettleFor).
	Settle time.Duration
}

// SettleFor is the lock_settle in effect with the cluster's heartbeat:
// the explicit value, else 2 × heartbeat + IOTimeout.
func (l DiskLockLayout) SettleFor(heartbeat time.Duration) time.Duration {
	if l.Settle > 0 {
		return l.Settle
	}
	return 2*heartbeat + l.IOTimeout
}

// DiskLocker is implemented by the parameters of a resource type that can
// keep a disk lock. DiskLockLayout reports false when this resource has
// none (no lock_device); the layout's DataDevice is set either way, so
// that a lock_device naming another resource's data device is caught.
type DiskLocker interface {
	DiskLockLayout() (DiskLockLayout, bool)
}
