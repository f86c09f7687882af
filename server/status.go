package server

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
)

// Status is the cluster as the leader sees it (or, when no leader answers,
// as this member last applied it, with Stale set).
type Status struct {
	// Leader is the leader's member id ("" when there is none).
	Leader string `json:"leader"`
	// Term is the leader's Raft term.
	Term uint64 `json:"term"`
	// Index is the last applied Raft index of the member that answered.
	Index uint64 `json:"index"`
	// AnsweredBy is the member that produced this view.
	AnsweredBy string `json:"answered_by"`
	// Stale is true when the view did not come from a ready leader.
	Stale bool `json:"stale,omitempty"`
	// StaleReason says why the view is stale.
	StaleReason string         `json:"stale_reason,omitempty"`
	Members     []MemberStatus `json:"members"`
	Groups      []GroupStatus  `json:"groups"`
	Events      []fsm.Event    `json:"events,omitempty"`
}

// MemberStatus is one member in Status.
type MemberStatus struct {
	ID         string `json:"id"`
	Role       string `json:"role"`
	Address    string `json:"address"`
	API        string `json:"api,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
	// State is leader, follower, leaving, down or unknown.
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
	// Voter is true when the member is a voter in the Raft configuration.
	Voter bool `json:"voter"`
	// LastContactMS is how long ago the leader heard from the member.
	LastContactMS int64 `json:"last_contact_ms"`
}

// GroupStatus is one group in Status.
type GroupStatus struct {
	Name      string         `json:"name"`
	Owner     string         `json:"owner"`
	Epoch     uint64         `json:"epoch"`
	State     fsm.GroupState `json:"state"`
	Nodes     []string       `json:"nodes"`
	Reason    string         `json:"reason,omitempty"`
	Target    string         `json:"target,omitempty"`
	FenceNode string         `json:"fence_node,omitempty"`
	Failback  bool           `json:"failback,omitempty"`
	Since     time.Time      `json:"since"`
	Resources []string       `json:"resources"`
	Suspended bool           `json:"suspended,omitempty"`
	FailedOn  []string       `json:"failed_on,omitempty"`
}

// maxStatusEvents is how many recent events Status carries.
const maxStatusEvents = 30

// Status returns the cluster status, from the leader when one answers.
func (s *Server) Status(ctx context.Context) (*Status, error) {
	if s.leader() != nil {
		return s.statusLocal(ctx)
	}
	addr, id := s.leaderAddr()
	if id != "" && id != raft.ServerID(s.cfg.NodeID) {
		var st Status
		err := s.pool.Call(ctx, string(addr), "Raftha.Status", StatusArgs{}, &st)
		if err == nil {
			return &st, nil
		}
		v := s.localStatus("leader " + string(id) + " did not answer: " + err.Error())
		return v, nil
	}
	return s.localStatus("no leader: the cluster has no quorum or is electing one"), nil
}

func (s *Server) statusLocal(ctx context.Context) (*Status, error) {
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

// localStatus is this member's own applied view, marked stale.
func (s *Server) localStatus(why string) *Status {
	v := s.buildStatus(s.fsm.View(), nil)
	v.Stale, v.StaleReason = true, why
	_, id := s.leaderAddr()
	v.Leader = string(id)
	return v
}

func (s *Server) buildStatus(st *fsm.State, ls *leaderState) *Status {
	v := &Status{AnsweredBy: s.cfg.NodeID, Index: st.Index, Term: s.raft.CurrentTerm()}
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
		ms := MemberStatus{ID: m.ID, Role: string(m.Role), Address: m.Address, API: m.API, InstanceID: m.InstanceID, State: "unknown"}
		_, ms.Voter = voters[m.ID]
		if ls != nil {
			ms.Healthy = ls.healthy(m.ID)
			ms.LastContactMS = ls.lastContact(m.ID).Milliseconds()
			switch {
			case m.ID == v.Leader:
				ms.State = "leader"
			case ls.isLeaving(m.ID):
				ms.State = "leaving"
			case ms.Healthy:
				ms.State = "follower"
			case !ls.heard(m.ID) && !ls.lost(m.ID):
				ms.State = "pending" // a new leader has not heard from it yet
			default:
				ms.State = "down"
			}
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
		gs := GroupStatus{Name: name, Owner: g.Status.Owner, Epoch: g.Status.Epoch, State: g.Status.State, Nodes: g.Spec.Nodes,
			Reason: g.Status.Reason, Target: g.Status.Target, FenceNode: g.Status.FenceNode, Failback: g.Spec.Failback, Since: g.Status.Since,
			Suspended: g.Status.Suspended, FailedOn: g.Status.FailedOn}
		for _, r := range g.Spec.Resources {
			gs.Resources = append(gs.Resources, r.Name+" ("+r.Type+")")
		}
		v.Groups = append(v.Groups, gs)
	}
	if n := len(st.Events); n > maxStatusEvents {
		v.Events = st.Events[n-maxStatusEvents:]
	} else {
		v.Events = st.Events
	}
	return v
}

// StatusArgs is the Status RPC's (empty) argument.
type StatusArgs struct{}

// Status serves the leader's status to a follower.
func (e *rpcEndpoint) Status(_ StatusArgs, r *Status) error {
	v, err := e.s.statusLocal(context.Background())
	if err != nil {
		return err
	}
	*r = *v
	return nil
}
