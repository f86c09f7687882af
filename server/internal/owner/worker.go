package owner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
)

// start starts the group's resources in order. Before each one it confirms
// with the leader that this node still owns the group at this epoch
// (safety argument, clause 2) and re-checks its lease; the call runs under
// a context that ends the moment the lease does (clause 8). A resource
// counts as started from the moment Start is called: a Start that fails
// may have taken effect, so it is stopped with the others (clause 7).
func (w *worker) start(ctx context.Context, g *fsm.Group) {
	s := w.r.s
	epoch := g.Status.Epoch
	w.mu.Lock()
	inst := w.inst
	w.mu.Unlock()
	if inst == nil && w.retryWaiting(epoch) {
		return // a failed start was stopped; its retry is not due yet
	}
	steps := w.steps(epoch)
	if steps.began.IsZero() {
		steps.began = time.Now()
	}
	release := func() {}
	var slot func() // the start slot held, if any
	if inst == nil || inst.started == 0 {
		var ok bool
		t := time.Now()
		if release, ok = w.r.startSlot(ctx); !ok { // startslots.go
			return
		}
		steps.slotWait += time.Since(t)
		defer release()
		slot = release
		if !w.stillToStart(epoch) { // the log moved on while it waited
			w.poke()
			return
		}
	}
	if inst == nil || inst.epoch != epoch {
		var err error
		inst, err = w.build(g.Spec.Resources, epoch)
		if err != nil {
			w.log.Error("cannot build resources", "epoch", epoch, "error", err)
			w.reportFailed(ctx, epoch, err.Error(), false)
			return
		}
		w.mu.Lock()
		w.inst = inst
		w.mu.Unlock()
	}
	for i := inst.started; i < len(inst.res); i++ {
		b := inst.res[i]
		if err := timed(&steps.startConfirm, func() error { return s.confirm(ctx, w.name, epoch) }); err != nil {
			if errors.Is(err, errs.ErrNotOwner) {
				w.log.Warn("ownership not confirmed; starting nothing", "epoch", epoch, "error", err)
				w.stopLocal(ctx, "ownership not confirmed")
			} else {
				s.logLimit.Log(w.log, hclog.Info, "confirm-start/"+w.name, "cannot confirm ownership yet; will retry", "epoch", epoch, "resource", b.name, "error", err)
			}
			return
		}
		if !inst.recorded {
			if err := timed(&steps.record, w.syncRecord); err != nil {
				w.log.Error("cannot record what is about to start; starting nothing", "epoch", epoch, "error", err)
				w.stopLocal(ctx, "run record not written")
				w.reportFailed(ctx, epoch, err.Error(), false)
				return
			}
		}
		// The lease is checked again right before the side effect, and
		// bounds it: a call still running when the lease ends is
		// cancelled, and the guard takes over if it does not return.
		lctx, cancel := s.lease.Bound(ctx, w.name, epoch)
		if lctx.Err() != nil {
			cancel()
			s.logLimit.Log(w.log, hclog.Warn, "lease-start/"+w.name, "lease ran out between confirmation and start; starting nothing", "epoch", epoch, "resource", b.name)
			return
		}
		w.mu.Lock()
		inst.started = i + 1
		w.mu.Unlock()
		w.r.kickGuard() // the guard watches it from now on
		w.log.Info("starting resource", "resource", b.name, "type", b.typ, "epoch", epoch)
		// A Start that hangs past its context gives the slot back (startslots.go).
		returned := w.watchSlot(lctx, epoch, b, slot)
		err := timed(&steps.start, func() error { return w.startTracked(lctx, epoch, b) }) // resstate.go
		if returned() {
			slot = nil
		}
		if err != nil && errors.Is(context.Cause(lctx), ErrLeaseLost) {
			err = fmt.Errorf("%w (%v)", ErrLeaseLost, err)
		}
		cancel()
		if err != nil {
			reason := fmt.Sprintf("start of %s (%s) failed: %v", b.name, b.typ, err)
			w.log.Error("resource failed to start; stopping the group, that resource included", "resource", b.name, "epoch", epoch, "error", err)
			stopErr := w.stopLocal(ctx, "start failed")
			if stopErr != nil {
				reason += "; stopping failed (only a fenced takeover may move the group): " + stopErr.Error()
			} else if w.retryStart(ctx, g, &reason) {
				return // everything stopped: started again later, at this epoch
			}
			w.reportFailed(ctx, epoch, reason, stopErr != nil)
			return
		}
	}
	w.mu.Lock()
	inst.online = true
	w.mu.Unlock()
	if w.fenceEpoch == epoch && !w.fenceSeen.IsZero() {
		s.metrics.TakeoverToOnline.Observe(time.Since(w.fenceSeen).Seconds())
	}
	w.log.Info("group online", "epoch", epoch)
	release() // the report needs no slot
	w.reportOnline(ctx, epoch)
}

