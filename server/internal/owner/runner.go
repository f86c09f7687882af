package owner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/server/internal/clock"
)

// Runner runs this node's share of the groups. Each group has a worker
// goroutine that compares the log's view (owner, epoch, state) with what
// runs locally and converges, level-triggered: a lost report or a failed
// step is simply retried on the next pass. Beside the workers, the guard
// (guard.go) enforces the self-fence deadline, so a resource call that
// hangs cannot hold it up.
type Runner struct {
	s   *agent
	log hclog.Logger

	mu      sync.Mutex
	workers map[string]*worker
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc

	guardKick chan struct{} // wakes the guard (guard.go)
	starts    chan struct{} // slots of the fresh starts under way (startslots.go)

	slots diskSlots // the disk heartbeat (diskslots.go)

	// handoverErrs are the stops that failed while this member was
	// leaving (Shutdown), under mu: shutdown returns them even when a
	// later retry succeeded or the log has moved on.
	handoverErrs []error
}

// noteHandoverFailure records a failed stop of group at epoch while this
// member is leaving; it is one of the errors shutdown returns.
func (r *Runner) noteHandoverFailure(group string, epoch uint64, reason string) {
	if !r.s.leaving.Load() {
		return
	}
	r.mu.Lock()
	r.handoverErrs = append(r.handoverErrs, fmt.Errorf("group %s (epoch %d) did not stop in time, reported stop-failed: %s", group, epoch, reason))
	r.mu.Unlock()
}

// NewRunner builds the runner of a member whose services and settings
// are h and o, and loads the run records an earlier run of the agent left
// (record.go): what they name may still run here, so each becomes a
// leftover instance its worker stops before anything else. It ends when
// o.Ctx does (or at Shutdown or Abandon).
func NewRunner(h Host, o RunnerOptions) (*Runner, error) {
	s := newAgent(h, o)
	ctx, cancel := context.WithCancel(s.ctx)
	r := &Runner{s: s, log: s.logger.Named("runner"), workers: map[string]*worker{}, ctx: ctx, cancel: cancel, guardKick: make(chan struct{}, 1), starts: make(chan struct{}, MaxConcurrentStarts)}
	recs, err := s.records.Read()
	if err != nil {
		cancel()
		return nil, err
	}
	for name, rec := range recs {
		w := r.newWorker(name)
		w.gaveUp, w.handedOff = rec.GaveUp, rec.Stopped
		if len(rec.Resources) == 0 {
			// A record without resources says nothing of the group
			// runs here (a clean stop, or a failed start that was
			// stopped): no first-sight cleanup, whose Stops would run
			// while the next owner starts (handedoff.go).
			w.cleaned = true
			continue
		}
		inst, err := w.build(rec.Resources, rec.Epoch)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("run record %s: cannot rebuild what may still run here to stop it: %w", s.records.Path(name), err)
		}
		inst.started, inst.leftover, inst.recorded = len(inst.res), true, true
		w.inst, w.cleaned = inst, true
		r.log.Warn("an earlier run of the agent left group resources that may still run: stopping them first", "group", name, "epoch", rec.Epoch, "resources", len(inst.res))
	}
	return r, nil
}

// newWorker registers a worker for group (r.mu held or not yet shared).
func (r *Runner) newWorker(name string) *worker {
	w := &worker{r: r, name: name, kick: make(chan struct{}, 1), log: r.log.With("group", name)}
	r.workers[name] = w
	return w
}

