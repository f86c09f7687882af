package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// runner runs this node's share of the groups. Each group has a worker
// goroutine that compares the log's view (owner, epoch, state) with what
// runs locally and converges, level-triggered: a lost report or a failed
// step is simply retried on the next pass.
type runner struct {
	s   *Server
	log hclog.Logger

	mu      sync.Mutex
	workers map[string]*worker
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func newRunner(s *Server) *runner {
	ctx, cancel := context.WithCancel(s.ctx)
	return &runner{s: s, log: s.logger.Named("runner"), workers: map[string]*worker{}, ctx: ctx, cancel: cancel}
}

// run creates a worker per group as groups appear in the log.
func (r *runner) run() {
	tick := time.NewTicker(r.s.cfg.Timing.Heartbeat.D())
	defer tick.Stop()
	for {
		ch := r.s.fsm.Changed()
		st := r.s.fsm.View()
		r.mu.Lock()
		for name := range st.Groups {
			if _, ok := r.workers[name]; !ok {
				w := &worker{r: r, name: name, kick: make(chan struct{}, 1), log: r.log.With("group", name)}
				r.workers[name] = w
				r.wg.Add(1)
				go func() {
					defer r.wg.Done()
					w.loop(r.ctx)
				}()
			}
		}
		for _, w := range r.workers {
			w.poke()
		}
		r.mu.Unlock()
		select {
		case <-r.ctx.Done():
			return
		case <-ch:
		case <-r.s.lease.renewed():
		case <-tick.C:
		case <-time.After(r.s.lease.untilNextExpiry()):
		}
	}
}

// shutdown hands this node's groups over: it tells the leader it is
// leaving (heartbeats carry the flag) so the leader starts planned moves,
// waits up to failover_timeout (or ctx) for them, then stops whatever
// still runs here in reverse order and reports each stop at its epoch so
// the leader can place the group on another node without fencing.
func (r *runner) shutdown(ctx context.Context) {
	r.s.leaving.Store(true)
	deadline := time.Now().Add(r.s.cfg.Timing.FailoverTimeout.D())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for time.Now().Before(deadline) && r.runningCount() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	ws := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		w.mu.Lock()
		inst := w.inst
		w.mu.Unlock()
		if inst == nil {
			continue
		}
		err := w.stopLocal(context.Background(), "member shutting down", true)
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err != nil {
			w.report(rctx, inst.epoch, fsm.StateFailed, "stop at shutdown failed: "+err.Error())
		} else {
			w.report(rctx, inst.epoch, fsm.StateOffline, "member shut down")
		}
		cancel()
	}
}

// abandon ends the workers without stopping anything cleanly: a crash.
// Processes the resources started are killed, as systemd's control-group
// kill (KillMode=control-group) or a dead host would; nothing is reported.
func (r *runner) abandon() {
	r.mu.Lock()
	for _, w := range r.workers {
		w.mu.Lock()
		w.abandoned = true
		if w.inst != nil {
			for i := range w.inst.res { // by index: monitor may write other fields
				if k, ok := w.inst.res[i].r.(resources.Killer); ok {
					k.Kill()
				}
			}
		}
		w.mu.Unlock()
	}
	r.mu.Unlock()
	r.cancel()
}

// runningHere reports whether group's resources run on this node now.
func (r *runner) runningHere(group string) bool {
	r.mu.Lock()
	w, ok := r.workers[group]
	r.mu.Unlock()
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inst != nil && w.inst.started > 0
}

func (r *runner) runningCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.workers {
		w.mu.Lock()
		if w.inst != nil {
			n++
		}
		w.mu.Unlock()
	}
	return n
}

// instance is a group as it runs here: resources built at one epoch.
type instance struct {
	epoch   uint64
	res     []built
	started int
	online  bool
}

type built struct {
	name string
	typ  string
	r    resources.Resource
	mon  fsm.MonitorSpec
	// monitor progress (worker goroutine only)
	next     time.Time
	failures int
	restarts int
}

