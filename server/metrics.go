package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftha/raftha/fsm"
)

// metrics are the server's Prometheus metrics, on a registry of its own so
// that several servers can live in one process (tests, embedders), or on
// the embedder's Options.Registerer.
type metrics struct {
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer // what GET /metrics serves; nil: nothing

	failovers     *prometheus.CounterVec
	fences        *prometheus.CounterVec
	fenceDuration prometheus.Histogram
	takeoverToOn  prometheus.Histogram
	transfers     *prometheus.CounterVec
	checks        *prometheus.CounterVec
	awsCalls      *prometheus.CounterVec
	awsDuration   *prometheus.HistogramVec
	applyDuration prometheus.Histogram
	selfFences    prometheus.Counter
	// legacyPeers counts member-port connections admitted with a legacy
	// member certificate, by peer.
	legacyPeers *prometheus.CounterVec
	// resFails and resRestarts count failed checks and monitor restarts
	// by group and resource (resstate.go).
	resFails, resRestarts *prometheus.CounterVec
}

// newMetrics registers the metrics on reg, or on a private registry (with
// the Go and process collectors) when reg is nil. GET /metrics serves the
// registry when it is also a prometheus.Gatherer.
func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{reg: reg}
	if reg == nil {
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m.reg = own
	}
	m.gatherer, _ = m.reg.(prometheus.Gatherer)
	var regErr error
	f := func(c prometheus.Collector) {
		if err := m.reg.Register(c); err != nil && regErr == nil {
			regErr = fmt.Errorf("Options.Registerer: %w (several servers on one registry: wrap it with prometheus.WrapRegistererWith)", err)
		}
	}
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_failovers_total", Help: "Takeovers this member decided as leader (owner lost or stop failed), by group and cause."}, []string{"group", "cause"})
	m.fences = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_fences_total", Help: "Fencing attempts this member made as a takeover winner, by method and result."}, []string{"method", "result"})
	m.fenceDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "raftha_fence_duration_seconds", Help: "Duration of successful fences (EC2 stop until stopped, or the lease-only wait).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)})
	m.takeoverToOn = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "raftha_takeover_to_online_seconds", Help: "Time from this member learning it won a takeover to the group being online here.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_transfers_total", Help: "Planned transfers run by this member as leader, by result."}, []string{"result"})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_resource_checks_total", Help: "Resource monitor checks run on this member, by group, resource and result."}, []string{"group", "resource", "result"})
	m.awsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_aws_api_calls_total", Help: "AWS API calls made by this member, by service, operation and outcome (ok, or the error code)."}, []string{"service", "operation", "outcome"})
	m.awsDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "raftha_aws_api_call_duration_seconds", Help: "AWS API call duration including retries.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"service", "operation"})
	m.applyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "raftha_raft_apply_duration_seconds", Help: "Time to commit and apply a command on the leader.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.selfFences = prometheus.NewCounter(prometheus.CounterOpts{Name: "raftha_self_fences_total", Help: "Times this member stopped a group because its lease ran out."})
	for _, c := range []prometheus.Collector{m.failovers, m.fences, m.fenceDuration, m.takeoverToOn, m.transfers, m.checks, m.awsCalls, m.awsDuration, m.applyDuration, m.selfFences} {
		f(c)
	}
	m.legacyPeers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftha_legacy_member_cert_connections_total", Help: "Member-port connections admitted with a legacy member certificate (no raftha://member/ID name; tls.allow_legacy_member_certs), by peer: re-issue these certificates."}, []string{"peer"})
	f(m.legacyPeers)
	m.resFails, m.resRestarts = newResourceMetrics() // resstate.go
	f(m.resFails)
	f(m.resRestarts)
	f(&stateCollector{s: s})
	f(&permissionCollector{s: s})
	f(&certCollector{b: s.bundle})
	f(newOpsCollector(s))
	f(&standbyCollector{s: s}) // standby.go
	return m, regErr
}

// observeCloud records one cloud API call (cloud.Request.Observe).
func (m *metrics) observeCloud(service, op, outcome string, d time.Duration) {
	m.awsCalls.WithLabelValues(service, op, outcome).Inc()
	m.awsDuration.WithLabelValues(service, op).Observe(d.Seconds())
}

// stateCollector reads Raft and the FSM at scrape time.
type stateCollector struct{ s *Server }

var (
	descRaftState   = prometheus.NewDesc("raftha_raft_state", "1 for this member's current Raft state.", []string{"state"}, nil)
	descTerm        = prometheus.NewDesc("raftha_raft_term", "Current Raft term.", nil, nil)
	descCommit      = prometheus.NewDesc("raftha_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied     = prometheus.NewDesc("raftha_raft_applied_index", "Index of the last entry applied to the FSM.", nil, nil)
	descLastContact = prometheus.NewDesc("raftha_raft_last_contact_seconds", "Seconds since this follower last heard from the leader (0 on the leader).", nil, nil)
	descLease       = prometheus.NewDesc("raftha_lease_remaining_seconds", "Seconds left on this member's lease (negative when expired).", nil, nil)
	descEpoch       = prometheus.NewDesc("raftha_group_epoch", "A group's epoch (fencing token) as this member's log has it.", []string{"group"}, nil)
	descOwner       = prometheus.NewDesc("raftha_group_owner", "1 for a group's current owner.", []string{"group", "owner"}, nil)
	descGroupState  = prometheus.NewDesc("raftha_group_state", "1 for a group's current state.", []string{"group", "state"}, nil)
	descLocal       = prometheus.NewDesc("raftha_group_running_here", "1 when this member runs the group's resources now.", []string{"group"}, nil)
	descHealthy     = prometheus.NewDesc("raftha_member_healthy", "1 when the leader heard from the member within failover_timeout (leader only).", []string{"member", "role"}, nil)
)

var groupStates = []fsm.GroupState{fsm.StateOffline, fsm.StateStarting, fsm.StateOnline, fsm.StateStopping, fsm.StateFencing, fsm.StateFailed}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descTerm, descCommit, descApplied, descLastContact, descLease, descEpoch, descOwner, descGroupState, descLocal, descHealthy} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if s.raft == nil {
		return
	}
	cur := s.raft.State()
	for _, rs := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if rs == cur {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftState, prometheus.GaugeValue, v, strings.ToLower(rs.String()))
	}
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(s.raft.CurrentTerm()))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(s.raft.CommitIndex()))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(s.fsm.AppliedIndex()))
	lc := 0.0
	if cur != raft.Leader {
		if t := s.raft.LastContact(); !t.IsZero() {
			lc = time.Since(t).Seconds()
		}
	}
	ch <- prometheus.MustNewConstMetric(descLastContact, prometheus.GaugeValue, lc)
	if s.lease != nil {
		ch <- prometheus.MustNewConstMetric(descLease, prometheus.GaugeValue, s.lease.remaining().Seconds())
	}
	st := s.fsm.View()
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(g.Status.Epoch), name)
		if g.Status.Owner != "" {
			ch <- prometheus.MustNewConstMetric(descOwner, prometheus.GaugeValue, 1, name, g.Status.Owner)
		}
		for _, gs := range groupStates {
			v := 0.0
			if g.Status.State == gs {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descGroupState, prometheus.GaugeValue, v, name, string(gs))
		}
		if s.runner != nil {
			v := 0.0
			if s.runner.runningHere(name) {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descLocal, prometheus.GaugeValue, v, name)
		}
	}
	if ls := s.leader(); ls != nil {
		for _, id := range st.MemberIDs() {
			v := 0.0
			if ls.Healthy(id) {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, v, id, string(st.Members[id].Role))
		}
	}
}
