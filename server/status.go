package server

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/leader"
)

// maxStatusEvents is how many recent events Status carries.
const maxStatusEvents = 30

// Status returns the cluster status, from the leader when one answers.
func (s *Server) Status(ctx context.Context) (*api.Status, error) {
	if err := s.checkRunning(); err != nil {
		return nil, err
	}
	st, err := s.cluster.Status(ctx)
	switch {
	case err == nil:
		return st, nil
	case s.leader() != nil:
		return nil, err // this leader's own read failed
	case errors.Is(err, ErrNoLeader):
		return s.localStatus("no leader: the cluster has no quorum or is electing one"), nil
	}
	return s.localStatus("leader " + s.LeaderID() + " did not answer: " + err.Error()), nil
}

func (s *Server) statusLocal(ctx context.Context) (*api.Status, error) {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoQuorum) {
			return s.localStatus(err.Error()), nil
		}
		return nil, err
	}
	v := s.buildStatus(s.fsm.View(), ls)
	return v, nil
}

// localStatus is this member's own view, from its log (logView), marked
// stale with its age.
func (s *Server) localStatus(why string) *api.Status {
	st, unconfirmed, last := s.logView()
	v := s.buildStatus(st, nil)
	s.markStale(v, why, unconfirmed, last)
	_, id := s.leaderAddr()
	v.Leader = string(id)
	return v
}

func (s *Server) buildStatus(st *fsm.State, ls *leader.Term) *api.Status {
	v := &api.Status{AnsweredBy: s.cfg.NodeID, Index: st.Index, Term: s.raft.CurrentTerm()}
	if ls != nil {
		v.Leader = s.cfg.NodeID
	}
	voters := map[string]string{}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				voters[string(srv.ID)] = string(srv.Address)
			}
		}
	}
	seen := map[string]bool{}
	add := func(m fsm.Member) {
		seen[m.ID] = true
		ms := api.MemberStatus{ID: m.ID, Role: string(m.Role), Address: m.Address, API: m.API, InstanceID: m.InstanceID, State: "unknown"}
		_, ms.Voter = voters[m.ID]
		if m.Standby != nil {
			ms.Standby = &api.StandbyInfo{By: m.Standby.By, Since: m.Standby.Since}
		}
		if ls != nil {
			ls.AttachMember(&ms, v.Leader) // health, state and disk heartbeat
		}
		v.Members = append(v.Members, ms)
	}
	for _, id := range st.MemberIDs() {
		add(*st.Members[id])
	}
	for id, addr := range voters {
		if !seen[id] {
			add(fsm.Member{ID: id, Address: addr})
		}
	}
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		gs := groupStatusOf(g)
		retryStatus(&gs, st, g, ls)
		s.attachResources(&gs, g, ls) // resstate.go
		v.Groups = append(v.Groups, gs)
	}
	v.DiskHeartbeats = s.DiskHeartbeats() // diskslots.go: this member's own
	if n := len(st.Events); n > maxStatusEvents {
		v.Events = st.Events[n-maxStatusEvents:]
	} else {
		v.Events = st.Events
	}
	return v
}
