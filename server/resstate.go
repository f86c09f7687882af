package server

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/owner"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// The leader's half of per-resource status (the owner's half, what the
// worker records and the heartbeat carries, is internal/owner/resstate.go).

// resStore is the leader's memory of the owners' resource summaries, by
// group and reporting node. It is never persisted and never read by
// anything but the status view.
type resStore struct {
	mu      sync.Mutex
	entries map[resKey]resEntry
}

type resKey struct{ group, node string }

type resEntry struct {
	epoch uint64
	at    time.Time
	res   []api.ResourceStatus
}

// report replaces node's summaries with m (bounded again here: the sender
// may be of another version). It never fails.
func (rs *resStore) report(node string, m map[string]rpcwire.GroupResources) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.entries == nil {
		rs.entries = map[resKey]resEntry{}
	}
	for k := range rs.entries {
		if k.node == node {
			delete(rs.entries, k)
		}
	}
	now := time.Now()
	n := 0
	for group, gr := range m {
		if n++; n > owner.MaxReportGroups {
			break
		}
		res := gr.Resources[:min(len(gr.Resources), owner.MaxReportResources)]
		res = append([]api.ResourceStatus(nil), res...)
		for i := range res {
			res[i].Node = node // the heartbeat's authenticated sender
			res[i].LastError = owner.CutError(res[i].LastError)
		}
		rs.entries[resKey{group, node}] = resEntry{epoch: gr.Epoch, at: now, res: res}
	}
}

// get returns what owner last reported for group at epoch, when that
// report is younger than maxAge.
func (rs *resStore) get(group, owner string, epoch uint64, maxAge time.Duration) []api.ResourceStatus {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e, ok := rs.entries[resKey{group, owner}]
	if !ok || e.epoch != epoch || time.Since(e.at) >= maxAge {
		return nil
	}
	return append([]api.ResourceStatus(nil), e.res...)
}

// attachResources sets gs.ResourceStatus: on the leader (ls set), what
// the owner last reported for the group at its epoch within
// failover_timeout; in a member's own view, its own runner's when the
// view says this member owns the group.
func (s *Server) attachResources(gs *api.GroupStatus, g *fsm.Group, ls *leaderState) {
	if ls != nil && gs.Owner != "" {
		gs.ResourceStatus = ls.res.get(gs.Name, gs.Owner, gs.Epoch, s.cfg.Timing.FailoverTimeout.D())
	}
	// This member's own groups: its own runner, the freshest source.
	if gs.ResourceStatus == nil && gs.Owner == s.cfg.NodeID && s.runner != nil {
		gs.ResourceStatus = s.runner.resourceStatus(g)
	}
}

// newResourceMetrics returns the per-resource counters: failed checks
// and monitor restarts on this member, by group and resource.
func newResourceMetrics() (fails, restarts *prometheus.CounterVec) {
	fails = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_resource_check_failures_total", Help: "Failed resource checks on this member, by group and resource."}, []string{"group", "resource"})
	restarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_resource_restarts_total", Help: "Monitor restarts of a resource on this member, by group and resource."}, []string{"group", "resource"})
	return fails, restarts
}
