package server

import (
	"context"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// AddMember records a member (role, address) in the log and adds it to the
// Raft configuration as a voter. Witnesses are voters too. Any member may
// be asked; the call is forwarded to the leader. The caller is
// recorded in the log as by.
func (s *Server) AddMember(ctx context.Context, req api.MemberRequest, by string) error {
	a := rpcwire.MemberArgs{ID: req.ID, Address: req.Address, Role: req.Role, InstanceID: req.InstanceID, By: by, Caller: s.forwardedCaller(ctx, by)}
	if err := s.checkRunning(); err != nil {
		return err
	}
	if err := validateMemberArgs(a); err != nil {
		return err
	}
	return s.cluster.AddMember(ctx, a)
}

// RemoveMember removes a member from the log and then from the Raft
// configuration. The log refuses a member that owns an active or
// stop-failed group or that a fencing winner must fence.
func (s *Server) RemoveMember(ctx context.Context, id, by string) error {
	if err := s.checkRunning(); err != nil {
		return err
	}
	return s.cluster.RemoveMember(ctx, rpcwire.MemberArgs{ID: id, By: by, Caller: s.forwardedCaller(ctx, by)})
}
