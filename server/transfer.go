package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
)

// DefaultTransferTimeout bounds a planned move when the caller sets none.
const DefaultTransferTimeout = 2 * time.Minute

// Transfer moves group to node as a planned move: the owner stops the
// group (reverse order), the log records the new owner with a new epoch,
// and the new owner starts it. It returns when the group is online on node,
// or fails with the reason. It may be called on any member.
func (s *Server) Transfer(ctx context.Context, group, to, by string) (GroupStatus, error) {
	if s.leader() == nil {
		addr, id := s.leaderAddr()
		if id == "" {
			return GroupStatus{}, ErrNoLeader
		}
		if id == raft.ServerID(s.cfg.NodeID) {
			return GroupStatus{}, fmt.Errorf("%w: leader not ready yet; retry", ErrNoLeader)
		}
		var reply TransferReply
		err := s.pool.Call(ctx, string(addr), "Raftha.Transfer", TransferArgs{Group: group, To: to, By: by, Timeout: timeoutOf(ctx)}, &reply)
		if err != nil {
			return GroupStatus{}, fmt.Errorf("forward to leader %s: %w", id, err)
		}
		if reply.Err != "" {
			return reply.Group, remoteError(reply.Code, reply.Err)
		}
		return reply.Group, nil
	}
	return s.transferLocal(ctx, group, to, by)
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return DefaultTransferTimeout
}

func (s *Server) transferLocal(ctx context.Context, group, to, by string) (GroupStatus, error) {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		return GroupStatus{}, err
	}
	st := s.fsm.View()
	g, ok := st.Groups[group]
	if !ok {
		return GroupStatus{}, fmt.Errorf("%w: no group named %q (groups: %s)", fsm.ErrNoGroup, group, strings.Join(st.GroupNames(), ", "))
	}
	m, ok := st.Members[to]
	switch {
	case !ok:
		return GroupStatus{}, fmt.Errorf("%w: no member named %q (members: %s)", ErrRefused, to, strings.Join(st.MemberIDs(), ", "))
	case m.Role == fsm.RoleWitness:
		return GroupStatus{}, fmt.Errorf("%w: %s is a witness; a witness votes but never owns a group", ErrRefused, to)
	case !g.HasNode(to):
		return GroupStatus{}, fmt.Errorf("%w: %s is not in group %s's nodes %v; add it to the group file first", ErrRefused, to, group, g.Spec.Nodes)
	case !ls.healthy(to) || ls.isLeaving(to):
		return GroupStatus{}, fmt.Errorf("%w: %s is not healthy (%s; failover_timeout %s)", ErrRefused, to, ls.describeContact(to), s.cfg.Timing.FailoverTimeout)
	}
	if g.Status.Owner == to && g.Status.State == fsm.StateOnline {
		return groupStatusOf(g), nil
	}
	if _, err := s.commit(ctx, &fsm.BeginTransfer{Header: s.header(by), Group: group, To: to, ExpectEpoch: g.Status.Epoch}); err != nil {
		return GroupStatus{}, err
	}
	s.logger.Info("planned move started", "group", group, "from", g.Status.Owner, "to", to, "by", by)
	gs, err := s.waitOnline(ctx, group, to, g.Status.Epoch)
	result := "ok"
	if err != nil {
		result = "failed"
	}
	s.metrics.transfers.WithLabelValues(result).Inc()
	return gs, err
}

// waitOnline waits until group is online on node at an epoch above after.
func (s *Server) waitOnline(ctx context.Context, group, node string, after uint64) (GroupStatus, error) {
	for {
		ch := s.fsm.Changed()
		st := s.fsm.View()
		g, ok := st.Groups[group]
		if !ok {
			return GroupStatus{}, fmt.Errorf("%w: group %s was deleted", fsm.ErrNoGroup, group)
		}
		gs := g.Status
		switch {
		case gs.Owner == node && gs.State == fsm.StateOnline && gs.Epoch > after:
			return groupStatusOf(g), nil
		case gs.State == fsm.StateFailed:
			return groupStatusOf(g), fmt.Errorf("%w: group %s failed on %s at epoch %d: %s", ErrRefused, group, gs.Owner, gs.Epoch, gs.Reason)
		case gs.Epoch > after && gs.Owner != node:
			return groupStatusOf(g), fmt.Errorf("%w: group %s went to %s instead (epoch %d, %s)", ErrRefused, group, gs.Owner, gs.Epoch, gs.Reason)
		case gs.State == fsm.StateOffline && gs.Epoch == after:
			return groupStatusOf(g), fmt.Errorf("%w: the move was abandoned; group %s is offline: %s", ErrRefused, group, gs.Reason)
		}
		// Leadership may move during the move (a new owner that leads
		// hands it to an idle node): this member keeps applying the log as
		// a follower, so waiting on its FSM still sees the outcome.
		select {
		case <-ch:
		case <-ctx.Done():
			return groupStatusOf(g), fmt.Errorf("timed out: group %s is %s on %s at epoch %d (%s)", group, gs.State, gs.Owner, gs.Epoch, gs.Reason)
		}
	}
}

