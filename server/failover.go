package server

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// lost reports whether the leader has not heard from node for
// failover_timeout, or, for a node this leader has never heard from, for
// a lease and a heartbeat since it became ready. The previous leader is
// also lost once failover_timeout has passed since its last answer to
// this member's heartbeat (as for any owner, counted from the last
// contact), and this leader has led for two heartbeats (time for a live
// one to find it): an owner that also led is then taken over as soon as
// one that followed, not an election plus a lease later.
//
// lost only decides when a takeover starts. Its safety never rests on it:
// aws-stop fences the owner first, and the lease-only wait is counted
// from this leader's readiness (lastContact), not from the last answer.
func (ls *leaderState) lost(node string) bool {
	if node == ls.s.cfg.NodeID {
		return false
	}
	ls.mu.Lock()
	_, heard := ls.lastSeen[node]
	ls.mu.Unlock()
	if !heard {
		// Never heard by this leader: a live owner heartbeats within a
		// heartbeat of learning the new leader, and whatever lease it
		// held has run out after one lease (clause: a new leader waits at
		// least one lease). lastContact still counts from readiness only,
		// so lease-only waits stay conservative.
		t := ls.s.cfg.Timing
		if ls.prevLeaderGone(node) {
			return true
		}
		return time.Since(ls.since) >= t.Lease.D()+t.Heartbeat.D()
	}
	return ls.lastContact(node) >= ls.s.cfg.Timing.FailoverTimeout.D()
}

// prevLeaderGone reports whether node is the previous leader, silent for
// failover_timeout since its last answer to this member, with this leader
// ready for two heartbeats.
func (ls *leaderState) prevLeaderGone(node string) bool {
	t := ls.s.cfg.Timing
	return node == ls.prevLeader && !ls.prevLeaderAt.IsZero() &&
		time.Since(ls.since) >= 2*t.Heartbeat.D() && time.Since(ls.prevLeaderAt) >= t.FailoverTimeout.D()
}

// winner picks the first node of the group's list that may take it over:
// one that is not on standby, else (availability over maintenance) one
// that is (standby.go).
func (ls *leaderState) winner(st *fsm.State, g *fsm.Group, exclude ...string) string {
	if w := ls.pick(st, g, false, exclude...); w != "" {
		return w
	}
	return ls.pick(st, g, true, exclude...)
}

// takeover moves a group away from a lost owner: it commits the decision
// (new epoch, state fencing, the node to fence) and the winner fences the
// loser before it starts anything.
func (s *Server) takeover(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	owner := g.Status.Owner
	// Measure the silence and commit under contactMu: a heartbeat or
	// confirm that renews the owner's lease either happened before (and
	// the silence counts from it) or reads the log after the takeover
	// (and renews nothing). Otherwise a renewal landing between the two
	// would outlive the wait the decision records. Renewals take the
	// write lock; takeovers of one pass share the read lock.
	ls.contactMu.RLock()
	defer ls.contactMu.RUnlock()
	if g.Status.Owner != "" && !ls.lost(owner) {
		return // heard from since the leader loop looked
	}
	silence := ls.lastContact(owner)
	fenceNode := ""
	if g.Status.State == fsm.StateFencing {
		fenceNode = g.Status.FenceNode // it cannot fence itself
	}
	w := ls.winner(st, g, owner, fenceNode)
	if w == "" && fenceNode != "" && st.Eligible(g, fenceNode) == nil && ls.healthy(fenceNode) && !ls.isLeaving(fenceNode) {
		s.takeBack(ctx, ls, g)
		return
	}
	if w == "" {
		ls.noteOnce(ctx, g, fsm.KindNoNode, fmt.Sprintf("%s lost (not heard from for %s) and no other healthy node of %v can take the group over", owner, silence.Round(time.Millisecond), g.Spec.Nodes))
		return
	}
	wait := s.takeoverWait(st, silence)
	reason := fmt.Sprintf("%s not heard from for %s (failover_timeout %s)", owner, silence.Round(time.Millisecond), s.cfg.Timing.FailoverTimeout)
	if !ls.heard(owner) {
		reason = fmt.Sprintf("%s not heard from since this leader took over %s ago (a new leader waits lease + heartbeat)", owner, silence.Round(time.Millisecond))
		if ls.prevLeaderGone(owner) {
			reason = fmt.Sprintf("%s, the previous leader, last answered %s ago (failover_timeout %s); not heard from since this leader took over %s ago", owner, time.Since(ls.prevLeaderAt).Round(time.Millisecond), s.cfg.Timing.FailoverTimeout, silence.Round(time.Millisecond))
		}
	}
	reason += lastResort(st, w)
	epoch, err := s.commit(ctx, &fsm.Assign{Header: s.header("leader"), Group: g.Spec.Name, To: w, ExpectEpoch: g.Status.Epoch, Fence: true, FenceWait: wait, FenceSilence: silence, Cause: fsm.CauseNodeLost, Reason: reason})
	if err != nil {
		s.logLimit.Log(s.logger, hclog.Warn, "takeover/"+g.Spec.Name, "takeover refused", "group", g.Spec.Name, "from", owner, "to", w, "error", err)
		return
	}
	s.metrics.failovers.WithLabelValues(g.Spec.Name, string(fsm.CauseNodeLost)).Inc()
	s.logger.Warn("owner lost: takeover decided; the winner fences it first", "group", g.Spec.Name, "lost", owner, "winner", w, "epoch", epoch, "silence", silence.Round(time.Millisecond), "fence_wait", wait)
}