// stopLocal stops what may run here in reverse order. When every stop
// succeeds the instance and its run record are gone. When one fails, the
// instance stays (Stop is idempotent: the next pass stops it all again),
// and the guard takes the hard action unless a retry succeeds within
// fencing.stop_deadline.
func (w *worker) stopLocal(ctx context.Context, why string) error {
	hb := w.r.s.cfg.Timing.Heartbeat.D()
	w.mu.Lock()
	inst := w.inst
	if w.abandoned || inst == nil {
		w.mu.Unlock()
		return nil
	}
	// A failed stop is retried at most once a heartbeat (passes come
	// far more often while the lease is gone).
	if since := time.Since(inst.lastStop); !inst.stopFailedAt.IsZero() && since < hb {
		err := inst.stopErr
		w.mu.Unlock()
		time.AfterFunc(hb-since, w.poke)
		return err
	}
	// From the first stop on, the instance is finished: it is only ever
	// stopped again, never monitored or continued (reconcile).
	inst.stopping, inst.lastStop = true, time.Now()
	w.mu.Unlock()
	// A stop is not cut short because its caller was cancelled (shutdown
	// cancels the workers): it keeps only the caller's deadline, and each
	// resource bounds its own stop.
	sctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(sctx, d)
		defer cancel()
	}
	ctx = sctx
	w.log.Info("stopping group", "epoch", inst.epoch, "why", why)
	var errs []error
	for i := inst.started - 1; i >= 0; i-- {
		b := inst.res[i]
		if err := w.stopTracked(ctx, inst.epoch, b); err != nil {
			w.log.Error("resource failed to stop", "resource", b.name, "epoch", inst.epoch, "error", err)
			errs = append(errs, fmt.Errorf("stop of %s failed: %w", b.name, err))
		}
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		w.mu.Lock()
		first := inst.stopFailedAt.IsZero()
		if first {
			inst.stopFailedAt = time.Now()
		}
		inst.stopErr = err
		w.mu.Unlock()
		if first {
			w.r.kickGuard()
		}
		time.AfterFunc(hb, w.poke) // retry
		return err
	}
	w.mu.Lock()
	if w.inst == inst {
		w.inst = nil
	}
	w.cleanFailed = false // everything of the group was stopped here just now
	w.mu.Unlock()
	// A stop that hands the group off replaces the instance's record with
	// the hand-off's in one write (handedoff.go).
	if h := w.handOffOnStop; h != nil && h.Epoch == inst.epoch {
		w.handedOff, w.handedOffTaken = h, false
	}
	if err := w.syncRecord(); err != nil {
		w.log.Error("run record not updated after a clean stop", "error", err)
	}
	return nil
}

