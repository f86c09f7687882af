package disk

import (
	"path/filepath"

	"github.com/raftha/raftha/resources"
)

// DiskLockLayout implements resources.DiskLocker: the lock_* keys with
// this package's defaults, for the layout checks of `raftha config check
// --groups` and the disk path of `raftha timing explain --groups`.
// Without lock_device only DataDevice is set.
func (p *Params) DiskLockLayout() (resources.DiskLockLayout, bool) {
	var l resources.DiskLockLayout
	if p.Device != "" {
		l.DataDevice = filepath.Clean(p.Device)
	}
	if p.LockDevice == "" {
		return l, false
	}
	l.LockDevice = filepath.Clean(p.LockDevice)
	l.IOTimeout = resources.DurationOr(p.LockIOTimeout, defaultLockIOTimeout)
	l.LostAfter = resources.DurationOr(p.LockLostAfter, defaultLockLostAfter)
	l.Settle = resources.DurationOr(p.LockSettle, 0)
	return l, true
}
