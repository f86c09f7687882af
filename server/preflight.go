package server

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// The start-up permission preflight: each node checks with DryRun calls
// that its AWS identity may make the EC2 calls a failover needs (stop a
// peer's instance, steer its groups' routes, addresses and volumes to
// itself), and reports a denial at once (an error log naming the action,
// raftha_aws_permission_ok{action} 0, GET /v1/health) instead of first
// at a failover. It is advisory: it never blocks start, a takeover or a
// fence, and it changes nothing in AWS (every call has DryRun set).

// checking is the Result of a check that has not answered yet.
const checking = "checking"

// permissions holds the preflight's results by check key.
type permissions struct {
	mu      sync.Mutex
	results map[string]api.AWSPermission
	// checks builds the checks: the cloud provider's (cloud.Env).
	checks cloud.Permissions
}

// preflight runs the permission checks of this node, and those of groups
// that name it as they are applied, until the server stops. Each check
// runs once (in its own goroutine, retried while its answer is unknown,
// as the provider bounds it). The checks come from the cloud provider
// (cloud.Env.Permissions); without one there is nothing to check.
func (s *Server) preflight() {
	if s.cfg.Role != config.RoleNode || s.perm.checks == nil {
		return
	}
	for {
		ch := s.fsm.Changed()
		for _, c := range s.permissionChecks(s.fsm.View()) {
			if !s.perm.begin(c) {
				continue
			}
			s.goFn(func() {
				res := c.Run(s.ctx)
				s.perm.finish(c, res)
				s.reportPermission(c, res)
			})
		}
		select {
		case <-ch:
		case <-s.ctx.Done():
			return
		}
	}
}

// permissionChecks are the checks this node needs in state st:
// StopInstances with aws-stop fencing on this node's own instance and on
// a peer's (once a peer reported one), and the checks the resources of the
// groups that list it declare (resources.PermissionDeclarer).
func (s *Server) permissionChecks(st *fsm.State) []cloud.PermissionCheck {
	var out []cloud.PermissionCheck
	if s.cfg.Fencing.Mode == config.FencingAWSStop {
		var peers []string
		for id, m := range st.Members {
			if id != s.cfg.NodeID && m.Role == fsm.RoleNode && m.InstanceID != "" {
				peers = append(peers, id)
			}
		}
		sort.Strings(peers)
		// Checked on this node's own instance at once (same policy for
		// every node's instance), and again on a peer's once one is known.
		if s.instance != "" {
			c := s.perm.checks.StopCheck(s.instance, "this node's own, until a peer's is known")
			c.Key += " self"
			out = append(out, c)
		}
		if len(peers) > 0 {
			c := s.perm.checks.StopCheck(st.Members[peers[0]].InstanceID, "node "+peers[0])
			c.Key += " peer"
			out = append(out, c)
		}
	}
	names := make([]string, 0, len(st.Groups))
	for n := range st.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := st.Groups[n]
		for _, node := range g.Spec.Nodes {
			if node != s.cfg.NodeID {
				continue
			}
			for _, r := range g.Spec.Resources {
				for _, c := range s.registry.PermissionChecks(r.Type, r.Params, s.instance) {
					out = append(out, s.perm.checks.Declared(c))
				}
			}
		}
	}
	return out
}

// begin records c as checking; false when c was checked already.
func (p *permissions) begin(c cloud.PermissionCheck) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.results[c.Key]; ok {
		return false
	}
	if p.results == nil {
		p.results = map[string]api.AWSPermission{}
	}
	p.results[c.Key] = api.AWSPermission{Action: c.Action, Target: c.Target, Result: checking}
	return true
}

func (p *permissions) finish(c cloud.PermissionCheck, res cloud.PermissionResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results[c.Key] = api.AWSPermission{Action: c.Action, Target: c.Target, Result: string(res.Verdict), Code: res.Code, Message: res.Message, Checked: time.Now().UTC()}
}

// view returns the results sorted by action and target.
func (p *permissions) view() []api.AWSPermission {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]api.AWSPermission, 0, len(p.results))
	for _, r := range p.results {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Action != out[j].Action {
			return out[i].Action < out[j].Action
		}
		return out[i].Target < out[j].Target
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *Server) reportPermission(c cloud.PermissionCheck, res cloud.PermissionResult) {
	switch res.Verdict {
	case cloud.PermissionAllowed:
		s.logger.Info("AWS permission check: allowed", "action", c.Action, "target", c.Target)
	case cloud.PermissionDenied:
		s.logger.Error("AWS permission check: DENIED; a failover that needs this call will fail: grant it to this node's role (raftha iam-policy)", "action", c.Action, "target", c.Target, "code", res.Code, "error", res.Message)
	default:
		s.logger.Warn("AWS permission check: no verdict after retries (unknown)", "action", c.Action, "target", c.Target, "attempts", res.Attempts, "code", res.Code, "error", res.Message)
	}
}

// descPermission is raftha_aws_permission_ok.
var descPermission = prometheus.NewDesc("raftha_aws_permission_ok", "1 when every start-up DryRun check of the EC2 action was allowed, 0 when one was denied; absent while unknown.", []string{"action"}, nil)

// permissionCollector exports the preflight's verdicts by action.
type permissionCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (c *permissionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descPermission }

// Collect implements prometheus.Collector.
func (c *permissionCollector) Collect(ch chan<- prometheus.Metric) {
	ok := map[string]float64{}
	for _, r := range c.s.perm.view() {
		switch r.Result {
		case string(cloud.PermissionDenied):
			ok[r.Action] = 0
		case string(cloud.PermissionAllowed):
			if _, seen := ok[r.Action]; !seen {
				ok[r.Action] = 1
			}
		}
	}
	for a, v := range ok {
		ch <- prometheus.MustNewConstMetric(descPermission, prometheus.GaugeValue, v, a)
	}
}
