package owner

import (
	"context"
	"time"

	"github.com/raftha/raftha/fsm"
)

// A planned stop ends with the owner's offline report. Once the leader has
// applied it, the group belongs to the next owner, which may start at
// once, while this member's own view of the log still says "stopping at
// E, owner: this node" until it applies the same entry a moment later (a
// follower learns of a commit with the leader's next message; an agent
// that restarts replays its log from its last snapshot). A worker that
// took that view at its word would see a stopping group with nothing
// running here and run every Stop again (the path for an agent that
// restarted in the middle of a move): an exec's stop script a second time
// after the next owner's start began, a shared device opened while the
// next owner checks it, and a failure of any of it reported as
// stop-failed on a group that stopped cleanly.
//
// So the worker remembers the report (handedOff, and the run record's
// Stopped for an agent that restarts) until its view of the log has
// passed the epoch (forgetPassed, heldByHandOff). Until then it does nothing for the
// group but re-send the report while the view shows the group here at
// that epoch, at most once a heartbeat and not at all once the leader
// confirmed it. Nothing of the group runs here meanwhile: the report is
// sent only after every Stop succeeded, and the worker starts nothing
// until the view has passed the epoch.

// handOffReport is the offline report that hands the group off once a
// stop at epoch succeeds, or nil when this member's log does not say the
// group is this node's and active at epoch (a lost report then leaves the
// log where it was, and nothing was handed off). A report at epoch can
// only move the log on from it.
func (w *worker) handOffReport(epoch uint64, reason string) *fsm.Report {
	g, ok := w.r.s.fsm.Shared().Groups[w.name]
	if !ok || g.Status.Epoch != epoch || g.Status.Owner != w.r.s.cfg.NodeID || !g.Status.Active() {
		return nil
	}
	return w.offlineReport(epoch, reason)
}

// offlineReport is the report that the group stopped here at epoch.
func (w *worker) offlineReport(epoch uint64, reason string) *fsm.Report {
	return &fsm.Report{Group: w.name, Epoch: epoch, State: fsm.StateOffline, Reason: reason}
}

// handOff records and sends the offline report for epoch once everything
// of the group was stopped here while the log said it was stopping here
// at epoch (a planned move or stop). The record comes first (stopLocal
// wrote it already when the stop was its own, in place of the
// instance's): an agent that crashes after the report and restarts must
// know that it sent it.
func (w *worker) handOff(ctx context.Context, epoch uint64, reason string) {
	if w.handedOff == nil || w.handedOff.Epoch != epoch {
		w.handedOff = w.offlineReport(epoch, reason)
		if err := w.syncRecord(); err != nil {
			// An agent that restarts without it may run the group's
			// Stops again while the next owner starts: untidy, not
			// unsafe.
			w.log.Error("run record of the clean stop not written", "epoch", epoch, "error", err)
		}
	}
	w.handedOffSent = time.Now()
	r := *w.handedOff
	w.handedOffTaken = w.reportState(ctx, &r) == nil
}

// reportShutDown sends the offline report of a member that shut down
// after stopping the group at epoch: the hand-off when the stop was one
// (Shutdown sets handOffOnStop from handOffReport), a plain report
// otherwise.
func (w *worker) reportShutDown(ctx context.Context, epoch uint64) {
	if w.handedOff != nil && w.handedOff.Epoch == epoch {
		w.handOff(ctx, epoch, w.handedOff.Reason)
		return
	}
	w.reportState(ctx, w.offlineReport(epoch, "member shut down"))
}

// heldByHandOff reports whether the worker must do nothing this pass
// because of a clean stop here at an epoch E (w.handedOff) that the log's
// group g (this member's view) has not passed yet (forgetPassed ran
// first). Until then the view only lags: the worker re-sends the report
// while the view shows the group here at E, and otherwise waits; it
// neither stops (what ran here stopped) nor starts at E (the group was
// handed off).
func (w *worker) heldByHandOff(ctx context.Context, g *fsm.Group) bool {
	h := w.handedOff
	if h == nil {
		return false
	}
	if g.Status.Epoch == h.Epoch && g.Status.Owner == w.r.s.cfg.NodeID {
		w.resendHandedOff(ctx) // active at E here: the report can only move it on
	}
	return true
}

// forgetPassed forgets the given-up epoch (gaveUp) and the hand-off once
// this member's log has passed their epoch: passedEpoch on the group g,
// or, when the log has no such group (ok false), once it has applied the
// epoch (the group existed then, so it was deleted since; a view that
// lags has not applied it yet, and a group created again gets a later
// epoch).
func (w *worker) forgetPassed(g *fsm.Group, ok bool) {
	if w.gaveUp == nil && w.handedOff == nil {
		return
	}
	passed := func(e uint64) bool {
		if ok {
			return passedEpoch(g.Status, e)
		}
		return w.r.s.fsm.AppliedIndex() >= e
	}
	changed := false
	if w.gaveUp != nil && passed(w.gaveUp.Epoch) {
		w.gaveUp, changed = nil, true
	}
	if w.handedOff != nil && passed(w.handedOff.Epoch) {
		w.handedOff, changed = nil, true
	}
	if changed {
		if err := w.syncRecord(); err != nil {
			w.log.Error("run record not updated after the log passed the epoch it kept", "error", err)
		}
	}
}

// resendHandedOff re-sends the offline report: at most once a heartbeat,
// and not at all once the leader confirmed it (this member's log is only
// behind, and the change that brings it up to date wakes the worker).
func (w *worker) resendHandedOff(ctx context.Context) {
	if w.handedOffTaken {
		return
	}
	err := w.resend(ctx, w.handedOff, &w.handedOffSent, "re-sending the stopped report; not stopping again at this epoch")
	w.handedOffTaken = err == nil
}

// passedEpoch reports whether the log, whose group status is st, has
// passed epoch e of a group this node owned: the group is at a later
// epoch, or offline or failed at e. At e the group was fencing, starting,
// online, then stopping, all owned by this node, and no entry sets a
// group back to any of those at the same epoch once it is offline or
// failed (a retry, a placement or a move assigns a new epoch). A view at
// an earlier epoch, or without the group, only lags: an agent that
// restarts sees its last snapshot until the leader's log reaches it, and
// a follower applies an entry a moment after the leader did.
func passedEpoch(st fsm.GroupStatus, e uint64) bool {
	return st.Epoch > e || (st.Epoch == e && !st.Active())
}
