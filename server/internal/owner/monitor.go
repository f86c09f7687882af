package owner

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
)

// monitor runs the due checks of an online group and applies the recovery
// policy: restart after failures_before_restart consecutive failures (the
// resource and those started after it), and after restarts_before_failover
// restarts stop the group and report it failed so the leader moves it.
func (w *worker) monitor(ctx context.Context, g *fsm.Group, inst *instance) {
	s := w.r.s
	now := time.Now()
	for i := range inst.res {
		b := &inst.res[i]
		if b.mon.Interval <= 0 || i >= inst.started {
			continue
		}
		if b.next.IsZero() {
			b.next = now.Add(b.mon.Interval)
			time.AfterFunc(b.mon.Interval, w.poke)
			continue
		}
		if now.Before(b.next) {
			continue
		}
		b.next = now.Add(b.mon.Interval)
		time.AfterFunc(b.mon.Interval, w.poke)
		// Checks of AWS resources repair drift (rewrite a route, move an
		// EIP): side effects, so leader-confirmed like any start (clause
		// 2). Without a confirmation the check waits; the lease decides.
		if err := s.confirm(ctx, w.name, inst.epoch); err != nil {
			w.log.Debug("check skipped: ownership not confirmed", "resource", b.name, "error", err)
			return
		}
		// The check may repair (a side effect): bounded by the lease too.
		lctx, lcancel := s.lease.Bound(ctx, w.name, inst.epoch)
		if lctx.Err() != nil {
			lcancel()
			return
		}
		cctx, cancel := context.WithTimeout(lctx, b.mon.Timeout)
		err := w.checkTracked(cctx, inst.epoch, *b) // resstate.go
		cancel()
		lcancel()
		result := "ok"
		if err != nil {
			result = "failed"
		}
		s.metrics.Checks.WithLabelValues(w.name, b.name, result).Inc()
		if err == nil {
			if b.failures > 0 {
				w.log.Info("resource check passes again", "resource", b.name, "after_failures", b.failures)
			}
			b.failures = 0
			continue
		}
		b.failures++
		s.logLimit.Log(w.log, hclog.Warn, "check/"+w.name+"/"+b.name, "resource check failed", "resource", b.name, "epoch", inst.epoch, "failures", b.failures, "restart_after", b.mon.FailuresBeforeRestart, "error", err)
		if b.failures < b.mon.FailuresBeforeRestart {
			continue
		}
		b.failures = 0
		if b.restarts < b.mon.RestartsBeforeFailover {
			b.restarts++
			w.restartTracked(inst.epoch, b.name)
			reason := fmt.Sprintf("check of %s failed %d times (%v); restart %d of %d on %s", b.name, b.mon.FailuresBeforeRestart, err, b.restarts, b.mon.RestartsBeforeFailover, s.cfg.NodeID)
			w.log.Warn("restarting resource", "resource", b.name, "restart", b.restarts, "of", b.mon.RestartsBeforeFailover)
			s.recordEventually(&fsm.Note{Header: s.host.Header(), Kind: fsm.KindResourceRestart, Group: w.name, Node: s.cfg.NodeID, Epoch: inst.epoch, Reason: reason})
			w.restartFrom(ctx, g, inst, i)
			return
		}
		reason := fmt.Sprintf("monitor: check of %s failed %d times after %d restarts on %s: %v", b.name, b.mon.FailuresBeforeRestart, b.restarts, s.cfg.NodeID, err)
		w.log.Error("resource keeps failing: stopping the group so it fails over", "resource", b.name, "epoch", inst.epoch)
		sctx, scancel := context.WithTimeout(ctx, s.cfg.Fencing.StopDeadline.D())
		stopErr := w.stopLocal(sctx, "monitor failure")
		scancel()
		if stopErr != nil {
			reason += "; stopping failed: " + stopErr.Error()
		}
		w.reportFailed(ctx, inst.epoch, reason, stopErr != nil)
		return
	}
}

// restartFrom stops resources i..last in reverse order, then starts them
// again in order (each start leader-confirmed, as always).
func (w *worker) restartFrom(ctx context.Context, g *fsm.Group, inst *instance, i int) {
	for j := inst.started - 1; j >= i; j-- {
		b := inst.res[j]
		if err := w.stopTracked(ctx, inst.epoch, b); err != nil {
			reason := fmt.Sprintf("restart of %s: stop of %s failed: %v", inst.res[i].name, b.name, err)
			w.log.Error("restart failed; stopping the group", "resource", b.name, "error", err)
			_ = w.stopLocal(ctx, "restart failed")
			w.reportFailed(ctx, inst.epoch, reason, true)
			return
		}
		w.mu.Lock()
		inst.started = j
		w.mu.Unlock()
	}
	w.mu.Lock()
	inst.online = false
	w.mu.Unlock()
	w.start(ctx, g)
}
