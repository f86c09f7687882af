package aws_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
)

// address returns how the fixture's Elastic IP is associated.
func (f *ec2Fixture) address(t *testing.T) types.Address {
	t.Helper()
	out, err := f.c.DescribeAddresses(ec2Ctx(t), &ec2.DescribeAddressesInput{AllocationIds: []string{f.alloc}})
	if err != nil || len(out.Addresses) != 1 {
		t.Fatalf("DescribeAddresses %s: %v %+v", f.alloc, err, out)
	}
	return out.Addresses[0]
}

func TestEIPFailoverAndDriftRepair(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	params := "allocation_id: " + f.alloc
	var logA, logB testsupport.SyncBuffer
	ea := ec2MustBuild(t, awsres.EIPType, params, f.env(t, f.inst[0], &logA))
	eb := ec2MustBuild(t, awsres.EIPType, params, f.env(t, f.inst[1], &logB))
	defer func() {
		if t.Failed() {
			t.Logf("A's log:\n%s\nB's log:\n%s", logA.String(), logB.String())
		}
	}()

	for i := 0; i < 2; i++ { // the second start is idempotent
		if err := ea.Start(ctx, ec2Tok("a", 1)); err != nil {
			t.Fatalf("start A (%d): %v", i, err)
		}
		if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[0] || aws.ToString(a.NetworkInterfaceId) != f.eni[0] {
			t.Fatalf("after start A: %s / %s, want %s / %s", aws.ToString(a.InstanceId), aws.ToString(a.NetworkInterfaceId), f.inst[0], f.eni[0])
		}
	}
	if err := ea.Check(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("check A: %v", err)
	}
	if !strings.Contains(logA.String(), f.public) || !strings.Contains(logA.String(), "epoch=1") {
		t.Fatalf("start log lacks the address or the token:\n%s", logA.String())
	}

	// Failover: B reassociates without A stopping.
	if err := eb.Start(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("start B: %v", err)
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[1] {
		t.Fatalf("after failover: %s, want %s", aws.ToString(a.InstanceId), f.inst[1])
	}

	// Drift: associated back to A behind raftha's back.
	if _, err := f.c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: &f.alloc, InstanceId: &f.inst[0], AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := eb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B after drift: %v", err)
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[1] {
		t.Fatalf("drift not repaired: %s", aws.ToString(a.InstanceId))
	}
	if l := logB.String(); !strings.Contains(l, "[WARN]") || !strings.Contains(l, f.inst[0]) || !strings.Contains(l, "epoch=2") {
		t.Fatalf("no drift warning naming the old holder and the token:\n%s", l)
	}

	// Drift: disassociated.
	a := f.address(t)
	if _, err := f.c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: a.AssociationId}); err != nil {
		t.Fatal(err)
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != "" {
		t.Fatalf("moto: still associated to %s", aws.ToString(a.InstanceId))
	}
	if err := eb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B after disassociation: %v", err)
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[1] {
		t.Fatalf("disassociation not repaired: %q", aws.ToString(a.InstanceId))
	}

	// Stop leaves the address by default, and is idempotent.
	for i := 0; i < 2; i++ {
		if err := eb.Stop(ctx, ec2Tok("b", 2)); err != nil {
			t.Fatalf("stop B: %v", err)
		}
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[1] {
		t.Fatalf("stop moved the address: %q", aws.ToString(a.InstanceId))
	}

	// disassociate_on_stop: only while it is still ours.
	ed := ec2MustBuild(t, awsres.EIPType, params+"\ndisassociate_on_stop: true", f.env(t, f.inst[1], &logB))
	for i := 0; i < 2; i++ {
		if err := ed.Stop(ctx, ec2Tok("b", 2)); err != nil {
			t.Fatalf("stop B with disassociate_on_stop (%d): %v", i, err)
		}
		if a := f.address(t); aws.ToString(a.InstanceId) != "" || aws.ToString(a.AssociationId) != "" {
			t.Fatalf("still associated after stop: %q %q", aws.ToString(a.InstanceId), aws.ToString(a.AssociationId))
		}
	}
	if err := ea.Start(ctx, ec2Tok("a", 3)); err != nil {
		t.Fatalf("start A: %v", err)
	}
	if err := ed.Stop(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("late stop of B: %v", err)
	}
	if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[0] {
		t.Fatalf("a late stop of the old owner took the address from the new one: %q", aws.ToString(a.InstanceId))
	}
}

func TestEIPNetworkInterfaceAndPrivateIP(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	var logs testsupport.SyncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	ea := ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\nnetwork_interface: true", f.env(t, f.inst[0], &logs))
	if err := ea.Start(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("start A: %v", err)
	}
	if a := f.address(t); aws.ToString(a.NetworkInterfaceId) != f.eni[0] {
		t.Fatalf("after start A: %s, want %s", aws.ToString(a.NetworkInterfaceId), f.eni[0])
	}
	if err := ea.Check(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("check A: %v", err)
	}

	// private_ip: moto ignores AssociateAddress's PrivateIpAddress and
	// reports the interface's primary address, so only the primary one
	// can be proven here.
	eb := ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\nprivate_ip: "+f.ip[1], f.env(t, f.inst[1], &logs))
	if err := eb.Start(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("start B: %v", err)
	}
	if a := f.address(t); aws.ToString(a.NetworkInterfaceId) != f.eni[1] || aws.ToString(a.PrivateIpAddress) != f.ip[1] {
		t.Fatalf("after start B: %s %s, want %s %s", aws.ToString(a.NetworkInterfaceId), aws.ToString(a.PrivateIpAddress), f.eni[1], f.ip[1])
	}
	// Drift to A's interface; B's Check takes it back.
	if _, err := f.c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: &f.alloc, NetworkInterfaceId: &f.eni[0], AllowReassociation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := eb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B: %v", err)
	}
	if a := f.address(t); aws.ToString(a.NetworkInterfaceId) != f.eni[1] {
		t.Fatalf("drift not repaired: %s", aws.ToString(a.NetworkInterfaceId))
	}

	// A private address that is not on the interface.
	ex := ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\nprivate_ip: 10.0.99.99", f.env(t, f.inst[0], &logs))
	if err := ex.Start(ctx, ec2Tok("a", 3)); err == nil || !strings.Contains(err.Error(), "10.0.99.99 is not an address of "+f.eni[0]) {
		t.Fatalf("start with a foreign private_ip: %v", err)
	}
}

