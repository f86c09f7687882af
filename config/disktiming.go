package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// ErrDiskLockLayout: a disk resource's lock_* settings do not fit the
// cluster's timings (see CheckDiskLock).
var ErrDiskLockLayout = errors.New("disk lock layout")

// diskIOEstimate is a typical direct-I/O read or write of one 4 KiB block
// on an EBS io2 volume.
const diskIOEstimate = time.Millisecond

// DiskPath is the disk-lock path of one lock_device against the cluster's
// timings: what `raftha timing explain --groups` prints.
type DiskPath struct {
	// Layout is the resource's lock settings, defaults applied.
	Layout resources.DiskLockLayout
	// Settle is the lock_settle in effect (Layout.SettleFor(heartbeat)).
	Settle time.Duration
	// Acquire is the winner's start before fsck and the mount.
	Acquire []BudgetStep
	// Superseded is how soon after the winner's write a holder that can
	// read its disk sees the higher epoch (its re-read every heartbeat,
	// each up to lock_io_timeout); it then stops within stop_deadline.
	Superseded time.Duration
	// SelfFence is when an owner cut off from the leader stops acting:
	// lease + stop_deadline + self-fence grace after its last heartbeat.
	SelfFence time.Duration
	// Pill is the lease-only best case, from the confirmed takeover to the
	// winner reading the loser's acknowledgement (empty in aws-stop mode).
	Pill []BudgetStep
	// LeaseOnlyWait is the worst case of the pill path: a loser that does
	// not acknowledge is waited for this long after its last contact.
	LeaseOnlyWait time.Duration
}

// DiskPathOf lays out the disk path of l with the cluster settings cs.
func DiskPathOf(cs fsm.ClusterSettings, l resources.DiskLockLayout) DiskPath {
	hb, io := cs.Heartbeat, l.IOTimeout
	p := DiskPath{Layout: l, Settle: l.SettleFor(hb), Superseded: hb + io, SelfFence: cs.Lease + cs.StopDeadline + selfFenceGrace}
	p.Acquire = []BudgetStep{
		{"read the lock block (O_DIRECT); a higher epoch refuses the start", diskIOEstimate, io, "lock_io_timeout"},
		{"write own owner and epoch (O_DIRECT|O_DSYNC, fdatasync)", diskIOEstimate, io, "lock_io_timeout"},
		{"read it back", diskIOEstimate, io, "lock_io_timeout"},
		{"settle: wait lock_settle", p.Settle, p.Settle, fmt.Sprintf("a holder re-reads every heartbeat (%s), each read up to lock_io_timeout: it sees this write, and a stale writer's overwrite shows", hb)},
		{"read again, then fsck and mount", diskIOEstimate, io, "lock_io_timeout; a lower epoch found here is overwritten and settled again (up to 3 rounds)"},
	}
	if cs.FencingMode == FencingLeaseOnly {
		p.LeaseOnlyWait = LeaseOnlyWaitOf(cs)
		p.Pill = []BudgetStep{
			{"winner writes a poison pill into the loser's mailbox slot", diskIOEstimate, io, "after the takeover is confirmed; lock_io_timeout"},
			{"loser reads it at its next heartbeat", hb / 2, hb + io, "it reads its slot every heartbeat, each read up to lock_io_timeout"},
			{"loser stops the group", 0, cs.StopDeadline, "fencing.stop_deadline (self_fence_action if the stop fails)"},
			{"loser writes its acknowledgement (only after a successful stop)", diskIOEstimate, io, "lock_io_timeout"},
			{"winner reads the acknowledgement at its next poll", hb / 2, hb + io, "it polls every heartbeat"},
		}
	}
	return p
}

// CheckDiskLock checks a disk lock's settings against the cluster's
// timings. errs (each wrapping ErrDiskLockLayout) refuse the group: an
// explicit lock_settle shorter than 2 × heartbeat + lock_io_timeout leaves
// a holder no time to see the new epoch, nor a stale writer's overwrite
// time to show, before the mount. warns are availability risks and the
// bounds the disk path does not give: lock_lost_after too short for two
// re-reads (one slow read gives the group up), and, in lease-only mode,
// lock_lost_after longer than the lease-only wait (the disk lock then
// cannot give the group up before a winner may mount; safety rests on
// the lease alone, as without the disk lock). lock_io_timeout longer than
// lock_lost_after is refused by the resource's own validation.
func CheckDiskLock(cs fsm.ClusterSettings, l resources.DiskLockLayout) (errs []error, warns []string) {
	hb := cs.Heartbeat
	if floor := 2*hb + l.IOTimeout; l.Settle > 0 && l.Settle < floor {
		errs = append(errs, fmt.Errorf("%w: lock_settle %s is shorter than 2 x timing.heartbeat (%s) + lock_io_timeout (%s) = %s: a holder re-reads its lock every heartbeat, each read taking up to lock_io_timeout, so it might neither see this node's epoch nor put its own back before the mount; raise lock_settle to at least %s or remove it",
			ErrDiskLockLayout, l.Settle, hb, l.IOTimeout, floor, floor))
	}
	if floor := l.IOTimeout + 2*hb; l.LostAfter < floor {
		warns = append(warns, fmt.Sprintf("lock_lost_after %s is shorter than lock_io_timeout (%s) + 2 x timing.heartbeat (%s) = %s: fewer than two re-reads fit in it, so one slow read of the lock partition gives the group up",
			l.LostAfter, l.IOTimeout, hb, floor))
	}
	if cs.FencingMode == FencingLeaseOnly {
		if wait := LeaseOnlyWaitOf(cs); l.LostAfter > wait {
			warns = append(warns, fmt.Sprintf("lock_lost_after %s is longer than the lease-only wait %s: a holder that cannot read its lock partition keeps the group past the moment a winner may mount, so the disk lock is no second bound on a cut-off owner and safety rests on its lease alone (as without lock_device); set lock_lost_after to at most %s",
				l.LostAfter, wait, wait))
		}
	}
	return errs, warns
}
