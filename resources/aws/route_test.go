package aws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

const routeVIP = "10.1.0.10/32"

// ec2Fixture is the route table scenario in moto: a VPC (10.0.0.0/16)
// with two subnets in two AZs, a route table per subnet holding a route
// for the virtual IP (initially to an internet gateway: any target
// will do), a third table without it, one instance per subnet and an
// Elastic IP.
type ec2Fixture struct {
	m      *motoserver.Server
	cfg    aws.Config
	c      *ec2.Client
	vpc    string
	igw    string
	rtbs   []string // hold a route for routeVIP
	bare   string   // holds no route for routeVIP
	inst   [2]string
	eni    [2]string
	ip     [2]string // primary private addresses
	alloc  string
	public string
}

func ec2Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEC2Fixture(t testing.TB) *ec2Fixture {
	t.Helper()
	f := &ec2Fixture{m: motoserver.Start(t)}
	f.cfg = f.m.Config(t)
	f.c = ec2.NewFromConfig(f.cfg)
	ctx := ec2Ctx(t)
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("moto: %s: %v", what, err)
		}
	}
	vpc, err := f.c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	must(err, "CreateVpc")
	f.vpc = *vpc.Vpc.VpcId
	igw, err := f.c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	must(err, "CreateInternetGateway")
	f.igw = *igw.InternetGateway.InternetGatewayId
	_, err = f.c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: &f.igw, VpcId: &f.vpc})
	must(err, "AttachInternetGateway")
	imgs, err := f.c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	must(err, "DescribeImages")
	if len(imgs.Images) == 0 {
		t.Fatal("moto: no images")
	}
	for i, az := range []string{"a", "c"} {
		sn, err := f.c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &f.vpc, CidrBlock: aws.String([]string{"10.0.2.0/24", "10.0.3.0/24"}[i]), AvailabilityZone: aws.String(motoserver.Region + az)})
		must(err, "CreateSubnet")
		rt, err := f.c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &f.vpc})
		must(err, "CreateRouteTable")
		id := *rt.RouteTable.RouteTableId
		f.rtbs = append(f.rtbs, id)
		_, err = f.c.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: &id, SubnetId: sn.Subnet.SubnetId})
		must(err, "AssociateRouteTable")
		_, err = f.c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: &id, DestinationCidrBlock: aws.String(routeVIP), GatewayId: &f.igw})
		must(err, "CreateRoute")
		run, err := f.c.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType: types.InstanceTypeT3Micro, SubnetId: sn.Subnet.SubnetId,
		})
		must(err, "RunInstances")
		in := run.Instances[0]
		f.inst[i] = *in.InstanceId
		for _, n := range in.NetworkInterfaces {
			if n.Attachment != nil && aws.ToInt32(n.Attachment.DeviceIndex) == 0 {
				f.eni[i] = *n.NetworkInterfaceId
				f.ip[i] = aws.ToString(n.PrivateIpAddress)
			}
		}
		if f.eni[i] == "" {
			t.Fatalf("moto: instance %s has no primary ENI: %+v", f.inst[i], in.NetworkInterfaces)
		}
	}
	bare, err := f.c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &f.vpc})
	must(err, "CreateRouteTable")
	f.bare = *bare.RouteTable.RouteTableId
	eip, err := f.c.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	must(err, "AllocateAddress")
	f.alloc, f.public = *eip.AllocationId, *eip.PublicIp
	return f
}

// target returns the NetworkInterfaceId of table's route for dest ("" when
// it points elsewhere, "missing" when there is none).
func (f *ec2Fixture) target(t *testing.T, table, dest string) string {
	t.Helper()
	out, err := f.c.DescribeRouteTables(ec2Ctx(t), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{table}})
	if err != nil {
		t.Fatalf("DescribeRouteTables %s: %v", table, err)
	}
	for _, r := range out.RouteTables[0].Routes {
		if aws.ToString(r.DestinationCidrBlock) == dest {
			return aws.ToString(r.NetworkInterfaceId)
		}
	}
	return "missing"
}