// recover moves a failed group to the next healthy node where it has not
// failed yet. A group whose resources could not be stopped is moved only by
// a fenced takeover. With no node left it stays stopped, with an event.
func (s *Server) recover(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	gs := g.Status
	if gs.StopFailed {
		w := ls.winner(st, g, gs.Owner)
		if w == "" {
			ls.noteOnce(ctx, g, fsm.KindNoNode, fmt.Sprintf("group %s could not be stopped on %s and no other healthy node can fence it and take over; it stays there, stopped as far as raftha could", g.Spec.Name, gs.Owner))
			return
		}
		wait := s.takeoverWait(st, 0)
		if _, err := s.commit(ctx, &fsm.Assign{Header: s.header("leader"), Group: g.Spec.Name, To: w, ExpectEpoch: gs.Epoch, Fence: true, FenceWait: wait, Cause: fsm.CauseStopFailed, Reason: gs.Reason + lastResort(st, w)}); err != nil {
			s.logLimit.Log(s.logger, hclog.Warn, "recover/"+g.Spec.Name, "fenced recovery refused", "group", g.Spec.Name, "error", err)
			return
		}
		s.metrics.failovers.WithLabelValues(g.Spec.Name, string(fsm.CauseStopFailed)).Inc()
		return
	}
	w := ls.winner(st, g, gs.FailedOn...)
	if w == "" {
		if s.autoRetry(ctx, ls, st, g) {
			return
		}
		ls.noteOnce(ctx, g, fsm.KindNoNode, fmt.Sprintf("group %s failed on %v and no other healthy node of %v is left; %s (last failure: %s)", g.Spec.Name, gs.FailedOn, g.Spec.Nodes, ls.retryPlan(g), gs.Reason))
		return
	}
	if _, err := s.commit(ctx, &fsm.Assign{Header: s.header("leader"), Group: g.Spec.Name, To: w, ExpectEpoch: gs.Epoch, Cause: fsm.CauseFailure, Reason: gs.Reason + lastResort(st, w)}); err != nil {
		s.logLimit.Log(s.logger, hclog.Warn, "recover/"+g.Spec.Name, "recovery refused", "group", g.Spec.Name, "to", w, "error", err)
		return
	}
	s.metrics.failovers.WithLabelValues(g.Spec.Name, string(fsm.CauseFailure)).Inc()
	s.logger.Warn("group failed; moving it to the next node", "group", g.Spec.Name, "failed_on", gs.FailedOn, "to", w)
}

// failback moves a failback group home once its first node has been
// healthy for a while (two failover timeouts, to ride out flapping).
func (s *Server) failback(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	home := g.Spec.Nodes[0]
	if g.Status.Owner == home || st.Eligible(g, home) != nil || !ls.healthy(home) || ls.isLeaving(home) || st.OnStandby(home) {
		return
	}
	if ls.healthyFor(home) < 2*s.cfg.Timing.FailoverTimeout.D() {
		return
	}
	if _, err := s.commit(ctx, &fsm.BeginTransfer{Header: s.header("leader"), Group: g.Spec.Name, To: home, ExpectEpoch: g.Status.Epoch, Cause: fsm.CauseFailback}); err != nil {
		s.logLimit.Log(s.logger, hclog.Warn, "failback/"+g.Spec.Name, "failback refused", "group", g.Spec.Name, "to", home, "error", err)
		return
	}
	s.logger.Info("failback: moving group to its first node", "group", g.Spec.Name, "to", home)
}

// handOverLeadership moves leadership off members where it costs
// failover time. A witness may lead (raft cannot stop a voter from
// winning) but only orchestrates, so it hands leadership to a node. A node
// that leads and owns groups hands it to a healthy node that owns none:
// if an owner also leads, losing it costs an election on top of the
// failover. The recipient owns nothing, so it never hands back.
func (s *Server) handOverLeadership(ls *leaderState, st *fsm.State) {
	if time.Since(ls.since) < s.cfg.Timing.FailoverTimeout.D() || time.Since(ls.lastHandover) < 2*s.cfg.Timing.FailoverTimeout.D() {
		return
	}
	owners := map[string]bool{}
	for _, g := range st.Groups {
		if g.Status.Active() {
			owners[g.Status.Owner] = true
		}
	}
	if s.cfg.Role == config.RoleNode && !owners[s.cfg.NodeID] {
		return
	}
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	// A copy: the slice is raft's, shared with every other reader of the
	// configuration (removeMemberLocal raced with this sort under -race).
	servers := append([]raft.Server(nil), f.Configuration().Servers...)
	sort.SliceStable(servers, func(i, j int) bool { return !owners[string(servers[i].ID)] && owners[string(servers[j].ID)] })
	for _, srv := range servers {
		id := string(srv.ID)
		m, ok := st.Members[id]
		if id == s.cfg.NodeID || srv.Suffrage != raft.Voter || !ok || m.Role != fsm.RoleNode || m.Standby != nil || !ls.healthy(id) || !ls.reachedDirectly(id) || ls.isLeaving(id) {
			continue
		}
		if s.cfg.Role == config.RoleNode && owners[id] {
			return // every other node owns something too: stay
		}
		ls.lastHandover = time.Now()
		s.logger.Info("handing leadership to a node that owns no group", "to", id, "from_role", s.cfg.Role)
		go func() {
			if err := s.raft.LeadershipTransferToServer(srv.ID, srv.Address).Error(); err != nil {
				s.logger.Warn("leadership handover failed", "to", id, "error", err)
			}
		}()
		return
	}
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
