package owner

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// Per-resource status. The owner's worker records what each resource's
// Start, Stop and Check did at the group's epoch (resTracker); every
// heartbeat carries a compact summary of the groups the member owns
// (HeartbeatArgs.Resources); the leader keeps the latest one per group and
// node in memory (resStore) and the status view attaches it while the
// reporting node still owns the group at that epoch. Nothing of it is in
// the log, and nothing on the lease path depends on it: a summary that is
// missing, late or dropped changes only what status shows.

// Bounds of a heartbeat's resource summary: MaxReportGroups a member
// reports, and MaxReportResources of one group.
const (
	MaxReportGroups    = 256
	MaxReportResources = 64
)

// resTracker is what a worker's resources did at one epoch, for status.
// Its methods are safe for concurrent use (the heartbeat reads it).
type resTracker struct {
	mu    sync.Mutex
	epoch uint64
	res   map[string]*resTrack
}

// resTrack is one resource in a resTracker.
type resTrack struct {
	state     api.ResourceState
	lastCheck time.Time
	result    api.CheckResult
	fails     int
	restarts  int
	lastErr   string
	lastErrAt time.Time
	startDur  time.Duration
	stopDur   time.Duration
}

// update runs fn on the resource name at epoch; a new epoch starts afresh.
func (t *resTracker) update(epoch uint64, name string, fn func(r *resTrack)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.res == nil || t.epoch != epoch {
		t.epoch, t.res = epoch, map[string]*resTrack{}
	}
	r, ok := t.res[name]
	if !ok {
		r = &resTrack{state: api.ResourceStopped}
		t.res[name] = r
	}
	fn(r)
}

// failed notes err as the resource's last error.
func (r *resTrack) failed(err error) {
	r.lastErr, r.lastErrAt = CutError(err.Error()), time.Now()
}

// CutError cuts s to api.MaxResourceError bytes, on a rune boundary.
func CutError(s string) string {
	if len(s) <= api.MaxResourceError {
		return s
	}
	const more = "…"
	s = s[:api.MaxResourceError-len(more)]
	return strings.ToValidUTF8(s, "") + more
}

// startTracked runs b's Start at epoch and records its state, duration
// and error.
func (w *worker) startTracked(ctx context.Context, epoch uint64, b built) error {
	w.res.update(epoch, b.name, func(r *resTrack) { r.state = api.ResourceStarting })
	t0 := time.Now()
	err := b.r.Start(ctx, w.token(epoch, b.name))
	w.res.update(epoch, b.name, func(r *resTrack) {
		r.startDur, r.state, r.fails = time.Since(t0), api.ResourceRunning, 0
		if err != nil {
			r.state = api.ResourceFailed
			r.failed(err)
		}
	})
	return err
}

// stopTracked runs b's Stop at epoch and records its state, duration and
// error.
func (w *worker) stopTracked(ctx context.Context, epoch uint64, b built) error {
	w.res.update(epoch, b.name, func(r *resTrack) { r.state = api.ResourceStopping })
	t0 := time.Now()
	err := b.r.Stop(ctx, w.token(epoch, b.name))
	w.res.update(epoch, b.name, func(r *resTrack) {
		r.stopDur, r.state = time.Since(t0), api.ResourceStopped
		if err != nil {
			r.state = api.ResourceFailed
			r.failed(err)
		}
	})
	return err
}

// checkTracked runs b's Check at epoch and records its time, result, the
// failures in a row and the error.
func (w *worker) checkTracked(ctx context.Context, epoch uint64, b built) error {
	err := b.r.Check(ctx, w.token(epoch, b.name))
	w.res.update(epoch, b.name, func(r *resTrack) {
		r.lastCheck, r.result = time.Now(), api.CheckOK
		if err != nil {
			r.result, r.fails = api.CheckFailed, r.fails+1
			r.failed(err)
		} else {
			r.fails = 0
		}
		// A check result says nothing new about a resource being
		// started or stopped at the moment.
		if r.state == api.ResourceRunning || r.state == api.ResourceCheckFailing {
			r.state = api.ResourceRunning
			if err != nil {
				r.state = api.ResourceCheckFailing
			}
		}
	})
	if err != nil {
		w.r.s.metrics.ResourceCheckFailures.WithLabelValues(w.name, b.name).Inc()
	}
	return err
}

// restartTracked counts a monitor restart of resource name at epoch.
func (w *worker) restartTracked(epoch uint64, name string) {
	w.res.update(epoch, name, func(r *resTrack) { r.restarts++ })
	w.r.s.metrics.ResourceRestarts.WithLabelValues(w.name, name).Inc()
}

// resources returns the tracked status of spec's resources at epoch, in
// spec order (at most MaxReportResources); a resource with nothing
// recorded at epoch is stopped.
func (t *resTracker) resources(node string, epoch uint64, spec []fsm.ResourceSpec) []api.ResourceStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.ResourceStatus, 0, min(len(spec), MaxReportResources))
	for _, rs := range spec[:min(len(spec), MaxReportResources)] {
		st := api.ResourceStatus{Name: rs.Name, Type: rs.Type, Node: node, State: api.ResourceStopped}
		if r, ok := t.res[rs.Name]; ok && t.epoch == epoch {
			st.State, st.LastCheckResult, st.ConsecutiveFailures, st.Restarts = r.state, r.result, r.fails, r.restarts
			st.LastError, st.LastStart, st.LastStop = r.lastErr, api.Duration(r.startDur.Round(time.Millisecond)), api.Duration(r.stopDur.Round(time.Millisecond))
			st.LastCheck, st.LastErrorAt = timePtr(r.lastCheck), timePtr(r.lastErrAt)
		}
		out = append(out, st)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.Round(0) // wall clock only: it goes on the wire
	return &t
}

// ResourceStatus returns this node's status of group's resources at the
// epoch and spec of g; nil when no worker runs the group here.
func (r *Runner) ResourceStatus(g *fsm.Group) []api.ResourceStatus {
	r.mu.Lock()
	w, ok := r.workers[g.Spec.Name]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return w.res.resources(r.s.cfg.NodeID, g.Status.Epoch, g.Spec.Resources)
}

// ResourceReport is the heartbeat's summary: every group this node owns
// in its log view (at most MaxReportGroups, by name), with its resources.
func (r *Runner) ResourceReport() map[string]rpcwire.GroupResources {
	st := r.s.fsm.Shared() // read only; sent every heartbeat: no copy of its own
	me := r.s.cfg.NodeID
	var names []string
	for name, g := range st.Groups {
		if g.Status.Owner == me {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]rpcwire.GroupResources{}
	for _, name := range names[:min(len(names), MaxReportGroups)] {
		g := st.Groups[name]
		if res := r.ResourceStatus(g); res != nil {
			out[name] = rpcwire.GroupResources{Epoch: g.Status.Epoch, Resources: res}
		}
	}
	return out
}