// ensureStopped runs every resource's Stop (idempotent) without having
// started it here: cleanup on first sight of a group that has no run
// record (an agent from before run records may have left it).
func (w *worker) ensureStopped(ctx context.Context, g *fsm.Group) error {
	inst, err := w.build(g.Spec.Resources, g.Status.Epoch)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(inst.res) - 1; i >= 0; i-- {
		b := inst.res[i]
		if err := b.r.Stop(ctx, w.token(g.Status.Epoch, b.name)); err != nil {
			w.log.Debug("cleanup stop failed", "resource", b.name, "error", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// selfFence stops a group whose lease ran out (cause "lease expired"), or
// that a resource's fence check found superseded (fencewatch.go): this
// node can no longer prove it owns it, so it must assume someone else
// may. The stop has fencing.stop_deadline; the guard takes the hard
// action if the resources are still up by then (or a stop failed that
// long ago), whatever this goroutine is doing. It returns the stop's
// error.
func (w *worker) selfFence(ctx context.Context, inst *instance, cause string) error {
	s := w.r.s
	deadline := s.cfg.Fencing.StopDeadline.D()
	w.mu.Lock()
	first := !inst.selfFenced
	inst.selfFenced = true
	w.mu.Unlock()
	if first {
		s.metrics.SelfFences.Inc()
		w.log.Warn(cause+": self-fencing, stopping resources in reverse order", "epoch", inst.epoch, "stop_deadline", deadline)
	}
	sctx, cancel := context.WithTimeout(ctx, deadline)
	err := w.stopLocal(sctx, cause)
	cancel()
	if err != nil && !first {
		return err // retried every heartbeat; the first attempt was recorded
	}
	reason := cause + "; resources stopped"
	if err != nil {
		reason = fmt.Sprintf("%s; stopping resources failed (retrying; hard action %s if they are not stopped within fencing.stop_deadline %s): %v", cause, s.cfg.Fencing.SelfFenceAction, deadline, err)
	}
	w.log.Warn("self-fenced", "epoch", inst.epoch, "result", reason)
	// The leader is likely unreachable right now (that is why the lease
	// ran out): keep trying to record the event until it lands.
	s.recordEventually(&fsm.Note{Header: s.host.Header(), Kind: fsm.KindSelfFenced, Group: w.name, Node: s.cfg.NodeID, Epoch: inst.epoch, Reason: reason})
	return err
}

// syncRecord makes the run record match what may run here: the instance's
// spec and epoch and the report given up on, or no record when neither.
func (w *worker) syncRecord() error {
	s := w.r.s
	w.mu.Lock()
	inst := w.inst
	w.mu.Unlock()
	if inst == nil && w.gaveUp == nil && w.handedOff == nil {
		return s.records.Remove(w.name)
	}
	rec := RunRecord{Group: w.name, GaveUp: w.gaveUp, Stopped: w.handedOff}
	switch {
	case inst != nil:
		rec.Epoch, rec.Resources = inst.epoch, inst.spec
	case w.gaveUp != nil:
		rec.Epoch = w.gaveUp.Epoch
	default:
		rec.Epoch = w.handedOff.Epoch
	}
	if err := s.records.Write(rec); err != nil {
		return err
	}
	if inst != nil {
		w.mu.Lock()
		inst.recorded = true
		w.mu.Unlock()
	}
	return nil
}

func (w *worker) reportStopped(ctx context.Context, epoch uint64, stopErr error) {
	if stopErr != nil {
		w.reportFailed(ctx, epoch, "stop failed: "+stopErr.Error(), true)
		return
	}
	w.handOff(ctx, epoch, "stopped on request") // handedoff.go
}

// reportFailed reports the group failed here; stopFailed says its
// resources could not be stopped, so only a fenced takeover may move it.
// From then on the worker has given up on the epoch: it never starts the
// group at that epoch again, and re-sends the report until the log moves
// on (a report whose RPC failed may still commit later).
func (w *worker) reportFailed(ctx context.Context, epoch uint64, reason string, stopFailed bool) {
	w.gaveUp = &fsm.Report{Group: w.name, Epoch: epoch, State: fsm.StateFailed, Reason: reason, StopFailed: stopFailed}
	w.gaveUpSent = time.Now()
	if stopFailed {
		w.r.noteHandoverFailure(w.name, epoch, reason)
	}
	if err := w.syncRecord(); err != nil {
		// An agent that restarts would not know it gave up on this epoch
		// and could start again at it: only a fenced move is safe then.
		w.log.Error("cannot record the given-up epoch; reporting it stop-failed so that only a fenced takeover moves it", "epoch", epoch, "error", err)
		w.gaveUp.StopFailed = true
		w.gaveUp.Reason += "; run record not written (" + err.Error() + ")"
	}
	r := *w.gaveUp
	w.reportState(ctx, &r)
}

// resendGaveUp re-sends the failed report, at most once a heartbeat.
func (w *worker) resendGaveUp(ctx context.Context) {
	w.resend(ctx, w.gaveUp, &w.gaveUpSent, "re-sending the failed report; not starting again at this epoch")
}

// resend re-sends rep if the last send (*sent) was a heartbeat ago or
// more, and wakes the worker a heartbeat later to look again; otherwise
// it wakes the worker when that heartbeat is up. It returns the send's
// error, or errNotSent when it did not send.
func (w *worker) resend(ctx context.Context, rep *fsm.Report, sent *time.Time, msg string) error {
	hb := w.r.s.cfg.Timing.Heartbeat.D()
	if wait := hb - time.Since(*sent); wait > 0 {
		time.AfterFunc(wait, w.poke)
		return errNotSent
	}
	*sent = time.Now()
	w.r.s.logLimit.Log(w.log, hclog.Info, "resend/"+w.name+"/"+string(rep.State), msg, "epoch", rep.Epoch)
	r := *rep
	err := w.reportState(ctx, &r)
	time.AfterFunc(hb, w.poke)
	return err
}

// errNotSent: resend did not send, the last send being too recent.
var errNotSent = errors.New("not re-sent yet")

// reportState commits r through the leader; its error says only that
// the commit was not confirmed (it may still have been applied).
func (w *worker) reportState(ctx context.Context, r *fsm.Report) error {
	s := w.r.s
	epoch, state := r.Epoch, r.State
	r.Header, r.Node = s.host.Header(), s.cfg.NodeID
	// A report says what already happened here; the runner's cancellation
	// (Shutdown) must not cut it off in flight, or the leader never learns
	// that a planned stop finished and has to treat this node as lost.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), proposeTimeout)
	defer cancel()
	var err error
	if f := s.reportFilter.Load(); f != nil && (*f)(r) {
		err = errors.New("report dropped by the test filter")
	} else {
		_, err = s.commit(rctx, r)
	}
	if err != nil {
		s.logLimit.Log(w.log, hclog.Warn, "report/"+w.name+"/"+string(state), "report not recorded; will retry", "state", state, "epoch", epoch, "error", err)
	}
	return err
}
