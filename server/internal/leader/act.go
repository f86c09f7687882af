package leader

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
func (t *Term) takeover(ctx context.Context, in decide.Input, g *fsm.Group) {
	// Measure the silence and commit under contactMu: a heartbeat or
	// confirm that renews the owner's lease either happened before (and
	// the silence counts from it) or reads the log after the takeover
	// (and renews nothing). Otherwise a renewal landing between the two
	// would outlive the wait the decision records. Renewals take the
	// write lock; takeovers of one pass share the read lock.
	t.contactMu.RLock()
	defer t.contactMu.RUnlock()
	t.act(ctx, in.State, g, decide.Takeover(in, g))
}

// act carries out one decision of the leader (decide.Next): it commits
// the move, records the note, or hands over to the paths that keep state
// of their own (fence-back, automatic retry).
func (t *Term) act(ctx context.Context, st *fsm.State, g *fsm.Group, d decide.Decision) {
	gs, name := g.Status, g.Spec.Name
	h := t.l.cfg.Host
	switch d.Action {
	case decide.None, decide.Wait:
		return
	case decide.Note:
		t.noteOnce(ctx, g, d.Kind, d.Reason)
		return
	case decide.TakeBack:
		t.takeBack(ctx, st, g)
		return
	case decide.NoNodeLeft:
		if t.autoRetry(ctx, st, g) {
			return
		}
		t.noteOnce(ctx, g, fsm.KindNoNode, fmt.Sprintf("group %s failed on %v and no other healthy node of %v is left; %s (last failure: %s)", name, gs.FailedOn, g.Spec.Nodes, t.retryPlan(g), gs.Reason))
		return
	}
	var c fsm.Command
	switch d.Action {
	case decide.Assign:
		if d.Cause == fsm.CauseNodeLost && gs.Owner != "" {
			d.Reason += t.disk.lostNote(gs.Owner, t.l.cfg.Timing.FailoverTimeout, t.l.cfg.Clock.Now()) // diskseen.go: text only
		}
		c = &fsm.Assign{Header: h.Header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch, Fence: d.Fence, FenceWait: d.FenceWait, FenceSilence: d.FenceSilence, Cause: d.Cause, Reason: d.Reason}
	case decide.Transfer:
		c = &fsm.BeginTransfer{Header: h.Header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch, Cause: d.Cause}
	case decide.StandbyMove:
		c = &fsm.StandbyMove{Header: h.Header("leader"), Group: name, To: d.To, ExpectEpoch: gs.Epoch}
	default:
		t.l.cfg.Logger.Error("unknown leader decision; nothing committed", "group", name, "action", d.Action)
		return
	}
	epoch, err := h.Commit(ctx, c)
	t.l.logDecision(g, d, epoch, err)
}

// logDecision logs a committed (or refused) decision and counts failovers.
func (l *Leader) logDecision(g *fsm.Group, d decide.Decision, epoch uint64, err error) {
	gs, name := g.Status, g.Spec.Name
	log, limit := l.cfg.Logger, l.cfg.LogLimit
	if err != nil {
		switch d.Rule {
		case decide.RulePlace:
			limit.Log(log, hclog.Warn, "place/"+name, "placement refused", "group", name, "node", d.To, "error", err)
		case decide.RuleTakeover:
			limit.Log(log, hclog.Warn, "takeover/"+name, "takeover refused", "group", name, "from", gs.Owner, "to", d.To, "error", err)
		case decide.RuleRecover:
			if d.Fence {
				limit.Log(log, hclog.Warn, "recover/"+name, "fenced recovery refused", "group", name, "error", err)
			} else {
				limit.Log(log, hclog.Warn, "recover/"+name, "recovery refused", "group", name, "to", d.To, "error", err)
			}
		case decide.RuleEvacuate:
			log.Warn("could not move group off a leaving member", "group", name, "from", gs.Owner, "error", err)
		case decide.RuleStandby:
			limit.Log(log, hclog.Warn, "standby/"+name, "standby move refused", "group", name, "from", gs.Owner, "to", d.To, "error", err)
		case decide.RuleFailback:
			limit.Log(log, hclog.Warn, "failback/"+name, "failback refused", "group", name, "to", d.To, "error", err)
		}
		return
	}
	switch d.Cause {
	case fsm.CauseNodeLost, fsm.CauseStopFailed, fsm.CauseFailure:
		l.cfg.Host.Failover(name, d.Cause)
	}
	switch d.Rule {
	case decide.RulePlace:
		log.Info("group placed", "group", name, "node", d.To, "epoch", epoch)
	case decide.RuleTakeover:
		log.Warn("owner lost: takeover decided; the winner fences it first", "group", name, "lost", gs.Owner, "winner", d.To, "epoch", epoch, "silence", d.FenceSilence.Round(time.Millisecond), "fence_wait", d.FenceWait)
	case decide.RuleRecover:
		if !d.Fence {
			log.Warn("group failed; moving it to the next node", "group", name, "failed_on", gs.FailedOn, "to", d.To)
		}
	case decide.RuleEvacuate:
		log.Info("moving group off a leaving member", "group", name, "from", gs.Owner, "to", d.To)
	case decide.RuleStandby:
		log.Info("moving group off a standby node", "group", name, "from", gs.Owner, "to", d.To)
	case decide.RuleFailback:
		log.Info("failback: moving group to its first node", "group", name, "to", d.To)
	}
}

// handOverLeadership moves leadership off members where it costs
// failover time: a witness hands it to a node, an owner that leads to a
// node that owns nothing (decide.HandOver says to whom and when).
func (t *Term) handOverLeadership(st *fsm.State) {
	l := t.l
	addr := map[string]raft.ServerAddress{}
	id := decide.HandOver(st, t.c, l.cfg.Role, t.lastHandover, func() ([]decide.Voter, bool) {
		servers, err := l.cfg.Raft.Servers()
		if err != nil {
			return nil, false
		}
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
	t.lastHandover = t.c.Now()
	l.cfg.Logger.Info("handing leadership to a node that owns no group", "to", id, "from_role", l.cfg.Role)
	to := addr[id]
	go func() {
		if err := l.cfg.Raft.TransferLeadership(raft.ServerID(id), to); err != nil {
			l.cfg.Logger.Warn("leadership handover failed", "to", id, "error", err)
		}
	}()
}

// noteOnce records an event once per group epoch and kind.
func (t *Term) noteOnce(ctx context.Context, g *fsm.Group, kind fsm.EventKind, reason string) {
	key := fmt.Sprintf("%s/%s/%d", g.Spec.Name, kind, g.Status.Epoch)
	t.mu.Lock()
	done := t.noted[key]
	t.noted[key] = true
	t.mu.Unlock()
	if done {
		return
	}
	l := t.l
	l.cfg.Logger.Warn(reason, "group", g.Spec.Name)
	if _, err := l.cfg.Host.Commit(ctx, &fsm.Note{Header: l.cfg.Host.Header("leader"), Kind: kind, Group: g.Spec.Name, Epoch: g.Status.Epoch, Reason: reason}); err != nil {
		l.cfg.Logger.Warn("could not record event", "kind", kind, "error", err)
	}
}