func TestEIPErrors(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	var logs testsupport.SyncBuffer

	// The API refuses an unknown allocation: the error names it and the code.
	e := ec2MustBuild(t, awsres.EIPType, "allocation_id: eipalloc-deadbeef", f.env(t, f.inst[0], &logs))
	err := e.Start(ctx, ec2Tok("a", 1))
	if err == nil || !strings.Contains(err.Error(), "eipalloc-deadbeef") || !strings.Contains(err.Error(), "InvalidAllocationID.NotFound") {
		t.Fatalf("start with a bad allocation id: %v", err)
	}
	if err := e.Check(ctx, ec2Tok("a", 1)); err == nil || !strings.Contains(err.Error(), "InvalidAllocationID.NotFound") {
		t.Fatalf("check with a bad allocation id: %v", err)
	}

	// No instance id on this node.
	for _, p := range []string{"", "\nnetwork_interface: true"} {
		e = ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+p, f.env(t, "", &logs))
		if err := e.Start(ctx, ec2Tok("a", 1)); err == nil || !strings.Contains(err.Error(), "aws.instance_id") {
			t.Fatalf("start without an instance id: %v", err)
		}
	}
	if a := f.address(t); aws.ToString(a.AssociationId) != "" {
		t.Fatalf("a failed start associated the address: %+v", a)
	}

	// No AWS configuration: the build fails.
	env := f.env(t, f.inst[0], &logs)
	env.Cloud = nil
	if _, err := ec2Build(t, awsres.EIPType, "allocation_id: "+f.alloc, env); err == nil || !strings.Contains(err.Error(), "aws.region") {
		t.Fatalf("build without AWS: %v", err)
	}
	for _, tc := range []struct{ params, want string }{
		{"", "allocation_id: required"},
		{"allocation_id: 52.1.2.3", "allocation_id: expected"},
		{"allocation_id: eipalloc-deadbeef\nprivate_ip: 10.0.0", "private_ip: expected"},
	} {
		p := &awsres.EIPParams{}
		if err := yaml.Unmarshal([]byte(tc.params), p); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate %q: %v, want %q", tc.params, err, tc.want)
		}
	}
}
