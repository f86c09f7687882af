package owner

import (
	"context"
	"fmt"
	"time"

	"github.com/raftha/raftha/resources"
)

// fenceWatch runs the fence checks of a running instance (resources that
// implement resources.FenceChecker, such as a disk resource with
// lock_device), once a heartbeat (dueOnceAnInterval); the runner pokes
// every worker each heartbeat. It needs no leader confirmation, so it
// works while this node is cut off from the leader, and it runs under the lease like any
// other call (a holder's check may rewrite its own lock block). A check
// that fails means storage outside raftha shows a newer owner: the group
// is given up at once through the self-fence path, without waiting for
// the lease to run out; the guard takes the hard action if the resources
// are not stopped within fencing.stop_deadline of the failed check. The
// epoch is then given up (reportFailed): the group is never started here
// again at it. It reports whether it self-fenced.
func (w *worker) fenceWatch(ctx context.Context, inst *instance) bool {
	s := w.r.s
	if !dueOnceAnInterval(&w.fenceWatchNext, time.Now(), s.cfg.Timing.Heartbeat.D()) {
		return false
	}
	for i := 0; i < inst.started && i < len(inst.res); i++ {
		b := inst.res[i]
		fc, ok := b.r.(resources.FenceChecker)
		if !ok {
			continue
		}
		lctx, cancel := s.lease.Bound(ctx, w.name, inst.epoch)
		err := fc.CheckFence(lctx, w.token(inst.epoch, b.name))
		cancel()
		if err == nil {
			continue
		}
		w.log.Error("fence check failed: another owner has the group's storage; giving the group up now", "resource", b.name, "epoch", inst.epoch, "error", err)
		cause := fmt.Sprintf("superseded: fence check of %s (%s) failed: %v", b.name, b.typ, err)
		// A newer owner may already use the storage: the hard action is
		// due stop_deadline from now even if the stop hangs rather than
		// fails (the guard counts from here, not from a failed stop).
		w.mu.Lock()
		if inst.supersededAt.IsZero() {
			inst.supersededAt = time.Now()
		}
		w.mu.Unlock()
		w.r.kickGuard()
		stopErr := w.selfFence(ctx, inst, cause)
		if w.gaveUp == nil {
			reason := cause
			if stopErr != nil {
				reason += "; stopping failed: " + stopErr.Error()
			}
			w.reportFailed(ctx, inst.epoch, reason, stopErr != nil)
		}
		return true
	}
	return false
}

// dueOnceAnInterval reports whether a check that runs once a heartbeat
// interval (hb) is due at now, and if so schedules the next one in *next.
// The passes that run it come once an interval (the runner pokes every
// worker at each lease renewal, or at the tick once renewals stop), but
// at varying times into it (an answer's delay, the passes before it): a
// next run due a whole heartbeat after the last would skip every pass
// that came earlier into its interval than the last one did, so the
// check ran every other interval. Half a heartbeat lets each interval's
// pass run it and still keeps extra passes (log changes, retries) from
// running it more than twice a heartbeat.
func dueOnceAnInterval(next *time.Time, now time.Time, hb time.Duration) bool {
	if now.Before(*next) {
		return false
	}
	*next = now.Add(hb / 2)
	return true
}