func groupStatusOf(g *fsm.Group) GroupStatus {
	gs := GroupStatus{Name: g.Spec.Name, Owner: g.Status.Owner, Epoch: g.Status.Epoch, State: g.Status.State, Nodes: g.Spec.Nodes,
		Reason: g.Status.Reason, Target: g.Status.Target, FenceNode: g.Status.FenceNode, Failback: g.Spec.Failback, Since: g.Status.Since,
		Suspended: g.Status.Suspended, FailedOn: g.Status.FailedOn}
	for _, r := range g.Spec.Resources {
		gs.Resources = append(gs.Resources, r.Name+" ("+r.Type+")")
	}
	return gs
}

// TransferArgs is a forwarded transfer.
type TransferArgs struct {
	// Group is the group to move, To the node to move it to, and By who
	// asked.
	Group, To, By string
	// Timeout is the caller's remaining deadline; the leader uses
	// DefaultTransferTimeout when it is not in (0, 30m].
	Timeout time.Duration
}

// TransferReply is its outcome.
type TransferReply struct {
	// Group is the group's status when the move ended; zero when the
	// move was refused before it began.
	Group GroupStatus
	// Err is the error message; "" when the group is online on To.
	Err string
	// Code is Err's stable code (refused, not_leader, ...); "" when none.
	Code string
}

// Transfer runs a forwarded planned move on the leader.
func (e *rpcEndpoint) Transfer(a TransferArgs, r *TransferReply) error {
	if a.Timeout <= 0 || a.Timeout > 30*time.Minute {
		a.Timeout = DefaultTransferTimeout
	}
	ctx, cancel := context.WithTimeout(e.s.ctx, a.Timeout)
	defer cancel()
	if e.s.leader() == nil {
		r.Err, r.Code = ErrNotLeader.Error(), "not_leader"
		return nil
	}
	g, err := e.s.transferLocal(ctx, a.Group, a.To, a.By)
	r.Group = g
	if err != nil {
		r.Err, r.Code = err.Error(), errorCode(err)
	}
	return nil
}

// SetSuspended pauses (true) or resumes (false) a group's monitoring and
// automatic actions. Resuming also forgets the nodes where it failed, so
// automatic recovery may use them again.
func (s *Server) SetSuspended(ctx context.Context, group string, suspended bool, by string) error {
	_, err := s.commit(ctx, &fsm.SetSuspended{Header: s.header(by), Group: group, Suspended: suspended})
	return err
}

// StopGroup suspends a group (so nothing places it again) and stops it on
// its owner, waiting until it is offline. SetSuspended(false) (raftha
// group start) undoes it.
func (s *Server) StopGroup(ctx context.Context, group, by string) (GroupStatus, error) {
	if err := s.SetSuspended(ctx, group, true, by); err != nil {
		return GroupStatus{}, err
	}
	var requested uint64
	for {
		ch := s.fsm.Changed()
		g, ok := s.fsm.View().Groups[group]
		if !ok {
			return GroupStatus{}, fmt.Errorf("%w: %s", fsm.ErrNoGroup, group)
		}
		switch g.Status.State {
		case fsm.StateOffline:
			return groupStatusOf(g), nil
		case fsm.StateFailed:
			if g.Status.StopFailed {
				return groupStatusOf(g), fmt.Errorf("%w: group %s could not be stopped on %s: %s", ErrRefused, group, g.Status.Owner, g.Status.Reason)
			}
			return groupStatusOf(g), nil
		case fsm.StateOnline, fsm.StateStarting:
			// This member's view may lag the leader's right after the
			// stop was committed: ask once per epoch, and take busy or
			// stale-epoch refusals as "already under way".
			if requested != g.Status.Epoch {
				requested = g.Status.Epoch
				if _, err := s.commit(ctx, &fsm.BeginTransfer{Header: s.header(by), Group: group, ExpectEpoch: g.Status.Epoch}); err != nil && !errors.Is(err, fsm.ErrStaleEpoch) && !errors.Is(err, fsm.ErrBusy) {
					return groupStatusOf(g), err
				}
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return groupStatusOf(g), fmt.Errorf("timed out: group %s is %s on %s (%s)", group, g.Status.State, g.Status.Owner, g.Status.Reason)
		}
	}
}
