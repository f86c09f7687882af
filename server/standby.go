package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// Node standby (`raftha members standby NODE`): the node keeps voting and
// heartbeating, but the leader
//   - places nothing new on it (place) and never fails back to it
//     (failback), nor hands it leadership (handOverLeadership);
//   - moves each online group it owns to the next healthy node of the
//     group's list that is not on standby, by a planned move (StandbyMove:
//     stopping, the owner's stop confirmed in its offline report, then the
//     target starts at a new epoch), never by a fenced takeover;
//   - leaves a group where it is when no such node exists, with a
//     standby-stays note (its reason in status) — it never takes it
//     offline;
//   - still lets a standby node win a takeover or a recovery when it is the
//     only node that can (winner): a crash of the owner must not take the
//     service down because the other node is in maintenance (availability
//     over maintenance); the takeover's reason says so. The group then
//     moves off the standby node again, by a planned move, as soon as
//     another node is fit.
// Unstandby only makes the node eligible again: nothing moves back unless
// a failback group's home is that node (the failback rule, as after any
// other absence).

// SetStandby puts node on standby (true) or takes it off (false), as by.
// It returns the groups node owns that the leader will move away.
func (s *Server) SetStandby(ctx context.Context, node string, standby bool, by string) (api.StandbyResult, error) {
	if err := s.checkRunning(); err != nil {
		return api.StandbyResult{}, err
	}
	if _, err := s.operatorCommit(ctx, &fsm.SetStandby{Header: s.header(by), Node: node, Standby: standby}); err != nil {
		return api.StandbyResult{}, err
	}
	r := api.StandbyResult{Member: node, Standby: standby}
	if standby {
		st := s.fsm.View()
		for _, name := range st.GroupNames() {
			if g := st.Groups[name]; g.Status.Owner == node && g.Status.Active() {
				r.Moving = append(r.Moving, name)
			}
		}
	}
	s.logger.Info("member standby changed", "member", node, "standby", standby, "by", by)
	return r, nil
}

var descStandby = prometheus.NewDesc("raftha_member_standby", "1 while a node is on standby (`raftha members standby`: it votes, owns nothing new), as this member's log has it.", []string{"member"}, nil)

// standbyCollector exports raftha_member_standby for every node.
type standbyCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (c *standbyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descStandby }

// Collect implements prometheus.Collector.
func (c *standbyCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.fsm == nil {
		return
	}
	v := map[string]float64{}
	c.s.fsm.Read(func(st *fsm.State) { // copy under the lock, send after
		for id, m := range st.Members {
			if m.Role != fsm.RoleNode {
				continue
			}
			v[id] = 0
			if m.Standby != nil {
				v[id] = 1
			}
		}
	})
	for id, x := range v {
		ch <- prometheus.MustNewConstMetric(descStandby, prometheus.GaugeValue, x, id)
	}
}
