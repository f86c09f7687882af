package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
)

// takeover moves a group away from a lost owner: it commits the decision
// (new epoch, state fencing, the node to fence) and the winner fences the
// loser before it starts anything.
func (s *Server) takeover(ctx context.Context, ls *leaderState, in decide.Input, g *fsm.Group) {
	// Measure the silence and commit under contactMu: a heartbeat or
	// confirm that renews the owner's lease either happened before (and
	// the silence counts from it) or reads the log after the takeover
	// (and renews nothing). Otherwise a renewal landing between the two
	// would outlive the wait the decision records. Renewals take the
	// write lock; takeovers of one pass share the read lock.
	ls.contactMu.RLock()
	defer ls.contactMu.RUnlock()
	s.act(ctx, ls, in.State, g, decide.Takeover(in, g))
}

// act carries out one decision of the leader (decide.Next): it commits
// the move, records the note, or hands over to the paths that keep state
// of their own (fence-back, automatic retry).
func (s *Server) act(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group, d decide.Decision) {
	gs, name := g.Status, g.Spec.Name
	switch d.Action {
	case decide.None, decide.Wait:
		return
	case decide.Note:
		ls.noteOnce(ctx, g, d.Kind, d.Reason)
		return
	case decide.TakeBack:
		s.takeBack(ctx, ls, st, g)
		return
	case decide.NoNodeLeft:
		if s.autoRetry(ctx, ls, st, g) {
			return
		}
		ls.noteOnce(ctx, g, fsm.KindNoNode, fmt.Sprintf("group %s failed on %v and no other healthy node of %v is left; %s (last failure: %s)", name, gs.FailedOn, g.Spec.Nodes, ls.retryPlan(g), gs.Reason))
		return
	}
	var c fsm.Command
	switch d.Action {
	case decide.Assign:
		if d.Cause == fsm.CauseNodeLost && gs.Owner != "" {
			d.Reason += ls.disk.lostNote(gs.Owner, s.cfg.Timing.FailoverTimeout.D()) // diskpath.go: text only
		}
		c = &fsm.Assign{Header: s.header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch, Fence: d.Fence, FenceWait: d.FenceWait, FenceSilence: d.FenceSilence, Cause: d.Cause, Reason: d.Reason}
	case decide.Transfer:
		c = &fsm.BeginTransfer{Header: s.header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch, Cause: d.Cause}
	case decide.StandbyMove:
		c = &fsm.StandbyMove{Header: s.header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch}
	default:
		s.logger.Error("unknown leader decision; nothing committed", "group", name, "action", d.Action)
		return
	}
	epoch, err := s.commit(ctx, c)
	s.logDecision(g, d, epoch, err)
}

// logDecision logs a committed (or refused) decision and counts failovers.
func (s *Server) logDecision(g *fsm.Group, d decide.Decision, epoch uint64, err error) {
	gs, name := g.Status, g.Spec.Name
	if err != nil {
		switch d.Rule {
		case decide.RulePlace:
			s.logLimit.Log(s.logger, hclog.Warn, "place/"+name, "placement refused", "group", name, "node", d.To, "error", err)
		case decide.RuleTakeover:
			s.logLimit.Log(s.logger, hclog.Warn, "takeover/"+name, "takeover refused", "group", name, "from", gs.Owner, "to", d.To, "error", err)
		case decide.RuleRecover:
			if d.Fence {
				s.logLimit.Log(s.logger, hclog.Warn, "recover/"+name, "fenced recovery refused", "group", name, "error", err)
			} else {
				s.logLimit.Log(s.logger, hclog.Warn, "recover/"+name, "recovery refused", "group", name, "to", d.To, "error", err)
			}
		case decide.RuleEvacuate:
			s.logger.Warn("could not move group off a leaving member", "group", name, "from", gs.Owner, "error", err)
		case decide.RuleStandby:
			s.logLimit.Log(s.logger, hclog.Warn, "standby/"+name, "standby move refused", "group", name, "from", gs.Owner, "to", d.To, "error", err)
		case decide.RuleFailback:
			s.logLimit.Log(s.logger, hclog.Warn, "failback/"+name, "failback refused", "group", name, "to", d.To, "error", err)
		}
		return
	}
	switch d.Cause {
	case fsm.CauseNodeLost, fsm.CauseStopFailed, fsm.CauseFailure:
		s.metrics.failovers.WithLabelValues(name, string(d.Cause)).Inc()
	}
	switch d.Rule {
	case decide.RulePlace:
		s.logger.Info("group placed", "group", name, "node", d.To, "epoch", epoch)
	case decide.RuleTakeover:
		s.logger.Warn("owner lost: takeover decided; the winner fences it first", "group", name, "lost", gs.Owner, "winner", d.To, "epoch", epoch, "silence", d.FenceSilence.Round(time.Millisecond), "fence_wait", d.FenceWait)
	case decide.RuleRecover:
		if !d.Fence {
			s.logger.Warn("group failed; moving it to the next node", "group", name, "failed_on", gs.FailedOn, "to", d.To)
		}
	case decide.RuleEvacuate:
		s.logger.Info("moving group off a leaving member", "group", name, "from", gs.Owner, "to", d.To)
	case decide.RuleStandby:
		s.logger.Info("moving group off a standby node", "group", name, "from", gs.Owner, "to", d.To)
	case decide.RuleFailback:
		s.logger.Info("failback: moving group to its first node", "group", name, "to", d.To)
	}
}

// handOverLeadership moves leadership off members where it costs
// failover time: a witness hands it to a node, an owner that leads to a
// node that owns nothing (decide.HandOver says to whom and when).
func (s *Server) handOverLeadership(ls *leaderState, st *fsm.State) {
	addr := map[string]raft.ServerAddress{}
	id := decide.HandOver(st, ls.c, s.cfg.Role, ls.lastHandover, func() ([]decide.Voter, bool) {
		f := s.raft.GetConfiguration()
		if f.Error() != nil {
			return nil, false
		}
		servers := f.Configuration().Servers
		out := make([]decide.Voter, len(servers))
		for i, srv := range servers {
			out[i] = decide.Voter{ID: string(srv.ID), Voter: srv.Suffrage == raft.Voter}
			addr[string(srv.ID)] = srv.Address
		}
		return out, true
	})
	if id == "" {
		return
	}
	ls.lastHandover = ls.c.Now()
	s.logger.Info("handing leadership to a node that owns no group", "to", id, "from_role", s.cfg.Role)
	to := addr[id]
	go func() {
		if err := s.raft.LeadershipTransferToServer(raft.ServerID(id), to).Error(); err != nil {
			s.logger.Warn("leadership handover failed", "to", id, "error", err)
		}
	}()
}

// noteOnce records an event once per group epoch and kind.
func (ls *leaderState) noteOnce(ctx context.Context, g *fsm.Group, kind fsm.EventKind, reason string) {
	key := fmt.Sprintf("%s/%s/%d", g.Spec.Name, kind, g.Status.Epoch)
	ls.mu.Lock()
	done := ls.noted[key]
	ls.noted[key] = true
	ls.mu.Unlock()
	if done {
		return
	}
	s := ls.s
	s.logger.Warn(reason, "group", g.Spec.Name)
	if _, err := s.commit(ctx, &fsm.Note{Header: s.header("leader"), Kind: kind, Group: g.Spec.Name, Epoch: g.Status.Epoch, Reason: reason}); err != nil {
		s.logger.Warn("could not record event", "kind", kind, "error", err)
	}
}
