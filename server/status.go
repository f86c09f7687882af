package server

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
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
	StaleReason string `json:"stale_reason,omitempty"`
	// Members lists the members the log knows, by id, then any Raft
	// voter the log does not know yet.
	Members []MemberStatus `json:"members"`
	// Groups lists every group, by name.
	Groups []GroupStatus `json:"groups"`
	// Events holds the most recent events (up to 30), oldest first.
	Events []fsm.Event `json:"events,omitempty"`
}

// MemberStatus is one member in Status.
type MemberStatus struct {
	// ID is the member id.
	ID string `json:"id"`
	// Role is node or witness; "" for a Raft voter the log does not know.
	Role string `json:"role"`
	// Address is the member's mTLS (Raft and RPC) host:port.
	Address string `json:"address"`
	// API is the member's HTTPS API host:port; "" when unknown.
	API string `json:"api,omitempty"`
	// InstanceID is the member's EC2 instance id; "" when unknown.
	InstanceID string `json:"instance_id,omitempty"`
	// State is leader, follower, leaving, pending (a new leader has not
	// heard from it yet), down, or unknown (in a stale view).
	State string `json:"state"`
	// Healthy is true when the leader heard from the member within
	// failover_timeout; always false in a stale view.
	Healthy bool `json:"healthy"`
	// Voter is true when the member is a voter in the Raft configuration.
	Voter bool `json:"voter"`
	// LastContactMS is how long ago the leader heard from the member.
	LastContactMS int64 `json:"last_contact_ms"`
}

// GroupStatus is one group in Status.
type GroupStatus struct {
	// Name is the group's name.
	Name string `json:"name"`
	// Owner is the node that may act for the group at Epoch; "" before
	// the group was ever placed.
	Owner string `json:"owner"`
	// Epoch is the fencing token: the Raft index of the entry that gave
	// the group to Owner.
	Epoch uint64 `json:"epoch"`
	// State is the group's lifecycle state (offline, starting, online,
	// stopping, fencing or failed).
	State fsm.GroupState `json:"state"`
	// Nodes is the preference list; the first is the home node.
	Nodes []string `json:"nodes"`
	// Reason says why the group is in State.
	Reason string `json:"reason,omitempty"`
	// Target is the destination of a planned move while State is stopping.
	Target string `json:"target,omitempty"`
	// FenceNode is the previous owner to fence while State is fencing.
	FenceNode string `json:"fence_node,omitempty"`
	// Failback is true when the group moves back to its home node.
	Failback bool `json:"failback,omitempty"`
	// Since is when State was entered (proposer's wall clock).
	Since time.Time `json:"since"`
	// Resources lists the resources in start order as "name (type)".
	Resources []string `json:"resources"`
	// Suspended is true while monitoring and automatic actions are paused.
	Suspended bool `json:"suspended,omitempty"`
	// FailedOn lists the nodes where the group failed since an operator
	// last moved or resumed it.
	FailedOn []string `json:"failed_on,omitempty"`
}

// maxStatusEvents is how many recent events Status carries.
const maxStatusEvents = 30

// Status returns the cluster status, from the leader when one answers.
func (s *Server) Status(ctx context.Context) (*Status, error) {
	if err := s.checkRunning(); err != nil {
		return nil, err
	}
	st, err := forward(ctx, s, statusCall, StatusArgs{})
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

// statusCall reads the cluster status from the leader, once: a member
// that cannot get it answers with its own view, marked stale.
var statusCall = &leaderCall[StatusArgs, *Status]{
	method: "Raftha.Status",
	local:  func(s *Server, ctx context.Context, _ StatusArgs) (*Status, error) { return s.statusLocal(ctx) },
}

// Status serves the leader's status to a follower.
func (e *rpcEndpoint) Status(a StatusArgs, r *rpcwire.Reply[*Status]) error {
	return serve(e, statusCall, a, r)
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
		gs := groupStatusOf(g)
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