// run starts a worker per group as groups appear in the log (and for
// every run record loaded at start).
func (r *Runner) Run() {
	// Every heartbeat, on its wall-clock boundaries with the lease's
	// heartbeat (clock.NextBoundary): one wake-up an interval for both.
	hb := r.s.cfg.Timing.Heartbeat.D()
	tick := time.NewTimer(clock.NextBoundary(time.Now(), hb))
	defer tick.Stop()
	running := map[*worker]bool{}
	// While the lease renews, every renewal pokes every worker once an
	// interval; the tick then pokes nobody (with 1,000 groups it would
	// double the passes of an idle node) and only stands in once
	// renewals stopped for more than an interval.
	var renewed time.Time
	poke := true
	for {
		ch := r.s.fsm.Changed()
		st := r.s.fsm.Shared()
		r.mu.Lock()
		if r.ctx.Err() != nil { // shutdown: no new goroutines after its Wait began
			r.mu.Unlock()
			return
		}
		for name := range st.Groups {
			if _, ok := r.workers[name]; !ok {
				r.newWorker(name)
			}
		}
		for _, w := range r.workers {
			if !running[w] {
				running[w] = true
				r.wg.Add(1)
				go func() {
					defer r.wg.Done()
					w.loop(r.ctx)
				}()
			}
			if poke {
				w.poke()
			}
		}
		r.mu.Unlock()
		poke = true
		renewal := r.s.lease.table.Renewed()
		select {
		case <-r.ctx.Done():
			return
		case <-ch:
		case <-renewal:
			renewed = time.Now()
		case <-tick.C:
			tick.Reset(clock.NextBoundary(time.Now(), hb))
			poke = tickPokes(renewal, &renewed, time.Now(), hb)
		case <-time.After(r.s.lease.table.UntilNextExpiry()):
		}
	}
}

// tickPokes reports whether the runner's tick at now pokes the workers:
// only when no lease renewal (renewal: the channel the runner waited on;
// *renewed: when the last one came) did for more than an interval. A
// renewal that was ready with the tick (the select picked the tick) pokes
// them here: its channel is gone at the next wait.
func tickPokes(renewal <-chan struct{}, renewed *time.Time, now time.Time, hb time.Duration) bool {
	select {
	case <-renewal:
		*renewed = now
		return true
	default:
		return now.Sub(*renewed) > hb+hb/2
	}
}

// shutdown hands this node's groups over: it tells the leader it is
// leaving (heartbeats carry the flag) so the leader starts planned moves,
// waits up to failover_timeout (or ctx) for them to begin and, once a
// stop has begun, for it to end (each resource bounds its own stop, e.g.
// an OwnerFunc's stop_timeout), then stops whatever still runs here in
// reverse order and reports each stop at its epoch so the leader can
// place the group on another node without fencing. A stop that fails is
// reported stop-failed: the group then moves only by a fenced takeover
// (safety clause 7). It returns what did not stop, and ctx's error when
// ctx ended before every group was handed over.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.s.leaving.Store(true)
	deadline := time.Now().Add(r.s.cfg.Timing.FailoverTimeout.D())
	for (time.Now().Before(deadline) || r.stopsUnderWay()) && r.runningCount() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	var errs []error
	if ctx.Err() != nil && r.runningCount() > 0 {
		errs = append(errs, fmt.Errorf("hand-over cut short, groups stopped here instead: %w", context.Cause(ctx)))
	}
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait()
	// A stop that failed during the hand-over made its group stop-failed,
	// even if a retry later succeeded or the log has moved on since.
	r.mu.Lock()
	errs = append(errs, r.handoverErrs...)
	r.mu.Unlock()
	for _, w := range r.workerList() {
		w.mu.Lock()
		inst := w.inst
		w.mu.Unlock()
		if inst == nil {
			continue
		}
		if !inst.leftover {
			w.handOffOnStop = w.handOffReport(inst.epoch, "member shut down") // handedoff.go
		}
		err := w.stopAtShutdown()
		w.handOffOnStop = nil
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s (epoch %d) did not stop: %w", w.name, inst.epoch, err))
			w.reportFailed(rctx, inst.epoch, "stop at shutdown failed: "+err.Error(), true)
		} else if !inst.leftover {
			w.reportShutDown(rctx, inst.epoch)
		}
		cancel()
	}
	return errors.Join(errs...)
}

