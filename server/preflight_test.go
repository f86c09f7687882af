package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
	"github.com/raftha/raftha/resources/builtin"
)

// permissionOK returns raftha_aws_permission_ok{action} of srv, and
// whether it is exported.
func permissionOK(t *testing.T, srv *Server, action string) (float64, bool) {
	t.Helper()
	mfs, err := srv.metrics.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "raftha_aws_permission_ok" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "action" && l.GetValue() == action {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// permissionOf returns srv's answered check of action on a target
// containing target.
func permissionOf(srv *Server, action, target string) (api.AWSPermission, bool) {
	for _, p := range srv.Health().AWSPermissions {
		if p.Action == action && strings.Contains(p.Target, target) && p.Result != checking {
			return p, true
		}
	}
	return api.AWSPermission{}, false
}

// TestPreflightReportsMissingStopInstancesAtStart: real agents against
// moto enforcing IAM. n1's identity lacks ec2:StopInstances, n2's has it.
// Right after start, before any failover, n1 reports the denial (error
// log naming the action, metric 0, health) and n2 reports it allowed; the
// witness checks nothing. Start is not held up by the check.
func TestPreflightReportsMissingStopInstancesAtStart(t *testing.T) {
	moto := motoserver.Start(t)
	motoserver.Env(t)
	inst := moto.RunNodeInstances(t, "n1", "n2")
	noStopKey, noStopSecret := moto.IAMUser(t, "n1-role", motoserver.EC2Policy("ec2:DescribeInstances"))
	stopKey, stopSecret := moto.IAMUser(t, "n2-role", motoserver.EC2Policy("ec2:StopInstances", "ec2:DescribeInstances"))
	moto.EnforceIAM(t)

	c := newTestCluster(t, "n1", "n2", "w1")
	i := 0
	c.configure(func(m *testMember) {
		m.cfg.Fencing.Mode = config.FencingAWSStop // on every member: the cluster's setting
		if m.cfg.Role != config.RoleNode {
			return
		}
		m.cfg.AWS = config.AWSConfig{Region: motoserver.Region, Endpoint: moto.Endpoint, InstanceID: inst[i]}
		i++
	})
	// The SDK reads the credentials from the environment when a member
	// starts: each node gets its own IAM user's key.
	started := time.Now()
	t.Setenv("AWS_ACCESS_KEY_ID", noStopKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", noStopSecret)
	c.start("n1")
	t.Setenv("AWS_ACCESS_KEY_ID", stopKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", stopSecret)
	c.start("n2")
	c.start("w1")
	t.Logf("three members started in %s", time.Since(started).Round(time.Millisecond))

	n1, n2, w1 := c.member("n1"), c.member("n2"), c.member("w1")
	// At once on the node's own instance, then on the peer's (known
	// from its first heartbeat).
	waitFor(t, 20*time.Second, "n1 and n2 report their StopInstances check on the peer", func() bool {
		_, ok1 := permissionOf(n1.srv, "ec2:StopInstances", "node n2")
		_, ok2 := permissionOf(n2.srv, "ec2:StopInstances", "node n1")
		return ok1 && ok2
	})
	t.Logf("reported %s after the first start", time.Since(started).Round(time.Millisecond))
	for _, tc := range []struct {
		m              *testMember
		target, result string
	}{
		{n1, "own", "denied"}, {n1, "node n2", "denied"},
		{n2, "own", "allowed"}, {n2, "node n1", "allowed"},
	} {
		p, ok := permissionOf(tc.m.srv, "ec2:StopInstances", tc.target)
		t.Logf("%s: %+v", tc.m.cfg.NodeID, p)
		if !ok || p.Result != tc.result {
			t.Errorf("%s StopInstances on %s: %+v, want %s", tc.m.cfg.NodeID, tc.target, p, tc.result)
		}
		switch tc.result {
		case "denied":
			if !strings.Contains(p.Message, "ec2:StopInstances") {
				t.Errorf("%s: the denial does not name the action: %+v", tc.m.cfg.NodeID, p)
			}
		case "allowed":
			if p.Code != "DryRunOperation" {
				t.Errorf("%s: allowed without DryRunOperation: %+v", tc.m.cfg.NodeID, p)
			}
		}
	}
	if v, ok := permissionOK(t, n1.srv, "ec2:StopInstances"); !ok || v != 0 {
		t.Errorf("n1 raftha_aws_permission_ok{action=ec2:StopInstances} = %v (exported %v), want 0", v, ok)
	}
	if v, ok := permissionOK(t, n2.srv, "ec2:StopInstances"); !ok || v != 1 {
		t.Errorf("n2 raftha_aws_permission_ok{action=ec2:StopInstances} = %v (exported %v), want 1", v, ok)
	}
	var line string
	for _, l := range strings.Split(n1.logs.String(), "\n") {
		if strings.Contains(l, "[ERROR]") && strings.Contains(l, "AWS permission check: DENIED") {
			line = l
		}
	}
	if !strings.Contains(line, "action=ec2:StopInstances") {
		t.Errorf("n1 logged no error naming ec2:StopInstances; logs:\n%s", n1.logs.String())
	}
	t.Logf("n1 log: %s", line)
	if strings.Contains(n2.logs.String(), "AWS permission check: DENIED") {
		t.Errorf("n2 reported a denial")
	}
	if p := w1.srv.Health().AWSPermissions; len(p) != 0 {
		t.Errorf("the witness checked AWS permissions: %+v", p)
	}
	// The dry runs stopped nothing (n2's key may describe; moto.State
	// would use the fake key moto now refuses).
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: moto.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range inst {
		if st, err := awsres.NewFencer(cfg).State(context.Background(), id); err != nil || st != "running" {
			t.Errorf("%s is %s (%v) after the dry runs", id, st, err)
		}
	}
}

// acmeQueueParams are the parameters of a type an embedding service
// registers (acme.queue), which declares its own start-up check.
type acmeQueueParams struct {
	Queue string `yaml:"queue" json:"queue"`
}

// PermissionChecks implements resources.PermissionDeclarer.
func (p *acmeQueueParams) PermissionChecks(self string) []resources.PermissionCheck {
	return []resources.PermissionCheck{{Action: "sqs:SendMessage", Target: p.Queue + " from " + self, Key: "sqs:SendMessage " + p.Queue,
		Call: func(context.Context, any) error { return nil }}}
}

// TestPermissionChecksForGroups: a node checks StopInstances on a peer's
// instance (its own until a peer reported one) with aws-stop only, and the
// checks the resources of exactly the groups that list it declare, a
// custom registered type's included: the preflight asks the registry.
func TestPermissionChecksForGroups(t *testing.T) {
	reg := builtin.Registry()
	if err := reg.Register(resources.Type{Name: "acme.queue", NewParams: func() any { return &acmeQueueParams{} },
		Build: func(any, resources.Env) (resources.Resource, error) { return nil, errors.New("not built in this test") }}); err != nil {
		t.Fatal(err)
	}
	params := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	st := fsm.NewState()
	st.Members["n1"] = &fsm.Member{ID: "n1", Role: fsm.RoleNode, InstanceID: "i-0aaaaaaaaaaaaaaa1"}
	st.Members["n2"] = &fsm.Member{ID: "n2", Role: fsm.RoleNode}
	st.Members["w1"] = &fsm.Member{ID: "w1", Role: fsm.RoleWitness, InstanceID: "i-0fffffffffffffff9"}
	st.Groups["db"] = &fsm.Group{Spec: fsm.GroupSpec{Name: "db", Nodes: []string{"n1", "n2"}, Resources: []fsm.ResourceSpec{
		{Name: "vip", Type: "aws.route", Params: params(map[string]any{"destination": "10.1.0.10/32", "route_tables": []string{"rtb-1"}})},
		{Name: "eip", Type: "aws.eip", Params: params(map[string]any{"allocation_id": "eipalloc-1"})},
		{Name: "q", Type: "acme.queue", Params: params(map[string]any{"queue": "jobs"})},
	}}}
	st.Groups["other"] = &fsm.Group{Spec: fsm.GroupSpec{Name: "other", Nodes: []string{"n1"}, Resources: []fsm.ResourceSpec{
		{Name: "vol", Type: "aws.ebs", Params: params(map[string]any{"volume_id": "vol-1", "device": "/dev/xvdf"})},
	}}}
	keys := func(s *Server) []string {
		var out []string
		for _, c := range s.permissionChecks(st) {
			out = append(out, c.Key+" @ "+c.Target)
		}
		return out
	}
	n2 := &Server{cfg: config.Config{NodeID: "n2", Role: config.RoleNode, Fencing: config.FencingConfig{Mode: config.FencingAWSStop}}, instance: "i-0bbbbbbbbbbbbbbb2", registry: reg,
		perm: permissions{checks: awsres.NewPermissions(nil, awsres.CheckPolicy{})}}
	want := []string{
		"ec2:StopInstances self @ i-0bbbbbbbbbbbbbbb2 (this node's own, until a peer's is known)",
		"ec2:StopInstances peer @ i-0aaaaaaaaaaaaaaa1 (node n1)",
		"ec2:ReplaceRoute rtb-1 @ rtb-1 10.1.0.10/32 -> i-0bbbbbbbbbbbbbbb2",
		"ec2:AssociateAddress eipalloc-1 @ eipalloc-1 -> i-0bbbbbbbbbbbbbbb2",
		"sqs:SendMessage jobs @ jobs from i-0bbbbbbbbbbbbbbb2",
	}
	if got := keys(n2); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("n2 checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// n1: no peer reported an instance id yet (n2's is unknown, w1 is a
	// witness): its own; and the volume of "other" too.
	n1 := &Server{cfg: config.Config{NodeID: "n1", Role: config.RoleNode, Fencing: config.FencingConfig{Mode: config.FencingAWSStop}}, instance: "i-0aaaaaaaaaaaaaaa1", registry: reg,
		perm: permissions{checks: awsres.NewPermissions(nil, awsres.CheckPolicy{})}}
	got := keys(n1)
	if len(got) != 6 || got[0] != "ec2:StopInstances self @ i-0aaaaaaaaaaaaaaa1 (this node's own, until a peer's is known)" || !strings.HasPrefix(got[4], "ec2:AttachVolume vol-1") {
		t.Errorf("n1 checks: %v", got)
	}
	// lease-only: no StopInstances.
	n2.cfg.Fencing.Mode = config.FencingLeaseOnly
	if got := keys(n2); len(got) != 3 || strings.HasPrefix(got[0], "ec2:StopInstances") {
		t.Errorf("lease-only n2 checks: %v", got)
	}
}