type worker struct {
	r    *runner
	name string
	kick chan struct{}
	log  hclog.Logger

	mu        sync.Mutex
	inst      *instance
	cleaned   bool
	abandoned bool

	// fencing progress of the current takeover (worker goroutine only)
	fenceEpoch uint64
	fenceSeen  time.Time
	fenceTries int
	fenceNext  time.Time
}

func (w *worker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) loop(ctx context.Context) {
	for {
		w.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
	}
}

func (w *worker) token(epoch uint64, res string) resources.Token {
	return resources.Token{Group: w.name, Node: w.r.s.cfg.NodeID, Epoch: epoch, Resource: res}
}

// reconcile is one pass: stop what must stop, start what must start.
func (w *worker) reconcile(ctx context.Context) {
	s := w.r.s
	me := s.cfg.NodeID
	st := s.fsm.View()
	g, ok := st.Groups[w.name]
	w.mu.Lock()
	inst := w.inst
	w.mu.Unlock()
	if !ok {
		if inst != nil {
			w.stopLocal(ctx, "group deleted", false)
		}
		return
	}
	gs := g.Status
	mine := gs.Owner == me

	// First sight of a group after start: make sure nothing of it runs
	// here unless the log says it is ours (a crash may have left it).
	if !w.cleaned && inst == nil {
		w.cleaned = true
		if !(mine && gs.Active()) {
			w.ensureStopped(ctx, g)
		}
	}

	// Stop when the log no longer says we may run it at this epoch.
	if inst != nil && (!mine || gs.Epoch != inst.epoch || !gs.Active() || gs.State == fsm.StateStopping || gs.State == fsm.StateFencing) {
		err := w.stopLocal(ctx, fmt.Sprintf("log says %s (owner %q, epoch %d)", gs.State, gs.Owner, gs.Epoch), false)
		if mine && gs.Epoch == inst.epoch && gs.State == fsm.StateStopping {
			w.reportStopped(ctx, gs.Epoch, err)
		}
		return
	}
	if inst != nil && inst.started > 0 && !s.lease.valid(w.name, inst.epoch) {
		w.selfFence(ctx, inst.epoch)
		return
	}
	if !mine {
		return
	}
	switch gs.State {
	case fsm.StateFencing:
		w.fence(ctx, st, g)
	case fsm.StateStopping:
		if inst == nil { // e.g. restarted while a move was under way
			err := w.ensureStopped(ctx, g)
			w.reportStopped(ctx, gs.Epoch, err)
		}
	case fsm.StateStarting, fsm.StateOnline:
		if inst == nil || !inst.online {
			w.start(ctx, g)
			return
		}
		if gs.State == fsm.StateStarting {
			w.report(ctx, gs.Epoch, fsm.StateOnline, "")
		}
		if !gs.Suspended {
			w.monitor(ctx, g, inst)
		}
	}
}

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
		cctx, cancel := context.WithTimeout(ctx, b.mon.Timeout)
		err := b.r.Check(cctx, w.token(inst.epoch, b.name))
		cancel()
		result := "ok"
		if err != nil {
			result = "failed"
		}
		s.metrics.checks.WithLabelValues(w.name, b.name, result).Inc()
		if err == nil {
			if b.failures > 0 {
				w.log.Info("resource check passes again", "resource", b.name, "after_failures", b.failures)
			}
			b.failures = 0
			continue
		}
		b.failures++
		w.log.Warn("resource check failed", "resource", b.name, "epoch", inst.epoch, "failures", b.failures, "restart_after", b.mon.FailuresBeforeRestart, "error", err)
		if b.failures < b.mon.FailuresBeforeRestart {
			continue
		}
		b.failures = 0
		if b.restarts < b.mon.RestartsBeforeFailover {
			b.restarts++
			reason := fmt.Sprintf("check of %s failed %d times (%v); restart %d of %d on %s", b.name, b.mon.FailuresBeforeRestart, err, b.restarts, b.mon.RestartsBeforeFailover, s.cfg.NodeID)
			w.log.Warn("restarting resource", "resource", b.name, "restart", b.restarts, "of", b.mon.RestartsBeforeFailover)
			s.recordEventually(&fsm.Note{Header: s.header(""), Kind: "resource-restart", Group: w.name, Node: s.cfg.NodeID, Epoch: inst.epoch, Reason: reason})
			w.restartFrom(ctx, g, inst, i)
			return
		}
		reason := fmt.Sprintf("monitor: check of %s failed %d times after %d restarts on %s: %v", b.name, b.mon.FailuresBeforeRestart, b.restarts, s.cfg.NodeID, err)
		w.log.Error("resource keeps failing: stopping the group so it fails over", "resource", b.name, "epoch", inst.epoch)
		sctx, scancel := context.WithTimeout(ctx, s.cfg.Fencing.StopDeadline.D())
		stopErr := w.stopLocal(sctx, "monitor failure", false)
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
		if err := b.r.Stop(ctx, w.token(inst.epoch, b.name)); err != nil {
			reason := fmt.Sprintf("restart of %s: stop of %s failed: %v", inst.res[i].name, b.name, err)
			w.log.Error("restart failed; stopping the group", "resource", b.name, "error", err)
			_ = w.stopLocal(ctx, "restart failed", false)
			w.reportFailed(ctx, inst.epoch, reason, true)
			return
		}
		inst.started = j
	}
	inst.online = false
	w.start(ctx, g)
}

