package server

// The cluster role (server/internal/cluster: the member RPC endpoint,
// caller identity, forwarding, relays, the error codec) bound to this
// Server: clusterHost implements its Host and Local, and the unexported
// methods below keep the call sites of the other roles unchanged.

import (
	"context"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/cluster"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/httpapi"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// ErrForbidden means the caller's identity does not allow the call: a
// member asking for another member, a member proposing what only the
// leader may originate, or an operator call without a caller whose role
// may change the cluster. Nothing was applied.
var ErrForbidden = errs.ErrForbidden

// ErrNotMemberCert means tls.cert is not this member's member
// certificate: the other members would refuse it on the member port.
var ErrNotMemberCert = errs.ErrNotMemberCert

// ErrOutcomeUnknown means a change was sent and may or may not have taken
// effect: the leader was lost while applying it, or the connection to
// the leader broke before its answer came. Read Status before sending it
// again.
var ErrOutcomeUnknown = errs.ErrOutcomeUnknown

// errLeadershipLost means the leader lost its leadership while applying a
// command: the entry may or may not commit, so it is never retried.
var errLeadershipLost = errs.ErrLeadershipLost

// wireCodec is the member RPC's one error registry (cluster.Codec).
var wireCodec = cluster.Codec

// errorCode is err's wire code ("" when it wraps no registered sentinel).
func errorCode(err error) api.Code { return cluster.ErrorCode(err) }

// newClusterRole builds the cluster role on the member port's pools; the
// mux, the pools and s.ctx exist.
func (s *Server) newClusterRole() *cluster.Cluster {
	return cluster.New(cluster.Deps{
		Config: s.cfg, FSM: s.fsm, Logger: s.logger, LogLimit: &s.logLimit, Ctx: s.ctx,
		Operator: s.pool, Lease: s.leasePool, LegacyPeers: s.metrics.legacyPeers,
		Host: clusterHost{s}, Local: clusterHost{s},
	})
}

// clusterHost is the Server as the cluster role's Host and Local.
type clusterHost struct{ s *Server }

func (h clusterHost) Leading() bool { return h.s.leader() != nil }

func (h clusterHost) Leader() (addr, id string) {
	a, i := h.s.leaderAddr()
	return string(a), string(i)
}

func (h clusterHost) Servers() ([]raft.Server, bool) {
	if !h.s.raftReady.Load() {
		return nil, false
	}
	return h.s.raft.GetConfiguration().Configuration().Servers, true
}

func (h clusterHost) RoleOf(identity string, kind transport.CertKind) api.Role {
	return h.s.roleOf(identity, kind)
}

func (h clusterHost) Heartbeat(ctx context.Context, a rpcwire.HeartbeatArgs) (map[string]uint64, error) {
	return h.s.heartbeatLocal(ctx, a)
}

func (h clusterHost) Confirm(ctx context.Context, group, node string, epoch uint64) error {
	return h.s.confirmLocal(ctx, group, node, epoch)
}

func (h clusterHost) Apply(cmd []byte) (uint64, error) { return h.s.applyCommand(cmd) }

func (h clusterHost) AddMember(ctx context.Context, a rpcwire.MemberArgs) error {
	return h.s.addMemberLocal(ctx, a)
}

func (h clusterHost) RemoveMember(ctx context.Context, id, by string) error {
	return h.s.removeMemberLocal(ctx, id, by)
}

func (h clusterHost) Status(ctx context.Context) (*api.Status, error) {
	return h.s.statusLocal(ctx)
}

func (h clusterHost) Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error) {
	return h.s.transferLocal(ctx, group, to, by)
}

func (h clusterHost) Probe(node string) (rpcwire.ProbeReply, error) { return h.s.probeLocal(node) }

// leaseCall is a lease-lane call of the cluster role (relayed when the
// direct path to the leader fails), as the owner role sends it.
type leaseCall[A, R any] func(c *cluster.Cluster, ctx context.Context, a A) (R, error)

// heartbeatCall is this member's heartbeat (lease.go).
var heartbeatCall leaseCall[rpcwire.HeartbeatArgs, rpcwire.HeartbeatReply] = (*cluster.Cluster).Heartbeat

// confirmCall is the leader-confirmed ownership check (worker.go).
var confirmCall leaseCall[rpcwire.ConfirmArgs, rpcwire.ConfirmReply] = func(c *cluster.Cluster, ctx context.Context, a rpcwire.ConfirmArgs) (rpcwire.ConfirmReply, error) {
	return rpcwire.ConfirmReply{}, c.Confirm(ctx, a)
}

// forwardLease sends a lease call through the cluster role (its
// forwardLease: direct, and through the relays).
func forwardLease[A, R any](ctx context.Context, s *Server, call leaseCall[A, R], a A) (R, error) {
	return call(s.cluster, ctx, a)
}

// commit commits c through the leader (here or by RPC) once, and returns
// the epoch of the FSM's result or its refusal. For the leader's own
// decisions and an owner's reports: they are never re-sent elsewhere.
func (s *Server) commit(ctx context.Context, c fsm.Command) (uint64, error) {
	return s.cluster.Commit(ctx, c)
}

// operatorCommit is commit for an operator's command: while no leader can
// take it (an election, a leader change), it is sent again until ctx ends.
// A forwarded one carries the API caller (see forwardedCaller), whose role
// the leader checks.
func (s *Server) operatorCommit(ctx context.Context, c fsm.Command) (uint64, error) {
	return s.cluster.OperatorCommit(ctx, c, s.forwardedCaller(ctx, fsm.HeaderOf(c).By))
}

// isMember reports whether a certificate identity names a member.
func (s *Server) isMember(id string) bool { return s.cluster.IsMember(id) }

// memberAt is the member id addr belongs to, for the dialer's check.
func (s *Server) memberAt(addr string) string { return s.cluster.MemberAt(addr) }

// checkAddressFree refuses to record addr for member id when another
// member of the log has it.
func (s *Server) checkAddressFree(id, addr string) error {
	return s.cluster.CheckAddressFree(id, addr)
}

// relays returns the raft addresses a lease call may be relayed through.
func (s *Server) relays() []string { return s.cluster.Relays() }

// forwardedCaller is the caller an operator call is forwarded for: the
// API caller ctx carries (its identity and certificate kind; the leader
// works out the role), else a Go caller of this member's own process (an
// embedding service), which this member vouches for (Local).
func (s *Server) forwardedCaller(ctx context.Context, by string) *rpcwire.Caller {
	if c, ok := httpapi.CallerFrom(ctx); ok {
		return &rpcwire.Caller{Identity: c.Identity, Role: string(c.Role), Kind: string(c.Kind)}
	}
	if by == "" {
		by = s.cfg.NodeID
	}
	return &rpcwire.Caller{Identity: by, Role: string(api.RoleOperate), Local: true}
}
