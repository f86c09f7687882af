package leader

import (
	"sync"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

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

// report replaces node's summaries with m, received at now (bounded again
// here by cfg: the sender may be of another version). It never fails.
func (rs *resStore) report(cfg *Config, node string, m map[string]rpcwire.GroupResources, now time.Time) {
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
	n := 0
	for group, gr := range m {
		if n++; n > cfg.MaxReportGroups {
			break
		}
		res := gr.Resources[:min(len(gr.Resources), cfg.MaxReportResources)]
		res = append([]api.ResourceStatus(nil), res...)
		for i := range res {
			res[i].Node = node // the heartbeat's authenticated sender
			if cfg.CutError != nil {
				res[i].LastError = cfg.CutError(res[i].LastError)
			}
		}
		rs.entries[resKey{group, node}] = resEntry{epoch: gr.Epoch, at: now, res: res}
	}
}

// get returns what owner last reported for group at epoch, when that
// report is younger than maxAge at now.
func (rs *resStore) get(group, owner string, epoch uint64, maxAge time.Duration, now time.Time) []api.ResourceStatus {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e, ok := rs.entries[resKey{group, owner}]
	if !ok || e.epoch != epoch || now.Sub(e.at) >= maxAge {
		return nil
	}
	return append([]api.ResourceStatus(nil), e.res...)
}
