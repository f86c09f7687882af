package server

import (
	"context"
	"fmt"

	"github.com/raftha/raftha/server/internal/rpcwire"
)

// rpcEndpoint is the node-to-node RPC surface, served on the mTLS port,
// one per stream: peer is the member id the stream's certificate proved
// (peerauth.go). Every method but Probe is leader-only: each is the
// serving half of a leaderCall (forward.go), declared next to its calling
// half.
type rpcEndpoint struct {
	s    *Server
	peer string
}

// heartbeatCall is the member heartbeat, on the lease lane: the leader
// records the contact and confirms the groups the member owns. It is never
// retried: a late answer is of no use to a lease.
var heartbeatCall = &leaderCall[rpcwire.HeartbeatArgs, rpcwire.HeartbeatReply]{
	method: "Raftha.Heartbeat",
	lane:   laneLease,
	local: func(s *Server, ctx context.Context, a rpcwire.HeartbeatArgs) (rpcwire.HeartbeatReply, error) {
		owned, err := s.heartbeatLocal(ctx, a)
		if err != nil {
			return rpcwire.HeartbeatReply{}, err
		}
		return rpcwire.HeartbeatReply{Leader: s.cfg.NodeID, Owned: owned}, nil
	},
	authorize: func(s *Server, peer string, a *rpcwire.HeartbeatArgs) error {
		if err := selfOnly(peer, a.Node, "a heartbeat"); err != nil {
			return err
		}
		if r, ok := s.memberRole(peer); ok && string(r) != a.Role {
			return fmt.Errorf("%w: member %s has role %s, not %q", ErrForbidden, peer, r, a.Role)
		}
		return nil
	},
	admit: leaseAdmit[rpcwire.HeartbeatArgs],
	relayed: func(a rpcwire.HeartbeatArgs) rpcwire.HeartbeatArgs {
		a.Relayed = true
		return a
	},
}

// Heartbeat implements the member heartbeat (leader only).
func (e *rpcEndpoint) Heartbeat(a rpcwire.HeartbeatArgs, r *rpcwire.Reply[rpcwire.HeartbeatReply]) error {
	return serve(e, heartbeatCall, a, r)
}

// confirmCall is the leader-confirmed ownership check (clause 2), on the
// lease lane and never retried.
var confirmCall = &leaderCall[rpcwire.ConfirmArgs, rpcwire.ConfirmReply]{
	method: "Raftha.Confirm",
	lane:   laneLease,
	local: func(s *Server, ctx context.Context, a rpcwire.ConfirmArgs) (rpcwire.ConfirmReply, error) {
		return rpcwire.ConfirmReply{}, s.confirmLocal(ctx, a.Group, a.Node, a.Epoch)
	},
	authorize: func(_ *Server, peer string, a *rpcwire.ConfirmArgs) error {
		return selfOnly(peer, a.Node, "a confirmation")
	},
	admit: leaseAdmit[rpcwire.ConfirmArgs],
}

// Confirm implements the leader-confirmed ownership check.
func (e *rpcEndpoint) Confirm(a rpcwire.ConfirmArgs, r *rpcwire.Reply[rpcwire.ConfirmReply]) error {
	return serve(e, confirmCall, a, r)
}

// leaseAdmit bounds a lease-path RPC on the leader: an answer later than
// a lease is of no use to the caller, and the member's shutdown ends it.
func leaseAdmit[A any](s *Server, _ A) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timing.Lease.D())
	return ctx, cancel, nil
}
