package owner

import (
	"fmt"
	"time"

	"github.com/raftha/raftha/fsm"
)

// guard is the last line of self-fencing (safety clauses 3, 7 and 8). It
// runs apart from the workers, so a resource call that hangs cannot hold
// it up, and watches every instance whose resources may have taken
// effect. The instance must be stopped by
//
//   - the lease's end + fencing.stop_deadline, once this node's lease for
//     the group at the instance's epoch has run out (or never covered it,
//     for leftovers of an earlier run: from when they were loaded), and
//   - the first failed stop + fencing.stop_deadline, whatever the lease,
//
// or the guard takes the configured hard action (fencing.self_fence_action)
// once. The lease-only winner waits lease + stop_deadline + a margin from
// when the leader last heard from the owner, which ends after either
// deadline (see Config.LeaseOnlyWait and `raftha timing explain`).
func (r *Runner) Guard() {
	s := r.s
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		renewed := s.lease.table.Renewed()
		// Woken by renewals, kicks and deadlines; it also looks at least
		// once a lease, in case a change reached it by none of these.
		next := min(r.guardPass(time.Now()), s.cfg.Timing.Lease.D())
		t.Reset(max(next, time.Millisecond))
		select {
		case <-s.ctx.Done():
			return
		case <-renewed:
		case <-r.guardKick:
		case <-t.C:
		}
	}
}

// kickGuard makes the guard look again now (a resource is about to start,
// or a stop failed).
func (r *Runner) kickGuard() {
	select {
	case r.guardKick <- struct{}{}:
	default:
	}
}

// guardPass checks every instance once at now, takes the hard action for
// those past their deadline, and returns how long until it must look
// again: the next deadline, or the next end of a lease it has seen (it
// also wakes at every renewal and when a stop fails).
func (r *Runner) guardPass(now time.Time) time.Duration {
	s := r.s
	stopDeadline := s.cfg.Fencing.StopDeadline.D()
	next := time.Hour
	for _, w := range r.workerList() {
		w.mu.Lock()
		inst := w.inst
		if w.abandoned || inst == nil || inst.started == 0 || inst.hardDone {
			w.mu.Unlock()
			continue
		}
		if until, ok := s.lease.table.Expiry(w.name, inst.epoch); ok && until.After(inst.validUntil) {
			inst.validUntil = until
		}
		var due time.Time
		if !inst.validUntil.After(now) {
			base := inst.validUntil
			if base.IsZero() {
				base = inst.born
			}
			due = base.Add(stopDeadline)
		}
		for _, at := range []time.Time{inst.stopFailedAt, inst.supersededAt} {
			if d := at.Add(stopDeadline); !at.IsZero() && (due.IsZero() || d.Before(due)) {
				due = d
			}
		}
		fire := !due.IsZero() && !now.Before(due)
		if fire {
			inst.hardDone = true
		}
		epoch, stopFailed, left := inst.epoch, !inst.stopFailedAt.IsZero() || !inst.supersededAt.IsZero(), inst.validUntil.Sub(now)
		w.mu.Unlock()
		switch {
		case fire:
			why := fmt.Sprintf("group %s (epoch %d): resources still up %s after the lease ended", w.name, epoch, stopDeadline)
			if stopFailed {
				why = fmt.Sprintf("group %s (epoch %d): resources could not be stopped within fencing.stop_deadline %s", w.name, epoch, stopDeadline)
			}
			s.selfFenceAction(why)
			s.recordEventually(&fsm.Note{Header: s.host.Header(), Kind: fsm.KindSelfFenceAction, Group: w.name, Node: s.cfg.NodeID, Epoch: epoch,
				Reason: fmt.Sprintf("%s; took self_fence_action %s", why, s.cfg.Fencing.SelfFenceAction)})
		case !due.IsZero():
			next = min(next, due.Sub(now))
		default:
			next = min(next, left)
		}
	}
	return next
}