// stopAtShutdown stops what runs here before the agent exits. A stop that
// fails is retried until fencing.stop_deadline after the first failure;
// then the hard action is taken here, since the guard ends with the agent
// and nothing would stop the resources once it is gone (in lease-only mode
// a winner starts after its wait whether they run or not).
func (w *worker) stopAtShutdown() error {
	s := w.r.s
	err := w.stopLocal(context.Background(), "member shutting down")
	for err != nil {
		w.mu.Lock()
		inst := w.inst
		var due time.Time
		if inst != nil {
			due = inst.stopFailedAt.Add(s.cfg.Fencing.StopDeadline.D())
		}
		w.mu.Unlock()
		if inst == nil {
			return err
		}
		if time.Now().After(due) {
			w.mu.Lock()
			done := inst.hardDone
			inst.hardDone = true
			w.mu.Unlock()
			if !done {
				s.selfFenceAction(fmt.Sprintf("group %s (epoch %d): resources could not be stopped at shutdown within fencing.stop_deadline %s: %v", w.name, inst.epoch, s.cfg.Fencing.StopDeadline, err))
			}
			return err
		}
		time.Sleep(min(s.cfg.Timing.Heartbeat.D(), time.Until(due)+time.Millisecond))
		err = w.stopLocal(context.Background(), "member shutting down (retry)")
	}
	return nil
}

func (r *Runner) workerList() []*worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	return ws
}

