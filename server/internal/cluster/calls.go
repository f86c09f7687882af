package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// The leader-bound calls. Each is declared once, with both halves: the
// member side (the exported method of Cluster, through forward or
// forwardLease) and the leader side (its endpoint method, through serve).

// heartbeatCall is the member heartbeat, on the lease lane: the leader
// records the contact and confirms the groups the member owns. It is never
// retried: a late answer is of no use to a lease.
var heartbeatCall = &call[rpcwire.HeartbeatArgs, rpcwire.HeartbeatReply]{
	method: MethodHeartbeat,
	lane:   LaneLease,
	local: func(c *Cluster, ctx context.Context, a rpcwire.HeartbeatArgs) (rpcwire.HeartbeatReply, error) {
		owned, err := c.local.Heartbeat(ctx, a)
		if err != nil {
			return rpcwire.HeartbeatReply{}, err
		}
		return rpcwire.HeartbeatReply{Leader: c.cfg.NodeID, Owned: owned}, nil
	},
	authorize: func(c *Cluster, peer string, a *rpcwire.HeartbeatArgs) error {
		if err := selfOnly(peer, a.Node, "a heartbeat"); err != nil {
			return err
		}
		if r, ok := c.memberRole(peer); ok && string(r) != a.Role {
			return fmt.Errorf("%w: member %s has role %s, not %q", errs.ErrForbidden, peer, r, a.Role)
		}
		return nil
	},
	admit: leaseAdmit[rpcwire.HeartbeatArgs],
	relayed: func(a rpcwire.HeartbeatArgs) rpcwire.HeartbeatArgs {
		a.Relayed = true
		return a
	},
}

// Heartbeat sends this member's heartbeat to the leader (relayed when
// the direct path fails, see forwardLease).
func (c *Cluster) Heartbeat(ctx context.Context, a rpcwire.HeartbeatArgs) (rpcwire.HeartbeatReply, error) {
	return forwardLease(ctx, c, heartbeatCall, a)
}

// confirmCall is the leader-confirmed ownership check (clause 2), on the
// lease lane and never retried.
var confirmCall = &call[rpcwire.ConfirmArgs, rpcwire.ConfirmReply]{
	method: MethodConfirm,
	lane:   LaneLease,
	local: func(c *Cluster, ctx context.Context, a rpcwire.ConfirmArgs) (rpcwire.ConfirmReply, error) {
		return rpcwire.ConfirmReply{}, c.local.Confirm(ctx, a.Group, a.Node, a.Epoch)
	},
	authorize: func(_ *Cluster, peer string, a *rpcwire.ConfirmArgs) error {
		return selfOnly(peer, a.Node, "a confirmation")
	},
	admit: leaseAdmit[rpcwire.ConfirmArgs],
}

// Confirm asks the leader, linearizably, whether a.Node (this member)
// owns a.Group at a.Epoch (relayed when the direct path fails).
func (c *Cluster) Confirm(ctx context.Context, a rpcwire.ConfirmArgs) error {
	_, err := forwardLease(ctx, c, confirmCall, a)
	return err
}

// leaseAdmit bounds a lease-path RPC on the leader: an answer later than
// a lease is of no use to the caller, and the member's shutdown ends it.
func leaseAdmit[A any](c *Cluster, _ A) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timing.Lease.D())
	return ctx, cancel, nil
}

// proposeCall commits an encoded fsm.Command through the leader: the FSM's
// refusal is the call's error, its epoch the result.
var proposeCall = &call[rpcwire.ProposeArgs, uint64]{
	method: MethodPropose,
	local: func(c *Cluster, _ context.Context, a rpcwire.ProposeArgs) (uint64, error) {
		return c.local.Apply(a.Cmd)
	},
	authorize: func(c *Cluster, peer string, a *rpcwire.ProposeArgs) error {
		return c.authorizeProposal(peer, a)
	},
	admit: func(c *Cluster, a rpcwire.ProposeArgs) (context.Context, context.CancelFunc, error) {
		if _, err := fsm.Decode(a.Cmd); err != nil {
			return nil, nil, fmt.Errorf("refusing undecodable command: %w", err)
		}
		ctx, cancel := context.WithCancel(c.ctx) // raft.Apply has its own bound
		return ctx, cancel, nil
	},
}

// operatorProposeCall is proposeCall for an operator's command: retried
// while the leader changes, within the caller's deadline.
var operatorProposeCall = &call[rpcwire.ProposeArgs, uint64]{
	method: proposeCall.method, retry: true, local: proposeCall.local, authorize: proposeCall.authorize, admit: proposeCall.admit,
}

// Commit commits cmd through the leader (here or by RPC) once, and returns
// the epoch of the FSM's result or its refusal. For the leader's own
// decisions and an owner's reports: they are never re-sent elsewhere.
func (c *Cluster) Commit(ctx context.Context, cmd fsm.Command) (uint64, error) {
	return c.commitWith(ctx, proposeCall, cmd, nil)
}

