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
	_, err := forward(ctx, s, addMemberCall, a)
	return err
}

// addMemberCall adds a member through the leader.
var addMemberCall = &leaderCall[rpcwire.MemberArgs, struct{}]{
	method: "Raftha.AddMember",
	retry:  true,
	local: func(s *Server, ctx context.Context, a rpcwire.MemberArgs) (struct{}, error) {
		return struct{}{}, s.addMemberLocal(ctx, a)
	},
	authorize: authorizeMemberChange,
}

// authorizeMemberChange checks a forwarded membership change's API caller
// and records it as the author.
func authorizeMemberChange(s *Server, peer string, a *rpcwire.MemberArgs) (err error) {
	a.By, err = s.operatorOf(peer, a.Caller)
	return err
}

// AddMember runs a forwarded AddMember on the leader.
func (e *rpcEndpoint) AddMember(a rpcwire.MemberArgs, r *rpcwire.Reply[struct{}]) error {
	return serve(e, addMemberCall, a, r)
}

// RemoveMember removes a member from the log and then from the Raft
// configuration. The log refuses a member that owns an active or
// stop-failed group or that a fencing winner must fence.
func (s *Server) RemoveMember(ctx context.Context, id, by string) error {
	if err := s.checkRunning(); err != nil {
		return err
	}
	_, err := forward(ctx, s, removeMemberCall, rpcwire.MemberArgs{ID: id, By: by, Caller: s.forwardedCaller(ctx, by)})
	return err
}

// removeMemberCall removes a member through the leader (rpcwire.MemberArgs.ID and
// By only).
var removeMemberCall = &leaderCall[rpcwire.MemberArgs, struct{}]{
	method: "Raftha.RemoveMember",
	retry:  true,
	local: func(s *Server, ctx context.Context, a rpcwire.MemberArgs) (struct{}, error) {
		return struct{}{}, s.removeMemberLocal(ctx, a.ID, a.By)
	},
	authorize: authorizeMemberChange,
}

// RemoveMember runs a forwarded RemoveMember on the leader.
func (e *rpcEndpoint) RemoveMember(a rpcwire.MemberArgs, r *rpcwire.Reply[struct{}]) error {
	return serve(e, removeMemberCall, a, r)
}