// selfFence stops a group whose lease ran out: this node can no longer
// prove it owns it, so it must assume someone else may. The stop has
// fencing.stop_deadline; if it fails or hangs, the hard action follows.
func (w *worker) selfFence(ctx context.Context, epoch uint64) {
	s := w.r.s
	deadline := s.cfg.Fencing.StopDeadline.D()
	s.metrics.selfFences.Inc()
	w.log.Warn("lease expired: self-fencing, stopping resources in reverse order", "epoch", epoch, "stop_deadline", deadline)
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.stopLocal(sctx, "lease expired", false) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(deadline + 100*time.Millisecond):
		err = fmt.Errorf("stop did not finish within fencing.stop_deadline %s", deadline)
	}
	reason := "lease expired; resources stopped"
	if err != nil {
		reason = "lease expired; stopping resources failed: " + err.Error()
		s.selfFenceAction(reason)
	}
	w.log.Warn("self-fenced", "epoch", epoch, "result", reason)
	// The leader is likely unreachable right now (that is why the lease
	// ran out): keep trying to record the event until it lands.
	s.recordEventually(&fsm.Note{Header: s.header(""), Kind: "self-fenced", Group: w.name, Node: s.cfg.NodeID, Epoch: epoch, Reason: reason})
}

// recordEventually commits an event note in the background, retrying every
// heartbeat for up to ten minutes or until the member stops.
func (s *Server) recordEventually(n *fsm.Note) {
	s.goFn(func() {
		deadline := time.Now().Add(10 * time.Minute)
		for attempt := 1; time.Now().Before(deadline); attempt++ {
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timing.Lease.D())
			_, err := s.commit(ctx, n)
			cancel()
			if err == nil {
				return
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(s.cfg.Timing.Heartbeat.D()):
			}
		}
		s.logger.Warn("event could not be recorded", "kind", n.Kind, "group", n.Group)
	})
}