// OperatorCommit is Commit for an operator's command: while no leader can
// take it (an election, a leader change), it is sent again until ctx ends.
// A forwarded one carries the API caller, whose role the leader checks.
func (c *Cluster) OperatorCommit(ctx context.Context, cmd fsm.Command, caller *rpcwire.Caller) (uint64, error) {
	return c.commitWith(ctx, operatorProposeCall, cmd, caller)
}

func (c *Cluster) commitWith(ctx context.Context, call *call[rpcwire.ProposeArgs, uint64], cmd fsm.Command, caller *rpcwire.Caller) (uint64, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return 0, err
	}
	return forward(ctx, c, call, rpcwire.ProposeArgs{Cmd: data, Caller: caller})
}

// addMemberCall adds a member through the leader.
var addMemberCall = &call[rpcwire.MemberArgs, struct{}]{
	method: MethodAddMember,
	retry:  true,
	local: func(c *Cluster, ctx context.Context, a rpcwire.MemberArgs) (struct{}, error) {
		return struct{}{}, c.local.AddMember(ctx, a)
	},
	authorize: authorizeMemberChange,
}

// AddMember adds a member through the leader, retried while the leader
// changes.
func (c *Cluster) AddMember(ctx context.Context, a rpcwire.MemberArgs) error {
	_, err := forward(ctx, c, addMemberCall, a)
	return err
}

// removeMemberCall removes a member through the leader (rpcwire.MemberArgs.ID
// and By only).
var removeMemberCall = &call[rpcwire.MemberArgs, struct{}]{
	method: MethodRemoveMember,
	retry:  true,
	local: func(c *Cluster, ctx context.Context, a rpcwire.MemberArgs) (struct{}, error) {
		return struct{}{}, c.local.RemoveMember(ctx, a.ID, a.By)
	},
	authorize: authorizeMemberChange,
}

// RemoveMember removes a member through the leader, retried while the
// leader changes.
func (c *Cluster) RemoveMember(ctx context.Context, a rpcwire.MemberArgs) error {
	_, err := forward(ctx, c, removeMemberCall, a)
	return err
}

// authorizeMemberChange checks a forwarded membership change's API caller
// and records it as the author.
func authorizeMemberChange(c *Cluster, peer string, a *rpcwire.MemberArgs) (err error) {
	a.By, err = c.operatorOf(peer, a.Caller)
	return err
}

// statusCall reads the cluster status from the leader, once: a member
// that cannot get it answers with its own view, marked stale.
var statusCall = &call[rpcwire.StatusArgs, *api.Status]{
	method: MethodStatus,
	local: func(c *Cluster, ctx context.Context, _ rpcwire.StatusArgs) (*api.Status, error) {
		return c.local.Status(ctx)
	},
	authorize: anyMember[rpcwire.StatusArgs],
}

// Status reads the cluster status from the leader, once.
func (c *Cluster) Status(ctx context.Context) (*api.Status, error) {
	return forward(ctx, c, statusCall, rpcwire.StatusArgs{})
}

// transferCall is a planned move through the leader. A forwarded attempt
// carries the caller's remaining deadline, and waits for the leader's
// answer a little longer than that (transferAnswerGrace), so that a move
// the leader committed is never reported as a plain timeout of the call.
var transferCall = &call[rpcwire.TransferArgs, api.GroupStatus]{
	method: MethodTransfer,
	retry:  true,
	lost:   "whether the move began is unknown; see raftha status",
	local: func(c *Cluster, ctx context.Context, a rpcwire.TransferArgs) (api.GroupStatus, error) {
		return c.local.Transfer(ctx, a.Group, a.To, a.By)
	},
	authorize: func(c *Cluster, peer string, a *rpcwire.TransferArgs) (err error) {
		a.By, err = c.operatorOf(peer, a.Caller)
		return err
	},
	send: func(ctx context.Context, a rpcwire.TransferArgs) (context.Context, context.CancelFunc, rpcwire.TransferArgs, error) {
		a.Timeout = api.DefaultTransferTimeout
		if d, ok := ctx.Deadline(); ok {
			if a.Timeout = time.Until(d); a.Timeout <= 0 {
				return nil, nil, a, errs.DeadlinePassed(a.Group)
			}
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Timeout+transferAnswerGrace)
		return cctx, cancel, a, nil
	},
	admit: func(c *Cluster, a rpcwire.TransferArgs) (context.Context, context.CancelFunc, error) {
		if a.Timeout <= 0 { // a passed deadline is never replaced by a default
			return nil, nil, errs.DeadlinePassed(a.Group)
		}
		ctx, cancel := context.WithTimeout(c.ctx, min(a.Timeout, 30*time.Minute))
		return ctx, cancel, nil
	},
}

// transferAnswerGrace is how much longer than the leader's deadline a
// forwarding member waits for the leader's answer.
const transferAnswerGrace = 5 * time.Second

// Transfer makes a planned move through the leader, retried while the
// leader changes (see transferCall).
func (c *Cluster) Transfer(ctx context.Context, a rpcwire.TransferArgs) (api.GroupStatus, error) {
	return forward(ctx, c, transferCall, a)
}
