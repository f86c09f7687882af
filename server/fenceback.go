package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// heartbeatRunning fills a heartbeat's Applied and Running (nodes only).
func (s *Server) heartbeatRunning(a *rpcwire.HeartbeatArgs) {
	if s.runner != nil {
		a.Applied, a.Running = s.runner.runningReport()
	}
}

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

func (f *fenceBack) report(a rpcwire.HeartbeatArgs) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reports == nil {
		f.reports = map[string]runReport{}
	}
	if a.Running == nil && a.Applied == 0 {
		delete(f.reports, a.Node) // a member that does not report: no proof
		return
	}
	f.reports[a.Node] = runReport{at: time.Now(), applied: a.Applied, running: a.Running}
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
func (s *Server) takeBack(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	gs := g.Status
	node, name := gs.FenceNode, g.Spec.Name
	check := ls.fb.check(name, gs.Epoch)
	rep, ok := ls.fb.last(node) // after the check: a report that applied it was built after it
	d := decide.TakeBackProof(ls.input(st), g, check, decide.Report{At: rep.at, Applied: rep.applied, Running: rep.running}, ok)
	switch d.Action {
	case decide.Note:
		ls.noteOnce(ctx, g, d.Kind, d.Reason)
	case decide.Check:
		if _, err := s.commit(ctx, &fsm.Note{Header: s.header("leader"), Kind: fsm.KindFenceTargetCheck, Group: name, Node: node, Epoch: gs.Epoch, Reason: d.Reason}); err != nil {
			s.logger.Warn("could not record the fence target check", "group", name, "error", err)
			return
		}
		// Every entry up to here includes the check event: a report that
		// applied this index was built after the decision.
		ls.fb.setCheck(name, gs.Epoch, s.fsm.AppliedIndex())
	case decide.Assign:
		epoch, err := s.commit(ctx, &fsm.Assign{Header: s.header("leader"), Group: name, To: node, ExpectEpoch: gs.Epoch, Fence: d.Fence, TargetIdle: d.TargetIdle, Cause: d.Cause, Reason: d.Reason})
		if err != nil {
			s.logger.Warn("takeover back to the fence target refused", "group", name, "to", node, "error", err)
			return
		}
		s.metrics.failovers.WithLabelValues(name, string(d.Cause)).Inc()
		s.logger.Warn("takeover back to the idle fence target", "group", name, "to", node, "epoch", epoch)
	}
}

// FenceOverride is an operator accepting, in the log, the risk that the
// node a group is fencing (or the owner whose stop failed) still runs it:
// a fencing group is marked fenced and starts on its owner; a stop-failed
// group may move again. by (the caller's identity) and reason are
// recorded in the event, so `raftha why` shows who accepted the risk.
func (s *Server) FenceOverride(ctx context.Context, group, reason, by string) (api.GroupStatus, error) {
	if err := s.checkRunning(); err != nil {
		return api.GroupStatus{}, err
	}
	if reason == "" {
		return api.GroupStatus{}, fmt.Errorf("%w: say why you accept the risk (--accept-risk REASON)", fsm.ErrInvalid)
	}
	g, ok := s.fsm.View().Groups[group]
	if !ok {
		return api.GroupStatus{}, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, group)
	}
	if _, err := s.operatorCommit(ctx, &fsm.FenceOverride{Header: s.header(by), Group: group, ExpectEpoch: g.Status.Epoch, Reason: reason}); err != nil {
		return groupStatusOf(g), err
	}
	s.logger.Warn("fence overridden by an operator", "group", group, "by", by, "reason", reason)
	if g, ok := s.fsm.View().Groups[group]; ok {
		return groupStatusOf(g), nil
	}
	return api.GroupStatus{}, nil
}

func (s *Server) handleFenceOverride(w http.ResponseWriter, r *http.Request) {
	var req api.FenceOverrideRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || req.AcceptRisk == "" {
		writeError(w, http.StatusBadRequest, &api.Error{Message: "body must be JSON like {\"accept_risk\": \"n1 is powered off in the console\"}: the reason you accept the risk is required", Code: api.CodeInvalid})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	g, err := s.FenceOverride(ctx, r.PathValue("name"), req.AcceptRisk, identity(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}
