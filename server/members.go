package server

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
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

func (s *Server) addMemberLocal(ctx context.Context, a rpcwire.MemberArgs) error {
	if err := validateMemberArgs(a); err != nil {
		return err
	}
	if _, err := s.linearizableRead(ctx); err != nil {
		return err
	}
	if err := s.checkAddressFree(a.ID, a.Address); err != nil {
		return err
	}
	// commitLocal: a leader deposed meanwhile answers ErrNotLeader, which
	// the caller's forward retries on the next leader, instead of
	// forwarding its own command there without a caller (refused).
	if _, err := s.commitLocal(&fsm.UpsertMember{Header: s.header(a.By), Member: fsm.Member{ID: a.ID, Role: fsm.Role(a.Role), Address: a.Address, InstanceID: a.InstanceID}}); err != nil {
		return err
	}
	if err := s.futureErr(s.raft.AddVoter(raft.ServerID(a.ID), raft.ServerAddress(a.Address), 0, timeoutOf(ctx))); err != nil {
		return fmt.Errorf("add %s to the raft configuration: %w", a.ID, raftErr(err))
	}
	s.logger.Info("member added", "id", a.ID, "role", a.Role, "address", a.Address, "by", a.By)
	return nil
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

func (s *Server) removeMemberLocal(ctx context.Context, id, by string) error {
	if _, err := s.linearizableRead(ctx); err != nil {
		return err
	}
	st := s.fsm.View()
	_, known := st.Members[id]
	inRaft := false
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			inRaft = inRaft || string(srv.ID) == id
		}
	}
	if !known && !inRaft {
		return fmt.Errorf("%w: no member named %q (members: %s)", fsm.ErrNoMember, id, strings.Join(st.MemberIDs(), ", "))
	}
	// The log removes first: its RemoveMember re-checks, atomically with
	// placement and takeovers, that the member owns nothing active, no
	// stop-failed group and is no fence target. Only a member the log has
	// let go leaves the Raft configuration; checking a view and then
	// removing the voter would race with placement.
	if known {
		if _, err := s.commitLocal(&fsm.RemoveMember{Header: s.header(by), ID: id}); err != nil { // see addMemberLocal
			return err
		}
	}
	if inRaft {
		if err := s.futureErr(s.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx))); err != nil {
			return fmt.Errorf("%s was removed from the log but not from the raft configuration (retry the removal): %w", id, raftErr(err))
		}
	}
	s.logger.Info("member removed", "id", id, "by", by)
	return nil
}

func validateMemberArgs(a rpcwire.MemberArgs) error {
	var probs []string
	if a.ID == "" {
		probs = append(probs, "id is required")
	}
	if a.Role != string(config.RoleNode) && a.Role != string(config.RoleWitness) {
		probs = append(probs, fmt.Sprintf("role %q must be node or witness", a.Role))
	}
	if _, port, err := net.SplitHostPort(a.Address); err != nil || port == "" {
		probs = append(probs, fmt.Sprintf("address %q must be host:port", a.Address))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrRefused, strings.Join(probs, "; "))
	}
	return nil
}
