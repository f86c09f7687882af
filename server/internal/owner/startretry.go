package owner

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
)

// startRetry is a worker's start retries at one epoch: how many it made
// and when the next one is due. The count is never reset within an epoch
// (a monitor restart whose start fails uses the same budget), so every
// path of failing starts ends in a failed report and a failover.
type startRetry struct {
	epoch uint64
	done  int
	at    time.Time
}

// retryWaiting reports whether a retry of the start at epoch is scheduled
// and not due yet (its timer pokes the worker when it is).
func (w *worker) retryWaiting(epoch uint64) bool {
	return w.retry.epoch == epoch && w.retry.done > 0 && time.Now().Before(w.retry.at)
}

// retryStart decides, after a start at g's epoch failed and everything it
// started was stopped (the failed resource included), whether to start
// again on this node at the same epoch (GroupSpec.StartRetries) instead of
// reporting the group failed. It schedules the retry, records a
// start-retry event and returns true; or it adds the retries made to
// *reason and returns false: the caller reports the group failed.
//
// A retry keeps the safety argument: nothing of the group runs here while
// it waits (the stop succeeded; a failed stop never gets here), it starts
// only through start, which confirms ownership at this epoch with the
// leader and checks the lease before every resource, and the worker's
// reconcile pass, not the retry, decides whether the group is still this
// node's at this epoch: a log that moved on stops the retries at once.
func (w *worker) retryStart(ctx context.Context, g *fsm.Group, reason *string) bool {
	s := w.r.s
	epoch := g.Status.Epoch
	if w.retry.epoch != epoch {
		// The retries already recorded at this epoch count, so that an
		// agent restarted while it retried does not get a fresh budget.
		w.retry = startRetry{epoch: epoch}
		for _, e := range s.fsm.View().Events {
			if e.Kind == fsm.KindStartRetry && e.Group == w.name && e.Epoch == epoch && e.Node == s.cfg.NodeID {
				w.retry.done++
			}
		}
	}
	allowed := max(g.Spec.StartRetries, 0)
	if w.retry.done >= allowed || s.leaving.Load() || ctx.Err() != nil {
		if w.retry.done > 0 {
			*reason += fmt.Sprintf(" (after %d start retries on %s)", w.retry.done, s.cfg.NodeID)
		}
		return false
	}
	w.retry.done++
	delay := g.Spec.StartRetryDelay(w.retry.done)
	w.retry.at = time.Now().Add(delay)
	time.AfterFunc(delay, w.poke)
	note := fmt.Sprintf("%s; everything stopped; retry %d of %d on %s in %s", *reason, w.retry.done, allowed, s.cfg.NodeID, delay)
	w.log.Warn("start failed and was stopped; retrying on this node", "epoch", epoch, "retry", w.retry.done, "of", allowed, "in", delay)
	// Recorded before the retry can start, so that its reason never
	// overwrites a later online report's: a note that cannot be recorded
	// now is left out (the failed report, if it comes, counts the retries).
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(delay, s.cfg.Timing.Lease.D()))
	defer cancel()
	if _, err := s.commit(nctx, &fsm.Note{Header: s.host.Header(), Kind: fsm.KindStartRetry, Group: w.name, Node: s.cfg.NodeID, Epoch: epoch, Reason: note}); err != nil {
		s.logLimit.Log(w.log, hclog.Warn, "start-retry-note/"+w.name, "start retry not recorded in the history", "epoch", epoch, "error", err)
	}
	return true
}
