package server

import (
	"context"
	"fmt"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
)

// LocalStatus returns this member's own view without asking the leader:
// the leader's status when this member is the ready leader, else its own
// log's view marked stale (see logView).
func (s *Server) LocalStatus(ctx context.Context) (*api.Status, error) {
	if err := s.checkRunning(); err != nil {
		return nil, err
	}
	if s.leader() != nil {
		return s.statusLocal(ctx)
	}
	if id := s.LeaderID(); id != "" {
		return s.localStatus("this member's own view, as asked (leader " + id + " was not asked)"), nil
	}
	return s.localStatus("no leader: the cluster has no quorum or is electing one"), nil
}

// GroupDetail returns one group's status (from the leader, or stale as
// Status gives it), its applied spec and its last ownership changes.
func (s *Server) GroupDetail(ctx context.Context, name string) (*api.GroupDetail, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	d := &api.GroupDetail{AnsweredBy: st.AnsweredBy, Stale: st.Stale, StaleReason: st.StaleReason}
	found := false
	for _, g := range st.Groups {
		if g.Name == name {
			d.Status, found = g, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, name)
	}
	local := s.fsm.View()
	if _, ok := local.Groups[name]; st.Stale || !ok {
		local, _, _ = s.logView()
	}
	g, ok := local.Groups[name]
	if !ok {
		return d, nil // created a moment ago; this member has not stored it yet
	}
	d.Spec = api.GroupSpec{Nodes: g.Spec.Nodes, Failback: g.Spec.Failback}
	for _, r := range g.Spec.Resources {
		m := r.Monitor
		d.Spec.Resources = append(d.Spec.Resources, api.ResourceSpec{Name: r.Name, Type: r.Type, Settings: r.Params,
			Monitor: api.MonitorSpec{Interval: api.Duration(m.Interval), Timeout: api.Duration(m.Timeout),
				FailuresBeforeRestart: m.FailuresBeforeRestart, RestartsBeforeFailover: m.RestartsBeforeFailover}})
	}
	d.Changes = history.Why(local, name)
	if n := len(d.Changes); n > api.MaxGroupChanges {
		d.Changes = d.Changes[n-api.MaxGroupChanges:]
	}
	return d, nil
}
