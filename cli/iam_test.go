package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/raftha/raftha/api"
)

// TestIAMPolicyCLI: the empty case is an error (exit non-zero, no
// `"Statement": null`), --instance scopes StopInstances to instance ARNs
// in the region's partition, and an unscopable policy names the flags.
func TestIAMPolicyCLI(t *testing.T) {
	dir := t.TempDir()
	floating := writeFile(t, dir, "f.yaml", "groups:\n  - name: f\n    nodes: [n1]\n    resources:\n      - name: ip\n        type: ip\n        address: 198.18.5.10/24\n        interface: eth0\n")
	out, errOut, code := runMain(t, "iam-policy", "--groups", floating, "--fencing", "lease-only")
	if code == 0 || strings.Contains(out, "Statement") || !strings.Contains(errOut, "no AWS permission needed") {
		t.Errorf("empty policy: code %d, stdout %q, stderr %q; want an error and no document", code, out, errOut)
	}
	eip := writeFile(t, dir, "e.yaml", "groups:\n  - name: e\n    nodes: [n1, n2]\n    resources:\n      - name: eip\n        type: aws.eip\n        allocation_id: eipalloc-0123456789abcdef0\n")
	_, errOut, code = runMain(t, "iam-policy", "--groups", eip, "--instance", "n1=i-0aaaaaaaaaaaaaaa1")
	if code == 0 || !strings.Contains(errOut, "n2") || !strings.Contains(errOut, "--cluster") {
		t.Errorf("unscoped: code %d, stderr %q; want an error naming n2 and --cluster", code, errOut)
	}
	out, errOut, code = runMain(t, "iam-policy", "--groups", eip, "--region", "cn-north-1", "--account", "123456789012", "--instance", "n1=i-0aaaaaaaaaaaaaaa1", "--instance", "n2=i-0bbbbbbbbbbbbbbb2")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Action    []string
			Resource  []string
			Condition map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range doc.Statement {
		if s.Sid != "RafthaFenceLostOwner" {
			continue
		}
		found = true
		want := []string{"arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-0aaaaaaaaaaaaaaa1", "arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-0bbbbbbbbbbbbbbb2"}
		if strings.Join(s.Resource, " ") != strings.Join(want, " ") || s.Condition != nil {
			t.Errorf("StopInstances: Resource %v Condition %v, want %v", s.Resource, s.Condition, want)
		}
	}
	if !found {
		t.Errorf("no StopInstances statement: %s", out)
	}
}

// TestStatusPrintsPermissionProblems: `raftha status` names a denied
// action of the member it asked, and stays quiet about allowed ones.
func TestStatusPrintsPermissionProblems(t *testing.T) {
	var b strings.Builder
	printPermissionProblems(&b, &api.Health{ID: "n1", AWSPermissions: []api.AWSPermission{
		{Action: "ec2:AttachVolume", Target: "vol-1", Result: "allowed", Code: "DryRunOperation"},
		{Action: "ec2:StopInstances", Target: "i-2 (node n2)", Result: "denied", Code: "UnauthorizedOperation"},
		{Action: "ec2:ReplaceRoute", Target: "rtb-1", Result: "unknown", Code: "RequestLimitExceeded"},
	}})
	want := "AWS permission of n1: ec2:StopInstances DENIED on i-2 (node n2) (UnauthorizedOperation)\nAWS permission of n1: ec2:ReplaceRoute UNKNOWN on rtb-1 (RequestLimitExceeded)\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
