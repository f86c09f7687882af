package server

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/leader"
	"github.com/raftha/raftha/server/internal/owner"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// The leader role lives in server/internal/leader. This file is its
// adapter: it builds the role from the member's parts, implements the
// role's Host and Raft, and keeps the unexported names the cluster RPC
// (rpc.go, forward.go, members.go, transfer.go) and the status view call.

// newLeaderRole builds the leader role once raft and the lease exist.
func (s *Server) newLeaderRole() *leader.Leader {
	t := s.cfg.Timing
	var lastAnswer func() (string, time.Time)
	if s.lease != nil {
		lastAnswer = s.lease.lastAnswer
	}
	return leader.New(s.ctx, leader.Config{
		NodeID:             s.cfg.NodeID,
		Role:               s.cfg.Role,
		Members:            s.cfg.Members,
		Timing:             decide.Timing{Heartbeat: t.Heartbeat.D(), Lease: t.Lease.D(), FailoverTimeout: t.FailoverTimeout.D()},
		SelfSettings:       s.cfg.ClusterSettings(),
		FSM:                s.fsm,
		Raft:               leaderRaft{s},
		Host:               leaderHost{s},
		Gather:             min(leader.GatherWindow, t.Heartbeat.D()/10),
		Clock:              clock.System{},
		Logger:             s.logger,
		LogLimit:           &s.logLimit,
		LastAnswer:         lastAnswer,
		Leaving:            s.leaving.Load,
		MaxReportGroups:    owner.MaxReportGroups,
		MaxReportResources: owner.MaxReportResources,
		CutError:           owner.CutError,
	})
}

// leader returns this leadership's state while this member is the ready
// leader, else nil.
func (s *Server) leader() *leader.Term {
	if l := s.lead.Load(); l != nil {
		return l.Ready()
	}
	return nil
}

// monitorLeadership runs the leader loop while this member leads.
func (s *Server) monitorLeadership() { s.lead.Load().Monitor(s.notify) }

// linearizableRead is leader.Leader.LinearizableRead.
func (s *Server) linearizableRead(ctx context.Context) (*leader.Term, error) {
	l := s.lead.Load()
	if l == nil {
		return nil, ErrNotLeader
	}
	return l.LinearizableRead(ctx)
}

// role is the leader role of a started member; the leader-only calls
// below are served after Start, which sets it.
func (s *Server) role() (*leader.Leader, error) {
	if l := s.lead.Load(); l != nil {
		return l, nil
	}
	return nil, ErrNotLeader
}

// confirmLocal is clause 2 of the safety argument, on the leader.
func (s *Server) confirmLocal(ctx context.Context, group, node string, epoch uint64) error {
	l, err := s.role()
	if err != nil {
		return err
	}
	return l.Confirm(ctx, group, node, epoch)
}

// heartbeatLocal records a member's heartbeat on the leader and returns
// the groups it owns, confirmed linearizably.
func (s *Server) heartbeatLocal(ctx context.Context, a rpcwire.HeartbeatArgs) (map[string]uint64, error) {
	l, err := s.role()
	if err != nil {
		return nil, err
	}
	return l.Heartbeat(ctx, a)
}

func (s *Server) addMemberLocal(ctx context.Context, a rpcwire.MemberArgs) error {
	l, err := s.role()
	if err != nil {
		return err
	}
	return l.AddMember(ctx, a)
}

func (s *Server) removeMemberLocal(ctx context.Context, id, by string) error {
	l, err := s.role()
	if err != nil {
		return err
	}
	return l.RemoveMember(ctx, id, by)
}

func (s *Server) transferLocal(ctx context.Context, group, to, by string) (api.GroupStatus, error) {
	l, err := s.role()
	if err != nil {
		return api.GroupStatus{}, err
	}
	return l.Transfer(ctx, group, to, by)
}

func validateMemberArgs(a rpcwire.MemberArgs) error { return leader.ValidateMember(a, ErrRefused) }

func groupStatusOf(g *fsm.Group) api.GroupStatus { return leader.GroupStatus(g) }

// retryStatus adds the retry policy and progress of g to its status.
func retryStatus(gs *api.GroupStatus, st *fsm.State, g *fsm.Group, ls *leader.Term) {
	leader.RetryStatus(gs, st, g, ls)
}

// leaderHost is the member as the leader role's Host.
type leaderHost struct{ s *Server }

func (h leaderHost) Commit(ctx context.Context, c fsm.Command) (uint64, error) {
	return h.s.commit(ctx, c)
}
func (h leaderHost) CommitLocal(c fsm.Command) (uint64, error) { return h.s.commitLocal(c) }
func (h leaderHost) Header(by string) fsm.Header               { return h.s.header(by) }
func (h leaderHost) SeedSettings()                             { h.s.seedSettings() }
func (h leaderHost) Self() fsm.Member                          { return h.s.selfMember() }
func (h leaderHost) CheckAddressFree(id, addr string) error    { return h.s.checkAddressFree(id, addr) }
func (h leaderHost) CheckSettings(r *leader.Refusals, node string, reported *fsm.ClusterSettings) error {
	return h.s.checkMemberSettings(r, node, reported)
}
func (h leaderHost) RefusedSettings(r *leader.Refusals, node string) string {
	return h.s.refusedSettings(r, node)
}
func (h leaderHost) Failover(group string, cause fsm.Cause) {
	h.s.metrics.failovers.WithLabelValues(group, string(cause)).Inc()
}
func (h leaderHost) Transferred(result string) { h.s.metrics.transfers.WithLabelValues(result).Inc() }

func (s *Server) selfMember() fsm.Member {
	return fsm.Member{ID: s.cfg.NodeID, Role: fsm.Role(s.cfg.Role), Address: s.RaftAddr(), API: s.advertisedAPI(), InstanceID: s.instanceID()}
}

// instanceID is the EC2 instance id others fence this member by (resolved
// from IMDSv2 at start when configured as auto).
func (s *Server) instanceID() string { return s.instance }

// leaderRaft is the member's raft as the leader role sees it: every wait
// ends when the member stops (futureErr), errors carry the sentinels.
type leaderRaft struct{ s *Server }

func (r leaderRaft) IsLeader() bool { return r.s.raft.State() == raft.Leader }
func (r leaderRaft) Barrier(timeout time.Duration) error {
	return r.s.futureErr(r.s.raft.Barrier(timeout))
}
func (r leaderRaft) AppliedIndex() uint64 { return r.s.raft.AppliedIndex() }
func (r leaderRaft) CommitIndex() uint64  { return r.s.raft.CommitIndex() }
func (r leaderRaft) CurrentTerm() uint64  { return r.s.raft.CurrentTerm() }
func (r leaderRaft) VerifyLeader() error  { return r.s.raft.VerifyLeader().Error() }
func (r leaderRaft) Servers() ([]raft.Server, error) {
	f := r.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}
func (r leaderRaft) TransferLeadership(id raft.ServerID, addr raft.ServerAddress) error {
	return r.s.transferLeadership(func() raft.Future { return r.s.raft.LeadershipTransferToServer(id, addr) })
}
func (r leaderRaft) AddVoter(id raft.ServerID, addr raft.ServerAddress, timeout time.Duration) error {
	return raftErr(r.s.futureErr(r.s.raft.AddVoter(id, addr, 0, timeout)))
}
func (r leaderRaft) RemoveServer(id raft.ServerID, timeout time.Duration) error {
	return raftErr(r.s.futureErr(r.s.raft.RemoveServer(id, 0, timeout)))
}
