package iampolicy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources/builtin"
)

func TestForNodeScopesToTheGroupFile(t *testing.T) {
	yaml := `groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: vip
        type: aws.route
        destination: 10.1.0.10/32
        route_tables: [rtb-0123456789abcdef0]
      - name: eip
        type: aws.eip
        allocation_id: eipalloc-0123456789abcdef0
      - name: dns
        type: aws.dns
        hosted_zone_id: /hostedzone/Z0123456789ABC
        record: db.example.internal
      - name: vol
        type: aws.ebs
        volume_id: vol-0123456789abcdef0
        device: /dev/xvdf
`
	specs, _, errs := groupfile.Parse([]byte(yaml), builtin.Registry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	pol, err := ForNode(builtin.Registry(), specs, config.FencingAWSStop, Scope{Region: "ap-northeast-1", Account: "123456789012", Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pol)
	s := string(b)
	for _, want := range []string{
		`"ec2:StopInstances"`,
		`arn:aws:ec2:ap-northeast-1:123456789012:route-table/rtb-0123456789abcdef0`,
		`"ec2:ReplaceRoute"`, `"ec2:ModifyNetworkInterfaceAttribute"`,
		`arn:aws:ec2:ap-northeast-1:123456789012:elastic-ip/eipalloc-0123456789abcdef0`,
		`arn:aws:route53:::hostedzone/Z0123456789ABC`, `"route53:GetChange"`,
		`arn:aws:ec2:ap-northeast-1:123456789012:volume/vol-0123456789abcdef0`, `"ec2:AttachVolume"`,
		`"ec2:DescribeRouteTables"`, `"ec2:DescribeVolumes"`, `"ec2:DescribeAddresses"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("policy lacks %s", want)
		}
	}
	// No resource type is granted more than it uses.
	if strings.Contains(s, "DisassociateAddress") || strings.Contains(s, `"ec2:*"`) {
		t.Errorf("policy grants too much: %s", s)
	}
	// lease-only fencing needs no StopInstances.
	b, _ = json.Marshal(mustForNode(t, specs, config.FencingLeaseOnly, Scope{Cluster: "prod"}))
	if strings.Contains(string(b), "StopInstances") {
		t.Error("lease-only policy grants StopInstances")
	}
	// A Multi-Attach volume is only verified; a floating IP needs nothing.
	ma := strings.Replace(yaml, "        device: /dev/xvdf\n", "        multi_attach: true\n", 1)
	specs, _, errs = groupfile.Parse([]byte(ma), builtin.Registry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ = json.Marshal(mustForNode(t, specs, config.FencingAWSStop, Scope{Cluster: "prod"}))
	if strings.Contains(string(b), "AttachVolume") || !strings.Contains(string(b), "DescribeVolumes") {
		t.Errorf("multi_attach policy: %s", b)
	}
	fip := "groups:\n  - name: f\n    nodes: [n1]\n    resources:\n      - name: ip\n        type: ip\n        address: 198.18.5.10/24\n        interface: eth0\n"
	specs, _, errs = groupfile.Parse([]byte(fip), builtin.Registry())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if p, err := ForNode(builtin.Registry(), specs, config.FencingLeaseOnly, Scope{}); !errors.Is(err, ErrNoStatement) || len(p.Statement) != 0 {
		t.Errorf("lease-only floating IP needs no AWS permission: want ErrNoStatement, got %v, %+v", err, p.Statement)
	}
}

func mustForNode(t *testing.T, specs []fsm.GroupSpec, mode config.FencingMode, scope Scope) Policy {
	t.Helper()
	p, err := ForNode(builtin.Registry(), specs, mode, scope)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