func (f *ec2Fixture) sourceDestCheck(t *testing.T, eni string) bool {
	t.Helper()
	out, err := f.c.DescribeNetworkInterfaceAttribute(ec2Ctx(t), &ec2.DescribeNetworkInterfaceAttributeInput{
		NetworkInterfaceId: &eni, Attribute: types.NetworkInterfaceAttributeSourceDestCheck,
	})
	if err != nil {
		t.Fatalf("DescribeNetworkInterfaceAttribute %s: %v", eni, err)
	}
	if out.SourceDestCheck == nil || out.SourceDestCheck.Value == nil {
		t.Fatalf("moto did not report sourceDestCheck for %s", eni)
	}
	return *out.SourceDestCheck.Value
}

func (f *ec2Fixture) env(t testing.TB, instance string, logs *testsupport.SyncBuffer) resources.Env {
	t.Helper()
	cfg := f.cfg
	return resources.Env{
		Logger:      hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		DataDir:     t.TempDir(),
		NodeID:      "n-" + instance,
		Cloud:       &cfg,
		InstanceID:  instance,
		CallTimeout: 10 * time.Second,
	}
}

// build decodes the YAML params strictly (as the group file loader does)
// into typ's params, validates them and builds the resource.
func ec2Build(t testing.TB, typ resources.Type, params string, env resources.Env) (resources.Resource, error) {
	t.Helper()
	p := typ.NewParams()
	dec := yaml.NewDecoder(strings.NewReader(params))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		t.Fatalf("decode %q: %v", params, err)
	}
	if v, ok := p.(resources.Validator); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("validate %q: %v", params, err)
		}
	}
	return typ.Build(p, env)
}

func ec2MustBuild(t testing.TB, typ resources.Type, params string, env resources.Env) resources.Resource {
	t.Helper()
	r, err := ec2Build(t, typ, params, env)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return r
}

func ec2Tok(node string, epoch uint64) resources.Token {
	return resources.Token{Group: "db", Node: node, Epoch: epoch, Resource: "vip"}
}

