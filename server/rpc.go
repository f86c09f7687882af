package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// The leader's halves of the leader-bound member calls (the cluster role,
// server/internal/cluster, carries them; role_cluster.go binds them).

// linearizableRead waits until this leader's FSM reflects every entry
// committed before the call and the leader has confirmed, with a quorum,
// that it is still the leader (VerifyLeader). Only a ready leader (one
// whose post-election Barrier completed) may answer.
func (s *Server) linearizableRead(ctx context.Context) (*leaderState, error) {
	ls := s.leader()
	if ls == nil {
		if s.raft.State() == raft.Leader {
			return nil, fmt.Errorf("%w: leader not ready yet", ErrNotLeader)
		}
		return nil, ErrNotLeader
	}
	ci := s.raft.CommitIndex()
	// A VerifyLeader queued as raft shuts down is never answered: wait
	// for it only as long as the caller and this member last.
	vf := s.raft.VerifyLeader()
	verified := make(chan error, 1)
	go func() { verified <- vf.Error() }()
	select {
	case err := <-verified:
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoQuorum, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: leadership not verified in time: %w", ErrNoQuorum, ctx.Err())
	case <-s.ctx.Done():
		return nil, fmt.Errorf("%w: member stopping", ErrNoQuorum)
	}
	if err := s.waitApplied(ctx, ls, ci); err != nil {
		return nil, err
	}
	return ls, nil
}

// waitApplied waits until every command up to index is in the FSM. Raft's
// applied index covers the Barrier entries too (readiness, nudge), which
// never reach the FSM and so never move its index or wake its waiters:
// raft applies in order, so its applied index at or past index means the
// FSM has every command up to it; a short poll notices that.
func (s *Server) waitApplied(ctx context.Context, ls *leaderState, index uint64) error {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		ch := s.fsm.Changed()
		if s.fsm.AppliedIndex() >= index || s.raft.AppliedIndex() >= index || index <= ls.readyIndex {
			return nil
		}
		select {
		case <-poll.C:
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%w waiting for the FSM to apply index %d", errWaitTimedOut, index)
		}
	}
}

// confirmLocal is clause 2 of the safety argument, on the leader.
func (s *Server) confirmLocal(ctx context.Context, group, node string, epoch uint64) error {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		return err
	}
	if why := ls.refusedSettings(node); why != "" {
		return fmt.Errorf("%w: %s: %s", ErrSettingsMismatch, node, why)
	}
	// A confirmation renews the owner's lease for the group, so it is
	// contact too, recorded with the log read it answers from (see
	// takeover).
	ls.contactMu.Lock()
	defer ls.contactMu.Unlock()
	ls.seen(node)
	s.fsm.Read(func(st *fsm.State) {
		g, ok := st.Groups[group]
		switch {
		case !ok:
			err = fmt.Errorf("%w: group %s does not exist", ErrNotOwner, group)
		case g.Status.Owner != node || g.Status.Epoch != epoch:
			err = fmt.Errorf("%w: group %s is owned by %q at epoch %d, not %s at %d", ErrNotOwner, group, g.Status.Owner, g.Status.Epoch, node, epoch)
		case !g.Status.Active():
			err = fmt.Errorf("%w: group %s is %s", ErrNotOwner, group, g.Status.State)
		}
	})
	return err
}

// heartbeatLocal records a member's heartbeat on the leader and returns
// the groups it owns, confirmed linearizably.
func (s *Server) heartbeatLocal(ctx context.Context, a rpcwire.HeartbeatArgs) (map[string]uint64, error) {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkMemberSettings(ls, a.Node, a.Settings); err != nil {
		return nil, err
	}
	// Status only (resstate.go): it never fails and takes no lock of
	// the lease path.
	ls.res.report(a.Node, a.Resources)
	ls.disk.report(a.Node, a.DiskPeers) // diskpath.go: status and reasons only
	ls.contactMu.Lock()                 // see takeover: contact and the log read together
	defer ls.contactMu.Unlock()
	ls.seen(a.Node)
	ls.setRelayed(a.Node, a.Relayed)
	ls.setLeaving(a.Node, a.Leaving)
	ls.fb.report(a)
	owned := map[string]uint64{}
	var stale bool
	s.fsm.Read(func(st *fsm.State) {
		for name, g := range st.Groups {
			if g.Status.Owner == a.Node && g.Status.Active() {
				owned[name] = g.Status.Epoch
			}
		}
		m, ok := st.Members[a.Node]
		// UpsertMember ignores empty fields, so only a non-empty value
		// that differs is news (otherwise every heartbeat would write).
		differs := func(have, got string) bool { return got != "" && have != got }
		stale = ok && (differs(m.API, a.API) || differs(m.Address, a.Address) || differs(m.InstanceID, a.InstanceID))
	})
	if stale && a.Address != "" {
		if err := s.checkAddressFree(a.Node, a.Address); err != nil {
			// Never recorded: a member may not take another's address
			// (the dialer would then refuse the other one).
			s.logger.Warn("heartbeat names another member's address; not recorded", "member", a.Node, "error", err)
			stale = false
		}
	}
	if stale {
		ls.register(a)
	}
	return owned, nil
}

// applyCommand applies an encoded command on this member, the raft
// leader, and folds the FSM's refusal into the error.
func (s *Server) applyCommand(data []byte) (uint64, error) {
	res, err := s.applyLocal(data)
	if err != nil {
		return 0, err
	}
	return res.Epoch, res.Err
}