// fence is the winner's duty before a takeover: make sure the previous
// owner cannot act, record that, and only then start (clause 4). Failure
// leaves the group offline in state fencing, with an event saying why,
// and is retried with backoff; nothing starts on a hope.
func (w *worker) fence(ctx context.Context, st *fsm.State, g *fsm.Group) {
	s := w.r.s
	gs := g.Status
	if w.fenceEpoch != gs.Epoch {
		w.fenceEpoch, w.fenceSeen, w.fenceTries, w.fenceNext = gs.Epoch, time.Now(), 0, time.Time{}
	}
	if time.Now().Before(w.fenceNext) {
		return
	}
	if err := s.confirm(ctx, w.name, gs.Epoch); err != nil {
		w.log.Info("cannot confirm the takeover yet; not fencing", "epoch", gs.Epoch, "error", err)
		return
	}
	// Fence every instance the log recorded for the node since the
	// takeover was decided: the one it had then and any it reported
	// since. Never substitute the node's current (self-reported) id.
	target := fsm.Member{ID: gs.FenceNode}
	if m, ok := st.Members[gs.FenceNode]; ok {
		target.Address, target.API = m.Address, m.API
	}
	instances := gs.InstancesToFence()
	if len(instances) == 0 {
		instances = []string{""} // fenceNode says that no instance id is known
	}
	target.InstanceID = strings.Join(instances, ",")
	start := time.Now()
	var method, verified string
	var fenced []string
	switch s.cfg.Fencing.Mode {
	case FencingLeaseOnly:
		if left := gs.FenceWait - time.Since(w.fenceSeen); left > 0 {
			w.log.Info("lease-only fencing: waiting for the lost owner's lease and self-fence to run out", "fence_node", gs.FenceNode, "left", left.Round(time.Millisecond))
			w.fenceNext = time.Now().Add(left)
			time.AfterFunc(left, w.poke)
			return
		}
		method = "lease-only"
	default:
		w.log.Warn("fencing the previous owner before takeover", "fence_node", target.ID, "instance", target.InstanceID, "epoch", gs.Epoch)
		var errs []error
		var proofs []string
		for _, id := range instances {
			t := target
			t.InstanceID = id
			fctx, cancel := context.WithTimeout(ctx, s.cfg.Fencing.StopTimeout.D()+2*s.cfg.AWS.CallTimeout.D())
			proof, err := s.fenceNode(fctx, t)
			cancel()
			if err != nil {
				errs = append(errs, err)
			} else if proof != "" {
				proofs = append(proofs, proof)
			}
		}
		verified = strings.Join(proofs, "; ")
		if err := errors.Join(errs...); err != nil {
			s.metrics.fences.WithLabelValues("aws-stop", "failed").Inc()
			w.fenceTries++
			backoff := fenceBackoff(w.fenceTries)
			w.fenceNext = time.Now().Add(backoff)
			time.AfterFunc(backoff, w.poke)
			reason := fmt.Sprintf("fencing %s (instance %s) failed (attempt %d, next in %s): %v; the group stays offline until a fence succeeds", target.ID, dash0(target.InstanceID), w.fenceTries, backoff, err)
			w.log.Error("fence failed; group stays offline", "fence_node", target.ID, "attempt", w.fenceTries, "retry_in", backoff, "error", err)
			nctx, ncancel := context.WithTimeout(ctx, proposeTimeout)
			_, _ = s.commit(nctx, &fsm.Note{Header: s.header(""), Kind: "fence-failed", Group: w.name, Node: s.cfg.NodeID, Epoch: gs.Epoch, Reason: reason})
			ncancel()
			return
		}
		method, fenced = "aws-stop", gs.InstancesToFence()
	}
	s.metrics.fences.WithLabelValues(method, "ok").Inc()
	if method == "lease-only" {
		s.metrics.fenceDuration.Observe(time.Since(w.fenceSeen).Seconds())
	} else {
		s.metrics.fenceDuration.Observe(time.Since(start).Seconds())
	}
	took := time.Since(start).Round(time.Millisecond)
	if method == "lease-only" {
		took = time.Since(w.fenceSeen).Round(time.Millisecond)
	}
	w.log.Warn("previous owner fenced", "fence_node", target.ID, "method", method, "took", took, "epoch", gs.Epoch)
	rctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	if _, err := s.commit(rctx, &fsm.Fenced{Header: s.header(""), Group: w.name, Node: s.cfg.NodeID, Epoch: gs.Epoch, Method: method, Took: took.String(), Verified: verified, Instances: fenced}); err != nil {
		w.log.Warn("could not record the fence; will fence again", "error", err)
	}
}