// abandon ends the workers without stopping anything cleanly: a crash.
// Processes the resources started are killed, as systemd's control-group
// kill (KillMode=control-group) or a dead host would; nothing is reported
// and the run records stay, as they would after a crash.
func (r *Runner) Abandon() {
	r.mu.Lock()
	for _, w := range r.workers {
		w.mu.Lock()
		w.abandoned = true
		if w.inst != nil {
			for i := range w.inst.res {
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

// RunningHere reports whether group's resources run on this node now.
func (r *Runner) RunningHere(group string) bool {
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

func (r *Runner) runningCount() int {
	n := 0
	for _, w := range r.workerList() {
		w.mu.Lock()
		if w.inst != nil {
			n++
		}
		w.mu.Unlock()
	}
	return n
}

// CleanedUp reports whether every leftover of an earlier run of the agent
// has been stopped. Until then the watchdog is not fed.
func (r *Runner) CleanedUp() bool {
	for _, w := range r.workerList() {
		w.mu.Lock()
		left := w.inst != nil && w.inst.leftover
		w.mu.Unlock()
		if left {
			return false
		}
	}
	return true
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
	st := s.fsm.Shared() // read-only: one copy per change for all workers
	g, ok := st.Groups[w.name]
	w.mu.Lock()
	inst := w.inst
	w.mu.Unlock()

	w.ackPills(ctx, g) // pill.go: only while nothing of the group runs here
	// What an earlier run of the agent left goes first, whatever the log
	// says: nothing here knows what state it is in.
	if inst != nil && inst.leftover {
		if w.stopLocal(ctx, "left over from an earlier run of the agent") == nil {
			w.poke()
		}
		return
	}
	w.forgetPassed(g, ok) // handedoff.go: the given-up epoch and the hand-off
	if !ok {
		if inst != nil {
			w.stopLocal(ctx, "group deleted")
		}
		return
	}
	gs := g.Status
	mine := gs.Owner == me
	// A clean stop here whose epoch this member's log has not passed yet:
	// nothing runs, nothing is to be done but re-send its report.
	if w.heldByHandOff(ctx, g) { // handedoff.go
		return
	}

	// First sight of a group after start with no run record: make sure
	// nothing of it runs here unless the log says it is ours (an agent
	// from before run records may have left it).
	w.mu.Lock()
	cleaned := w.cleaned
	w.mu.Unlock()
	if !cleaned && inst == nil {
		// Tried once: on a node that does not own the group a Stop may
		// well fail for reasons that say nothing about this node (a
		// shared device the owner has mounted, seen from one host in a
		// test bed), and retrying would keep the worker busy when the
		// group comes its way. A node whose cleanup failed never vouches
		// that it runs nothing of the group (RunningReport).
		var err error
		if !(mine && gs.Active()) {
			err = w.ensureStopped(ctx, g)
		}
		if err != nil {
			w.log.Debug("cleanup of the group on first sight failed", "error", err)
		}
		w.mu.Lock()
		w.cleaned, w.cleanFailed = true, err != nil
		w.mu.Unlock()
	}

	// Stop when the log no longer says we may run it at this epoch, or
	// when a stop of it has begun (a self-fence whose stop failed is not
	// undone by a lease that comes back: it is stopped, and reported).
	if inst != nil && (inst.stopping || !mine || gs.Epoch != inst.epoch || !gs.Active() || gs.State == fsm.StateStopping || gs.State == fsm.StateFencing) {
		if mine && gs.Epoch == inst.epoch && gs.State == fsm.StateStopping {
			w.handOffOnStop = w.offlineReport(inst.epoch, "stopped on request") // handedoff.go
		}
		err := w.stopLocal(ctx, fmt.Sprintf("log says %s (owner %q, epoch %d)", gs.State, gs.Owner, gs.Epoch))
		w.handOffOnStop = nil
		if mine && gs.Epoch == inst.epoch {
			switch {
			case gs.State == fsm.StateStopping:
				w.reportStopped(ctx, gs.Epoch, err)
			case err != nil && gs.Active() && w.gaveUp == nil:
				w.reportFailed(ctx, gs.Epoch, "stop failed: "+err.Error(), true)
			case w.gaveUp != nil && gs.Active():
				w.resendGaveUp(ctx)
			}
		}
		return
	}
	if inst != nil && inst.started > 0 && !s.lease.table.Valid(w.name, inst.epoch) {
		w.selfFence(ctx, inst, "lease expired")
		return
	}
	if inst != nil && inst.started > 0 && w.fenceWatch(ctx, inst) {
		return // superseded on shared storage (fencewatch.go)
	}
	if !mine {
		return
	}
	if w.gaveUp != nil {
		if inst != nil { // a stop that failed: retry it
			w.stopLocal(ctx, "given up at this epoch")
		}
		w.resendGaveUp(ctx)
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
			w.reportOnline(ctx, gs.Epoch)
		}
		if !gs.Suspended {
			w.monitor(ctx, g, inst)
		}
	}
}

// build builds the resources of spec for epoch; nothing is started.
func (w *worker) build(spec []fsm.ResourceSpec, epoch uint64) (*instance, error) {
	s := w.r.s
	inst := &instance{epoch: epoch, spec: spec, born: time.Now()}
	for _, rs := range spec {
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
			DataDir:     filepath.Join(s.cfg.DataDir, "resources", w.name, rs.Name),
			NodeID:      s.cfg.NodeID,
			Cloud:       s.cloudRes,
			InstanceID:  s.instance,
			CallTimeout: s.cfg.AWS.CallTimeout.D(),
			// A stop with no stop_timeout of its own fits the self-fence.
			StopDeadline:  s.cfg.Fencing.StopDeadline.D(),
			ResolveVolume: s.resolveVolume,
			Heartbeat:     s.cfg.Timing.Heartbeat.D(),
			Handlers:      s.handlers, // the `go` type's OwnerFuncs and lease
		})
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", rs.Name, err)
		}
		inst.res = append(inst.res, built{name: rs.Name, typ: rs.Type, r: res, mon: rs.Monitor})
	}
	return inst, nil
}

// RunningReport is what a node's heartbeat says about the groups it runs:
// every group of its log view that has resources built or started here,
// or that its runner has not taken charge of yet (epoch 0: unknown), as
// observed after its FSM applied Applied.
func (r *Runner) RunningReport() (applied uint64, running map[string]uint64) {
	st := r.s.fsm.Shared() // first: what follows is observed after st.Index (read only; every heartbeat: no copy of its own)
	running = map[string]uint64{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range st.Groups {
		w, ok := r.workers[name]
		if !ok {
			running[name] = 0 // no worker yet: cannot vouch for it
			continue
		}
		w.mu.Lock()
		switch {
		case w.inst != nil: // includes stops that failed and leftovers
			running[name] = w.inst.epoch
		case !w.cleaned || w.cleanFailed: // first-sight cleanup not done or failed: cannot vouch
			running[name] = 0
		}
		w.mu.Unlock()
	}
	return st.Index, running
}

// stopsUnderWay reports whether a stop of a group began here and has not
// ended or failed yet: shutdown waits for it past failover_timeout, since
// the resource bounds its own stop (an OwnerFunc's stop_timeout).
func (r *Runner) stopsUnderWay() bool {
	for _, w := range r.workerList() {
		w.mu.Lock()
		busy := w.inst != nil && w.inst.stopping && w.inst.stopFailedAt.IsZero()
		w.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}

// Wait waits for the workers to end (after Shutdown, Abandon or the end
// of the member's context).
func (r *Runner) Wait() { r.wg.Wait() }