func TestRouteFailoverAndDriftRepair(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	params := "destination: " + routeVIP + "\nroute_tables: [" + strings.Join(f.rtbs, ", ") + "]\n"
	var logA, logB testsupport.SyncBuffer
	ra := ec2MustBuild(t, awsres.RouteType, params, f.env(t, f.inst[0], &logA))
	rb := ec2MustBuild(t, awsres.RouteType, params, f.env(t, f.inst[1], &logB))
	defer func() {
		if t.Failed() {
			t.Logf("A's log:\n%s\nB's log:\n%s", logA.String(), logB.String())
		}
	}()
	if !f.sourceDestCheck(t, f.eni[0]) {
		t.Fatal("moto: source/dest check should start on")
	}

	// Start for A: both tables point at A's ENI, A's source/dest check is off.
	if err := ra.Start(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("start A: %v", err)
	}
	for _, rt := range f.rtbs {
		if got := f.target(t, rt, routeVIP); got != f.eni[0] {
			t.Fatalf("%s after start A: %s, want %s", rt, got, f.eni[0])
		}
	}
	if f.sourceDestCheck(t, f.eni[0]) {
		t.Fatal("source/dest check still on for A's ENI after Start")
	}
	if !f.sourceDestCheck(t, f.eni[1]) {
		t.Fatal("B's ENI was touched")
	}
	if got := f.target(t, f.bare, routeVIP); got != "missing" {
		t.Fatalf("an unlisted table got a route: %s", got)
	}
	// Idempotent start and a healthy check.
	if err := ra.Start(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("second start A: %v", err)
	}
	if err := ra.Check(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("check A: %v", err)
	}
	if !strings.Contains(logA.String(), "epoch=1") || !strings.Contains(logA.String(), "group=db") {
		t.Fatalf("log lines lack the fencing token:\n%s", logA.String())
	}

	// Failover: B starts with a higher epoch (A is gone; nothing stopped it).
	if err := rb.Start(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("start B: %v", err)
	}
	for _, rt := range f.rtbs {
		if got := f.target(t, rt, routeVIP); got != f.eni[1] {
			t.Fatalf("%s after failover: %s, want %s", rt, got, f.eni[1])
		}
	}
	if f.sourceDestCheck(t, f.eni[1]) {
		t.Fatal("source/dest check still on for B's ENI after Start")
	}

	// Drift: someone points the first table back at A behind raftha's back.
	if _, err := f.c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: &f.rtbs[0], DestinationCidrBlock: aws.String(routeVIP), NetworkInterfaceId: &f.eni[0]}); err != nil {
		t.Fatal(err)
	}
	if err := rb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B after drift: %v", err)
	}
	if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[1] {
		t.Fatalf("drift not repaired: %s", got)
	}
	warn := ""
	for _, l := range strings.Split(logB.String(), "\n") {
		if strings.Contains(l, "[WARN]") && strings.Contains(l, f.rtbs[0]) {
			warn = l
		}
	}
	if warn == "" || !strings.Contains(warn, "was="+f.eni[0]) || !strings.Contains(warn, "epoch=2") || !strings.Contains(warn, "node=b") {
		t.Fatalf("no drift warning naming the table, what it pointed at and the token:\n%s", logB.String())
	}

	// Drift: the route is deleted; Check creates it again.
	if _, err := f.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &f.rtbs[1], DestinationCidrBlock: aws.String(routeVIP)}); err != nil {
		t.Fatal(err)
	}
	if err := rb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B after delete: %v", err)
	}
	if got := f.target(t, f.rtbs[1], routeVIP); got != f.eni[1] {
		t.Fatalf("deleted route not recreated: %s", got)
	}

	// Drift: source/dest check turned back on; Check turns it off.
	if _, err := f.c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: &f.eni[1], SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	if !f.sourceDestCheck(t, f.eni[1]) {
		t.Fatal("moto: source/dest check did not turn on")
	}
	// Checks read the instance through the member's shared read, which
	// may be up to SharedReadTTL old: drift is seen within a check
	// interval plus that.
	time.Sleep(awsres.SharedReadTTL)
	if err := rb.Check(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("check B after source/dest check drift: %v", err)
	}
	if f.sourceDestCheck(t, f.eni[1]) {
		t.Fatal("Check did not turn source/dest check off again")
	}

	// Stop leaves the route for the next owner, and is idempotent.
	for i := 0; i < 2; i++ {
		if err := rb.Stop(ctx, ec2Tok("b", 2)); err != nil {
			t.Fatalf("stop B: %v", err)
		}
	}
	if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[1] {
		t.Fatalf("stop touched the route: %s", got)
	}
	// The route missing at Start is created.
	if _, err := f.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &f.rtbs[0], DestinationCidrBlock: aws.String(routeVIP)}); err != nil {
		t.Fatal(err)
	}
	if err := ra.Start(ctx, ec2Tok("a", 3)); err != nil {
		t.Fatalf("start A with a missing route: %v", err)
	}
	for _, rt := range f.rtbs {
		if got := f.target(t, rt, routeVIP); got != f.eni[0] {
			t.Fatalf("%s after start A: %s, want %s", rt, got, f.eni[0])
		}
	}
}

func TestRouteDiscoversTables(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	var logs testsupport.SyncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	ra := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP, f.env(t, f.inst[0], &logs))
	if err := ra.Start(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("start A: %v", err)
	}
	for _, rt := range f.rtbs {
		if got := f.target(t, rt, routeVIP); got != f.eni[0] {
			t.Fatalf("%s: %s, want %s", rt, got, f.eni[0])
		}
	}
	if got := f.target(t, f.bare, routeVIP); got != "missing" {
		t.Fatalf("a table without the route got one: %s", got)
	}
	// A table found before is repaired even when its route was deleted.
	if _, err := f.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &f.rtbs[0], DestinationCidrBlock: aws.String(routeVIP)}); err != nil {
		t.Fatal(err)
	}
	if err := ra.Check(ctx, ec2Tok("a", 1)); err != nil {
		t.Fatalf("check A: %v", err)
	}
	if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[0] {
		t.Fatalf("deleted route in a discovered table not recreated: %s", got)
	}

	// vpc_id given explicitly; failover to B.
	rb := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nvpc_id: "+f.vpc, f.env(t, f.inst[1], &logs))
	if err := rb.Start(ctx, ec2Tok("b", 2)); err != nil {
		t.Fatalf("start B: %v", err)
	}
	for _, rt := range f.rtbs {
		if got := f.target(t, rt, routeVIP); got != f.eni[1] {
			t.Fatalf("%s after failover: %s, want %s", rt, got, f.eni[1])
		}
	}

	// No table holds the destination: a clear error.
	rn := ec2MustBuild(t, awsres.RouteType, "destination: 10.1.0.99/32", f.env(t, f.inst[0], &logs))
	err := rn.Start(ctx, ec2Tok("a", 3))
	if err == nil || !strings.Contains(err.Error(), "no route table in "+f.vpc+" has a route for 10.1.0.99/32") {
		t.Fatalf("start without any table: %v", err)
	}
}