func dash0(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (w *worker) build(g *fsm.Group, epoch uint64) (*instance, error) {
	s := w.r.s
	inst := &instance{epoch: epoch}
	for _, rs := range g.Spec.Resources {
		// Embedding: a `go` resource runs an OwnerFunc of this server, so
		// it is built from the server (handlers, lease), not from an Env.
		if rs.Type == HandlerTypeName {
			res, err := s.buildHandler(rs, w.log.Named(rs.Name))
			if err != nil {
				return nil, fmt.Errorf("resource %s: %w", rs.Name, err)
			}
			inst.res = append(inst.res, built{name: rs.Name, typ: rs.Type, r: res, mon: rs.Monitor})
			continue
		}
		t, err := s.registry.Lookup(rs.Type)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", rs.Name, err)
		}
		p := t.NewParams()
		if len(rs.Params) > 0 {
			if err := json.Unmarshal(rs.Params, p); err != nil {
				return nil, fmt.Errorf("resource %s: params: %w", rs.Name, err)
			}
		}
		res, err := t.Build(p, resources.Env{
			Logger:      w.log.Named(rs.Name),
			DataDir:     filepath.Join(s.cfg.DataDir, "resources", g.Spec.Name, rs.Name),
			NodeID:      s.cfg.NodeID,
			AWS:         s.awsCfg,
			InstanceID:  s.instance,
			CallTimeout: s.cfg.AWS.CallTimeout.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", rs.Name, err)
		}
		inst.res = append(inst.res, built{name: rs.Name, typ: rs.Type, r: res, mon: rs.Monitor})
	}
	return inst, nil
}

// start starts the group's resources in order. Before each one it confirms
// with the leader that this node still owns the group at this epoch
// (safety argument, clause 2); if it cannot, it does nothing more.
func (w *worker) start(ctx context.Context, g *fsm.Group) {
	s := w.r.s
	epoch := g.Status.Epoch
	w.mu.Lock()
	inst := w.inst
	w.mu.Unlock()
	if inst == nil || inst.epoch != epoch {
		var err error
		inst, err = w.build(g, epoch)
		if err != nil {
			w.log.Error("cannot build resources", "epoch", epoch, "error", err)
			w.report(ctx, epoch, fsm.StateFailed, err.Error())
			return
		}
		w.mu.Lock()
		w.inst = inst
		w.mu.Unlock()
	}
	for i := inst.started; i < len(inst.res); i++ {
		b := inst.res[i]
		if err := s.confirm(ctx, w.name, epoch); err != nil {
			if errors.Is(err, ErrNotOwner) {
				w.log.Warn("ownership not confirmed; starting nothing", "epoch", epoch, "error", err)
				w.stopLocal(ctx, "ownership not confirmed", false)
			} else {
				w.log.Info("cannot confirm ownership yet; will retry", "epoch", epoch, "resource", b.name, "error", err)
			}
			return
		}
		w.log.Info("starting resource", "resource", b.name, "type", b.typ, "epoch", epoch)
		if err := b.r.Start(ctx, w.token(epoch, b.name)); err != nil {
			reason := fmt.Sprintf("start of %s (%s) failed: %v", b.name, b.typ, err)
			w.log.Error("resource failed to start; stopping the group", "resource", b.name, "epoch", epoch, "error", err)
			stopErr := w.stopLocal(ctx, "start failed", false)
			if stopErr != nil {
				reason += "; stopping what had started failed: " + stopErr.Error()
			}
			w.reportFailed(ctx, epoch, reason, stopErr != nil)
			return
		}
		inst.started = i + 1
	}
	inst.online = true
	if w.fenceEpoch == epoch && !w.fenceSeen.IsZero() {
		s.metrics.takeoverToOn.Observe(time.Since(w.fenceSeen).Seconds())
	}
	w.log.Info("group online", "epoch", epoch)
	w.report(ctx, epoch, fsm.StateOnline, "")
}

// stopLocal stops what runs here in reverse order. A resource whose stop
// fails is reported in the error; the others are still stopped.
func (w *worker) stopLocal(ctx context.Context, why string, final bool) error {
	w.mu.Lock()
	inst := w.inst
	if w.abandoned {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	if inst == nil {
		return nil
	}
	w.log.Info("stopping group", "epoch", inst.epoch, "why", why)
	var errs []error
	for i := inst.started - 1; i >= 0; i-- {
		b := inst.res[i]
		if err := b.r.Stop(ctx, w.token(inst.epoch, b.name)); err != nil {
			w.log.Error("resource failed to stop", "resource", b.name, "epoch", inst.epoch, "error", err)
			errs = append(errs, fmt.Errorf("stop of %s failed: %w", b.name, err))
		}
	}
	w.mu.Lock()
	w.inst = nil
	w.mu.Unlock()
	return errors.Join(errs...)
}

// ensureStopped runs every resource's Stop (idempotent) without having
// started it here: cleanup after a restart.
func (w *worker) ensureStopped(ctx context.Context, g *fsm.Group) error {
	inst, err := w.build(g, g.Status.Epoch)
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

func (w *worker) reportStopped(ctx context.Context, epoch uint64, stopErr error) {
	if stopErr != nil {
		w.reportFailed(ctx, epoch, "stop failed: "+stopErr.Error(), true)
		return
	}
	w.report(ctx, epoch, fsm.StateOffline, "stopped on request")
}

func (w *worker) report(ctx context.Context, epoch uint64, state fsm.GroupState, reason string) {
	w.reportState(ctx, &fsm.Report{Group: w.name, Epoch: epoch, State: state, Reason: reason})
}

// reportFailed reports the group failed here; stopFailed says its
// resources could not be stopped, so only a fenced takeover may move it.
func (w *worker) reportFailed(ctx context.Context, epoch uint64, reason string, stopFailed bool) {
	w.reportState(ctx, &fsm.Report{Group: w.name, Epoch: epoch, State: fsm.StateFailed, Reason: reason, StopFailed: stopFailed})
}

func (w *worker) reportState(ctx context.Context, r *fsm.Report) {
	s := w.r.s
	epoch, state := r.Epoch, r.State
	r.Header, r.Node = s.header(""), s.cfg.NodeID
	rctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	_, err := s.commit(rctx, r)
	if err != nil {
		w.log.Warn("report not recorded; will retry", "state", state, "epoch", epoch, "error", err)
	}
}

// confirm asks the leader, linearizably, whether this node owns group at
// epoch. Success also renews the lease for that group.
func (s *Server) confirm(ctx context.Context, group string, epoch uint64) error {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D())
	defer cancel()
	var err error
	addr, id := s.raft.LeaderWithID()
	switch {
	case id == "":
		err = ErrNoLeader
	case id == raft.ServerID(s.cfg.NodeID):
		err = s.confirmLocal(ctx, group, s.cfg.NodeID, epoch)
	default:
		err = s.pool.Call(ctx, string(addr), "Raftha.Confirm", ConfirmArgs{Group: group, Node: s.cfg.NodeID, Epoch: epoch}, &ConfirmReply{})
		if containsNotOwner(err) {
			err = fmt.Errorf("%w: %v", ErrNotOwner, err)
		}
	}
	if err == nil {
		s.lease.confirmed(sent, group, epoch)
	}
	return err
}

func containsNotOwner(err error) bool {
	return err != nil && (errors.Is(err, ErrNotOwner) || strings.Contains(err.Error(), ErrNotOwner.Error()))
}
