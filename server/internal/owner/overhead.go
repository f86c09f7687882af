package owner

import (
	"context"
	"time"

	"github.com/raftha/raftha/fsm"
)

// stepTimes is what the steps of the current ownership change took on
// this member (worker goroutine only). They go with its Fenced and its
// online report (fsm.Timing), from which `raftha why` splits a
// failover's time into detection, fence, start and raftha's overhead.
type stepTimes struct {
	epoch        uint64
	fenceConfirm time.Duration // leader confirmations before fencing
	fenceFirst   time.Time     // the first fence attempt began
	fenceCommit  time.Duration // the commit of the Fenced
	began        time.Time     // the first start pass began
	startConfirm time.Duration // leader confirmations before the starts
	start        time.Duration // the resources' Start calls
	record       time.Duration // run record writes before the starts
	slotWait     time.Duration // waits for a start slot
}

// steps is the step times of epoch, reset when the epoch changes.
func (w *worker) steps(epoch uint64) *stepTimes {
	if w.stepTimes.epoch != epoch {
		w.stepTimes = stepTimes{epoch: epoch}
	}
	return &w.stepTimes
}

// timed runs f and adds how long it took to *d.
func timed(d *time.Duration, f func() error) error {
	t := time.Now()
	err := f()
	*d += time.Since(t)
	return err
}

// fenceBegins notes a fence attempt beginning at t (the first one counts).
func (w *worker) fenceBegins(epoch uint64, t time.Time) {
	if st := w.steps(epoch); st.fenceFirst.IsZero() {
		st.fenceFirst = t
	}
}

// commitFenced commits f with the fence's timing: for aws-stop, every
// attempt since the first (failures and backoff included) and the
// confirmation before it; for lease-only, the wait since the takeover was
// seen (f.Took), which the confirmations fall within.
func (w *worker) commitFenced(ctx context.Context, f *fsm.Fenced, took time.Duration) error {
	st := w.steps(f.Epoch)
	tm := &fsm.Timing{SeenBefore: time.Since(w.fenceSeen), Fence: took}
	if f.Method == fsm.FencingAWSStop && !st.fenceFirst.IsZero() {
		tm.Fence, tm.Confirm = time.Since(st.fenceFirst), st.fenceConfirm
	}
	f.Timing = tm
	t := time.Now()
	_, err := w.r.s.commit(ctx, f)
	if err == nil {
		st.fenceCommit = time.Since(t)
	}
	return err
}

// reportOnline reports the group online at epoch with what starting it
// took here.
func (w *worker) reportOnline(ctx context.Context, epoch uint64) {
	st := w.steps(epoch)
	tm := &fsm.Timing{Confirm: st.startConfirm, Start: st.start, FenceCommit: st.fenceCommit, Record: st.record, SlotWait: st.slotWait}
	if !st.began.IsZero() {
		tm.BeganBefore = time.Since(st.began)
	}
	w.reportState(ctx, &fsm.Report{Group: w.name, Epoch: epoch, State: fsm.StateOnline, Timing: tm})
}
