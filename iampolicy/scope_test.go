package iampolicy

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

// parsedStatement is a statement read back from the printed JSON.
type parsedStatement struct {
	Sid       string
	Action    []string
	Resource  []string
	Condition map[string]map[string]string
}

// render marshals p the way the CLI does and parses it back by Sid.
func render(t *testing.T, p Policy) map[string]parsedStatement {
	t.Helper()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []parsedStatement
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Fatalf("bad document: %s", b)
	}
	out := map[string]parsedStatement{}
	for _, s := range doc.Statement {
		out[s.Sid] = s
	}
	return out
}

func parseGroups(t *testing.T, yaml string) []fsm.GroupSpec {
	t.Helper()
	specs, _, errs := groupfile.Parse([]byte(yaml), builtin.Registry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return specs
}

const eipEBSGroups = `groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: eip
        type: aws.eip
        allocation_id: eipalloc-0123456789abcdef0
      - name: vol
        type: aws.ebs
        volume_id: vol-0123456789abcdef0
        device: /dev/xvdf
`

func TestForNodeScopesInstanceActions(t *testing.T) {
	specs := parseGroups(t, eipEBSGroups)
	tag := map[string]map[string]string{"StringEquals": {"aws:ResourceTag/raftha-cluster": "prod"}}
	cases := []struct {
		name      string
		scope     Scope
		resource  []string
		condition map[string]map[string]string
	}{
		{
			name:     "instance ids known",
			scope:    Scope{Region: "ap-northeast-1", Account: "123456789012", Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1", "n2": "i-0bbbbbbbbbbbbbbb2"}, Cluster: "prod"},
			resource: []string{"arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0aaaaaaaaaaaaaaa1", "arn:aws:ec2:ap-northeast-1:123456789012:instance/i-0bbbbbbbbbbbbbbb2"},
		},
		{
			name:      "one id unknown: tag condition",
			scope:     Scope{Region: "ap-northeast-1", Account: "123456789012", Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1", "n2": "auto"}, Cluster: "prod"},
			resource:  []string{"arn:aws:ec2:ap-northeast-1:123456789012:instance/*"},
			condition: tag,
		},
		{
			name:      "no ids: tag condition",
			scope:     Scope{Region: "ap-northeast-1", Account: "123456789012", Cluster: "prod"},
			resource:  []string{"arn:aws:ec2:ap-northeast-1:123456789012:instance/*"},
			condition: tag,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := ForNode(builtin.Registry(), specs, config.FencingAWSStop, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			st := render(t, pol)
			for sid, actions := range map[string][]string{
				"RafthaFenceLostOwner":    {"ec2:StopInstances"},
				"RafthaElasticIPInstance": {"ec2:AssociateAddress"},
				"RafthaEBSAttachInstance": {"ec2:AttachVolume", "ec2:DetachVolume"},
			} {
				s, ok := st[sid]
				if !ok {
					t.Fatalf("no statement %s in %+v", sid, st)
				}
				if !reflect.DeepEqual(s.Action, actions) || !reflect.DeepEqual(s.Resource, tc.resource) || !reflect.DeepEqual(s.Condition, tc.condition) {
					t.Errorf("%s: got Action %v Resource %v Condition %v; want %v %v %v", sid, s.Action, s.Resource, s.Condition, actions, tc.resource, tc.condition)
				}
			}
			// The volume and allocation statements carry no tag condition
			// (those resources are named exactly and are not tagged).
			for sid, want := range map[string][]string{
				"RafthaEBSAttach": {"arn:aws:ec2:ap-northeast-1:123456789012:volume/vol-0123456789abcdef0"},
				"RafthaElasticIP": {"arn:aws:ec2:ap-northeast-1:123456789012:elastic-ip/eipalloc-0123456789abcdef0", "arn:aws:ec2:ap-northeast-1:123456789012:network-interface/*"},
			} {
				if s := st[sid]; !reflect.DeepEqual(s.Resource, want) || s.Condition != nil {
					t.Errorf("%s: Resource %v Condition %v, want %v and none", sid, s.Resource, s.Condition, want)
				}
			}
			for sid, s := range st {
				for _, r := range s.Resource {
					if r == "arn:aws:ec2:ap-northeast-1:123456789012:instance/*" && s.Condition == nil {
						t.Errorf("%s grants every instance of the account without a condition", sid)
					}
				}
			}
		})
	}
}

func TestForNodePartitions(t *testing.T) {
	specs := parseGroups(t, `groups:
  - name: web
    nodes: [n1, n2]
    resources:
      - name: dns
        type: aws.dns
        hosted_zone_id: Z0123456789ABC
        record: web.example.internal
`)
	for _, tc := range []struct{ region, partition string }{
		{"ap-northeast-1", "aws"},
		{"cn-north-1", "aws-cn"},
		{"cn-northwest-1", "aws-cn"},
		{"us-gov-west-1", "aws-us-gov"},
		{"us-east-1", "aws"},
		{"", "aws"},
	} {
		t.Run(tc.partition+"/"+tc.region, func(t *testing.T) {
			if got := Partition(tc.region); got != tc.partition {
				t.Fatalf("Partition(%q) = %q, want %q", tc.region, got, tc.partition)
			}
			pol, err := ForNode(builtin.Registry(), specs, config.FencingAWSStop, Scope{Region: tc.region, Account: "123456789012", Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1", "n2": "i-0bbbbbbbbbbbbbbb2"}})
			if err != nil {
				t.Fatal(err)
			}
			st := render(t, pol)
			region := tc.region
			if region == "" {
				region = "*"
			}
			wantStop := []string{"arn:" + tc.partition + ":ec2:" + region + ":123456789012:instance/i-0aaaaaaaaaaaaaaa1", "arn:" + tc.partition + ":ec2:" + region + ":123456789012:instance/i-0bbbbbbbbbbbbbbb2"}
			if got := st["RafthaFenceLostOwner"].Resource; !reflect.DeepEqual(got, wantStop) {
				t.Errorf("StopInstances Resource %v, want %v", got, wantStop)
			}
			if got, want := st["RafthaRoute53Record"].Resource, []string{"arn:" + tc.partition + ":route53:::hostedzone/Z0123456789ABC"}; !reflect.DeepEqual(got, want) {
				t.Errorf("Route 53 Resource %v, want %v", got, want)
			}
		})
	}
}

func TestForNodeRefusesEmptyAndUnscoped(t *testing.T) {
	floating := parseGroups(t, "groups:\n  - name: f\n    nodes: [n1]\n    resources:\n      - name: ip\n        type: ip\n        address: 198.18.5.10/24\n        interface: eth0\n")
	if p, err := ForNode(builtin.Registry(), floating, config.FencingLeaseOnly, Scope{Cluster: "prod"}); !errors.Is(err, ErrNoStatement) || p.Statement != nil {
		t.Errorf("lease-only, no aws.*: got %v, %+v; want ErrNoStatement and no policy", err, p)
	}
	if p, err := ForNode(builtin.Registry(), nil, config.FencingLeaseOnly, Scope{}); !errors.Is(err, ErrNoStatement) || p.Statement != nil {
		t.Errorf("no groups: got %v, %+v; want ErrNoStatement", err, p)
	}
	// aws-stop fencing with neither instance ids nor a cluster name: no
	// policy that would let a node stop any instance of the account.
	specs := parseGroups(t, eipEBSGroups)
	_, err := ForNode(builtin.Registry(), specs, config.FencingAWSStop, Scope{Region: "ap-northeast-1", Instances: map[string]string{"n1": "i-0aaaaaaaaaaaaaaa1"}})
	if !errors.Is(err, ErrUnscoped) {
		t.Fatalf("got %v, want ErrUnscoped", err)
	}
	t.Logf("unscoped: %v", err)
}
