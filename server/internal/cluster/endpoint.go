package cluster

import (
	"context"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// endpoint is the node-to-node RPC surface, served on the mTLS port, one
// per stream: peer is the member id the stream's certificate proved
// (peerauth.go). Every method but Probe is leader-only: each is the
// serving half of a call (calls.go), run by serve.
type endpoint struct {
	c    *Cluster
	peer string
}

// Endpoint returns the RPC receiver of a stream from peer, for
// transport.NewRPCServer(Service, c.Endpoint).
func (c *Cluster) Endpoint(peer string) any { return &endpoint{c: c, peer: peer} }

// Heartbeat implements the member heartbeat (leader only).
func (e *endpoint) Heartbeat(a rpcwire.HeartbeatArgs, r *rpcwire.Reply[rpcwire.HeartbeatReply]) error {
	return serve(e, heartbeatCall, a, r)
}

// Confirm implements the leader-confirmed ownership check.
func (e *endpoint) Confirm(a rpcwire.ConfirmArgs, r *rpcwire.Reply[rpcwire.ConfirmReply]) error {
	return serve(e, confirmCall, a, r)
}

// Propose applies a forwarded command on the leader.
func (e *endpoint) Propose(a rpcwire.ProposeArgs, r *rpcwire.Reply[uint64]) error {
	return serve(e, proposeCall, a, r)
}

// AddMember runs a forwarded AddMember on the leader.
func (e *endpoint) AddMember(a rpcwire.MemberArgs, r *rpcwire.Reply[struct{}]) error {
	return serve(e, addMemberCall, a, r)
}

// RemoveMember runs a forwarded RemoveMember on the leader.
func (e *endpoint) RemoveMember(a rpcwire.MemberArgs, r *rpcwire.Reply[struct{}]) error {
	return serve(e, removeMemberCall, a, r)
}

// Status serves the leader's status to a follower.
func (e *endpoint) Status(a rpcwire.StatusArgs, r *rpcwire.Reply[*api.Status]) error {
	return serve(e, statusCall, a, r)
}

// Transfer runs a forwarded planned move on the leader.
func (e *endpoint) Transfer(a rpcwire.TransferArgs, r *rpcwire.Reply[api.GroupStatus]) error {
	return serve(e, transferCall, a, r)
}

// Probe answers a member that starts with an empty data_dir, about itself
// only. Any member answers, leader or not.
func (e *endpoint) Probe(a rpcwire.ProbeArgs, r *rpcwire.ProbeReply) error {
	if err := selfOnly(e.peer, a.Node, "a probe"); err != nil {
		return err
	}
	reply, err := e.c.local.Probe(a.Node)
	if err != nil {
		return err
	}
	*r = reply
	return nil
}

// Probe asks the member at addr, on the lease lane, what it holds of this
// member (the amnesia check of a member that starts with an empty
// data_dir).
func (c *Cluster) Probe(ctx context.Context, addr string) (rpcwire.ProbeReply, error) {
	var r rpcwire.ProbeReply
	err := c.Pool(LaneLease).Call(ctx, addr, string(MethodProbe), rpcwire.ProbeArgs{Node: c.cfg.NodeID}, &r)
	return r, err
}