func TestRouteErrors(t *testing.T) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	var logs testsupport.SyncBuffer

	// The API refuses an unknown table: the error names it and the code.
	r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+", rtb-deadbeef]", f.env(t, f.inst[0], &logs))
	err := r.Start(ctx, ec2Tok("a", 1))
	if err == nil || !strings.Contains(err.Error(), "rtb-deadbeef") || !strings.Contains(err.Error(), "InvalidRouteTableID.NotFound") {
		t.Fatalf("start with a bad table: %v", err)
	}
	if err := r.Check(ctx, ec2Tok("a", 1)); err == nil || !strings.Contains(err.Error(), "rtb-deadbeef") {
		t.Fatalf("check with a bad table: %v", err)
	}

	// An unknown instance.
	r = ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP, f.env(t, "i-0123456789abcdef0", &logs))
	if err := r.Start(ctx, ec2Tok("a", 1)); err == nil || !strings.Contains(err.Error(), "i-0123456789abcdef0") {
		t.Fatalf("start for an unknown instance: %v", err)
	}

	// No instance id on this node.
	r = ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP, f.env(t, "", &logs))
	err = r.Start(ctx, ec2Tok("a", 1))
	if err == nil || !strings.Contains(err.Error(), "aws.instance_id") {
		t.Fatalf("start without an instance id: %v", err)
	}
	t.Logf("missing instance id: %v", err)

	// No AWS configuration: the build fails.
	env := f.env(t, f.inst[0], &logs)
	env.Cloud = nil
	if _, err := ec2Build(t, awsres.RouteType, "destination: "+routeVIP, env); err == nil || !strings.Contains(err.Error(), "aws.region") {
		t.Fatalf("build without AWS: %v", err)
	}
	for _, tc := range []struct{ params, want string }{
		{"", "destination: required"},
		{"destination: 10.1.0.10", "destination: expected a CIDR"},
		{"destination: 10.1.0.10/24", "host bits"},
		{"destination: fd00::1/128", "only IPv4"},
		{"destination: " + routeVIP + "\nroute_tables: [rtb-x]", "route_tables[0]"},
		{"destination: " + routeVIP + "\nroute_tables: [rtb-deadbeef, rtb-deadbeef]", "route_tables[1]: rtb-deadbeef is listed twice"},
		{"destination: " + routeVIP + "\nvpc_id: vpc", "vpc_id: expected"},
		{"destination: " + routeVIP + "\nvpc_id: vpc-deadbeef\nroute_tables: [rtb-deadbeef]", "vpc_id: only used"},
	} {
		p := &awsres.RouteParams{}
		if err := yaml.Unmarshal([]byte(tc.params), p); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate %q: %v, want %q", tc.params, err, tc.want)
		}
		if _, err := awsres.RouteType.Build(p, f.env(t, f.inst[0], &logs)); err == nil {
			t.Errorf("build %q: no error", tc.params)
		}
	}
	// Unknown keys are the strict decoder's business; the tags must match.
	dec := yaml.NewDecoder(strings.NewReader("destination: " + routeVIP + "\nroute_table: [rtb-deadbeef]"))
	dec.KnownFields(true)
	if err := dec.Decode(awsres.RouteType.NewParams()); err == nil {
		t.Fatal("strict decode accepted route_table")
	}
}
