package leader

import (
	"context"
	"sync"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// runReport is the last heartbeat report of a member, on the leader.
type runReport struct {
	at      time.Time
	applied uint64
	running map[string]uint64
}

// fenceBack is the leader's memory for takeovers back to a fence target:
// each node's last running report, and per group the log index of the
// check event a report must have applied to count as sent after the
// decision.
type fenceBack struct {
	mu      sync.Mutex
	reports map[string]runReport
	checks  map[string][2]uint64 // group → {epoch, check index}
}

// report records a's running report, received at now.
func (f *fenceBack) report(a rpcwire.HeartbeatArgs, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reports == nil {
		f.reports = map[string]runReport{}
	}
	if a.Running == nil && a.Applied == 0 {
		delete(f.reports, a.Node) // a member that does not report: no proof
		return
	}
	f.reports[a.Node] = runReport{at: now, applied: a.Applied, running: a.Running}
}

func (f *fenceBack) last(node string) (runReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reports[node]
	return r, ok
}

func (f *fenceBack) check(group string, epoch uint64) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.checks[group]; ok && c[0] == epoch {
		return c[1]
	}
	return 0
}

func (f *fenceBack) setCheck(group string, epoch, index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.checks == nil {
		f.checks = map[string][2]uint64{}
	}
	f.checks[group] = [2]uint64{epoch, index}
}

// takeBack carries out decide.TakeBackProof for a fencing group whose
// winner is lost and whose fence target is the only node left: it records
// the check event (and the index that includes it), notes, or commits the
// takeover back (Assign.TargetIdle).
func (t *Term) takeBack(ctx context.Context, st *fsm.State, g *fsm.Group) {
	gs, l := g.Status, t.l
	h, log := l.cfg.Host, l.cfg.Logger
	node, name := gs.FenceNode, g.Spec.Name
	check := t.fb.check(name, gs.Epoch)
	rep, ok := t.fb.last(node) // after the check: a report that applied it was built after it
	d := decide.TakeBackProof(t.input(st), g, check, decide.Report{At: rep.at, Applied: rep.applied, Running: rep.running}, ok)
	switch d.Action {
	case decide.Note:
		t.noteOnce(ctx, g, d.Kind, d.Reason)
	case decide.Check:
		if _, err := h.Commit(ctx, &fsm.Note{Header: h.Header("leader"), Kind: fsm.KindFenceTargetCheck, Group: name, Node: node, Epoch: gs.Epoch, Reason: d.Reason}); err != nil {
			log.Warn("could not record the fence target check", "group", name, "error", err)
			return
		}
		// Every entry up to here includes the check event: a report that
		// applied this index was built after the decision.
		t.fb.setCheck(name, gs.Epoch, l.cfg.FSM.AppliedIndex())
	case decide.Assign:
		epoch, err := h.Commit(ctx, &fsm.Assign{Header: h.Header("leader"), Group: name, To: node, ExpectEpoch: gs.Epoch, Fence: d.Fence, TargetIdle: d.TargetIdle, Cause: d.Cause, Reason: d.Reason})
		if err != nil {
			log.Warn("takeover back to the fence target refused", "group", name, "to", node, "error", err)
			return
		}
		h.Failover(name, d.Cause)
		log.Warn("takeover back to the idle fence target", "group", name, "to", node, "epoch", epoch)
	}
}
