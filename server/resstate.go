package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/leader"
)

// The leader's half of per-resource status (the owner's half, what the
// worker records and the heartbeat carries, is internal/owner/resstate.go).

// newResourceMetrics returns the per-resource counters: failed checks
// and monitor restarts on this member, by group and resource.
func newResourceMetrics() (fails, restarts *prometheus.CounterVec) {
	fails = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_resource_check_failures_total", Help: "Failed resource checks on this member, by group and resource."}, []string{"group", "resource"})
	restarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_resource_restarts_total", Help: "Monitor restarts of a resource on this member, by group and resource."}, []string{"group", "resource"})
	return fails, restarts
}

// attachResources sets gs.ResourceStatus: on the leader (ls set), what
// the owner last reported for the group at its epoch within
// failover_timeout; in a member's own view, its own runner's when the
// view says this member owns the group.
func (s *Server) attachResources(gs *api.GroupStatus, g *fsm.Group, ls *leader.Term) {
	if ls != nil && gs.Owner != "" {
		gs.ResourceStatus = ls.ResourceStatus(gs.Name, gs.Owner, gs.Epoch, s.cfg.Timing.FailoverTimeout.D())
	}
	// This member's own groups: its own runner, the freshest source.
	if gs.ResourceStatus == nil && gs.Owner == s.cfg.NodeID && s.runner != nil {
		gs.ResourceStatus = s.runner.resourceStatus(g)
	}
}
