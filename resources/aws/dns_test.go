package aws_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// dnsebsFixture is a moto_server with a VPC, a subnet in one AZ (the
// shared-disk layout of the CLUSTERPRO reference: 10.0.110.0/24) and
// instances at fixed private addresses.
type dnsebsFixture struct {
	m      *motoserver.Server
	cfg    aws.Config
	ec2    *ec2.Client
	r53    *route53.Client
	vpc    string
	subnet string
	az     string

	logMu sync.Mutex
	logs  bytes.Buffer
}

func newDNSEBSFixture(t *testing.T) *dnsebsFixture {
	t.Helper()
	m := motoserver.Start(t)
	cfg := m.Config(t)
	f := &dnsebsFixture{m: m, cfg: cfg, ec2: ec2.NewFromConfig(cfg), r53: route53.NewFromConfig(cfg), az: motoserver.Region + "a"}
	ctx := dnsebsCtx(t)
	vpc, err := f.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	f.vpc = *vpc.Vpc.VpcId
	sn, err := f.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.110.0/24"), AvailabilityZone: aws.String(f.az),
	})
	if err != nil {
		t.Fatalf("CreateSubnet: %v", err)
	}
	f.subnet = *sn.Subnet.SubnetId
	return f
}

func dnsebsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// instance runs one instance in the subnet at privateIP, with a public
// address when public is set.
func (f *dnsebsFixture) instance(t *testing.T, privateIP string, public bool) string {
	t.Helper()
	ctx := dnsebsCtx(t)
	imgs, err := f.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("moto: no images: %v", err)
	}
	in := &ec2.RunInstancesInput{
		ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT3Micro,
	}
	if public {
		in.NetworkInterfaces = []ec2types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex: aws.Int32(0), SubnetId: aws.String(f.subnet),
			PrivateIpAddress: aws.String(privateIP), AssociatePublicIpAddress: aws.Bool(true),
		}}
	} else {
		in.SubnetId, in.PrivateIpAddress = aws.String(f.subnet), aws.String(privateIP)
	}
	out, err := f.ec2.RunInstances(ctx, in)
	if err != nil {
		t.Fatalf("moto: RunInstances: %v", err)
	}
	return *out.Instances[0].InstanceId
}

func (f *dnsebsFixture) describeInstance(t *testing.T, id string) ec2types.Instance {
	t.Helper()
	out, err := f.ec2.DescribeInstances(dnsebsCtx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		t.Fatalf("DescribeInstances %s: %v", id, err)
	}
	return out.Reservations[0].Instances[0]
}

func (f *dnsebsFixture) zone(t *testing.T, name string) string {
	t.Helper()
	out, err := f.r53.CreateHostedZone(dnsebsCtx(t), &route53.CreateHostedZoneInput{
		Name: aws.String(name), CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatalf("CreateHostedZone: %v", err)
	}
	return *out.HostedZone.Id // /hostedzone/...
}

func (f *dnsebsFixture) env(t *testing.T, instanceID string) resources.Env {
	return resources.Env{
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: instanceID, Level: hclog.Debug, Output: dnsebsLogWriter{f, t},
		}),
		NodeID: instanceID, Cloud: &f.cfg, InstanceID: instanceID, CallTimeout: 10 * time.Second,
	}
}

type dnsebsLogWriter struct {
	f *dnsebsFixture
	t *testing.T
}

func (w dnsebsLogWriter) Write(p []byte) (int, error) {
	w.f.logMu.Lock()
	w.f.logs.Write(p)
	w.f.logMu.Unlock()
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func (f *dnsebsFixture) logged() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

// dnsebsBuild builds a resource the way the agent does: NewParams, strict
// YAML decode, Validate, Build.
func dnsebsBuild(t *testing.T, typ resources.Type, params string, env resources.Env) (resources.Resource, error) {
	t.Helper()
	p := typ.NewParams()
	dec := yaml.NewDecoder(strings.NewReader(params))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		t.Fatalf("%s params: %v", typ.Name, err)
	}
	if v, ok := p.(resources.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return typ.Build(p, env)
}

func dnsebsMustBuild(t *testing.T, typ resources.Type, params string, env resources.Env) resources.Resource {
	t.Helper()
	r, err := dnsebsBuild(t, typ, params, env)
	if err != nil {
		t.Fatalf("build %s: %v", typ.Name, err)
	}
	return r
}

func dnsTok(node string, epoch uint64) resources.Token {
	return resources.Token{Group: "db", Node: node, Epoch: epoch, Resource: "dns"}
}

// record reads name/type back independently of the resource.
func (f *dnsebsFixture) record(t *testing.T, zone, name string, typ r53types.RRType) []string {
	t.Helper()
	out, err := f.r53.ListResourceRecordSets(dnsebsCtx(t), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)})
	if err != nil {
		t.Fatalf("ListResourceRecordSets: %v", err)
	}
	for _, rrs := range out.ResourceRecordSets {
		if strings.TrimSuffix(*rrs.Name, ".") == strings.TrimSuffix(name, ".") && rrs.Type == typ {
			var v []string
			for _, rr := range rrs.ResourceRecords {
				v = append(v, *rr.Value)
			}
			return v
		}
	}
	return nil
}

func (f *dnsebsFixture) upsert(t *testing.T, zone, name string, typ r53types.RRType, value string) {
	t.Helper()
	_, err := f.r53.ChangeResourceRecordSets(dnsebsCtx(t), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(name), Type: typ, TTL: aws.Int64(300),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}},
			},
		}}},
	})
	if err != nil {
		t.Fatalf("test UPSERT: %v", err)
	}
}

func wantRecord(t *testing.T, got []string, want string) {
	t.Helper()
	if len(got) != 1 || got[0] != want {
		t.Fatalf("record holds %v, want [%s]", got, want)
	}
}

func TestDNSStartPointsRecordAtOwner(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	zone := f.zone(t, "example.internal")
	params := fmt.Sprintf("hosted_zone_id: %s\nrecord: db.example.internal\n", zone)
	ra := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, a))
	rb := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, b))
	ctx := dnsebsCtx(t)

	if err := ra.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start on A: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.200")
	if err := ra.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start on A again (idempotent): %v", err)
	}
	if err := ra.Check(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("check on A: %v", err)
	}

	// Failover: B takes the name over (A is not stopped first: a crashed
	// owner never runs Stop).
	if err := rb.Start(ctx, dnsTok("b", 2)); err != nil {
		t.Fatalf("start on B: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.201")
	if err := rb.Check(ctx, dnsTok("b", 2)); err != nil {
		t.Fatalf("check on B: %v", err)
	}
	// The TTL default is 60.
	out, err := f.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	for _, rrs := range out.ResourceRecordSets {
		if rrs.Type == r53types.RRTypeA && aws.ToInt64(rrs.TTL) != 60 {
			t.Fatalf("ttl %d, want 60", aws.ToInt64(rrs.TTL))
		}
	}
	// Stop is a no-op by default: the record stays (no NXDOMAIN).
	if err := rb.Stop(ctx, dnsTok("b", 2)); err != nil {
		t.Fatalf("stop on B: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.201")
}

func TestDNSCheckRepairsDrift(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	zone := f.zone(t, "example.internal")
	r := dnsebsMustBuild(t, awsres.DNSType, fmt.Sprintf("hosted_zone_id: %s\nrecord: db.example.internal.\nttl: 30\n", zone), f.env(t, a))
	ctx := dnsebsCtx(t)
	if err := r.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start: %v", err)
	}
	// Someone points the record elsewhere.
	f.upsert(t, zone, "db.example.internal", r53types.RRTypeA, "192.0.2.99")
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "192.0.2.99")
	if err := r.Check(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("check should repair the drift: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.200")
	if !strings.Contains(f.logged(), "repaired") || !strings.Contains(f.logged(), "192.0.2.99") {
		t.Fatalf("the repair was not logged as a warning with the old value:\n%s", f.logged())
	}
	// A missing record is recreated too.
	_, err := f.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{
			Action: r53types.ChangeActionDelete,
			ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String("db.example.internal."), Type: r53types.RRTypeA, TTL: aws.Int64(30),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("10.0.110.200")}},
			},
		}}},
	})
	if err != nil {
		t.Fatalf("test DELETE: %v", err)
	}
	if got := f.record(t, zone, "db.example.internal", r53types.RRTypeA); got != nil {
		t.Fatalf("test DELETE left %v", got)
	}
	if err := r.Check(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("check should recreate the record: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.200")
}

func TestDNSBadHostedZoneNamesIDAndCode(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	r := dnsebsMustBuild(t, awsres.DNSType, "hosted_zone_id: ZNOSUCHZONE0000\nrecord: db.example.internal\n", f.env(t, a))
	err := r.Start(dnsebsCtx(t), dnsTok("a", 1))
	if err == nil || !strings.Contains(err.Error(), "ZNOSUCHZONE0000") || !strings.Contains(err.Error(), "NoSuchHostedZone") {
		t.Fatalf("start with a bad zone: %v", err)
	}
	t.Logf("error: %v", err)
	if err := r.Check(dnsebsCtx(t), dnsTok("a", 1)); err == nil || !strings.Contains(err.Error(), "NoSuchHostedZone") {
		t.Fatalf("check with a bad zone: %v", err)
	}
}

func TestDNSPublicAddress(t *testing.T) {
	f := newDNSEBSFixture(t)
	pub := f.instance(t, "10.0.110.210", true)
	priv := f.instance(t, "10.0.110.211", false)
	pubIP := aws.ToString(f.describeInstance(t, pub).PublicIpAddress)
	if pubIP == "" {
		t.Fatalf("moto gave the instance launched with AssociatePublicIpAddress no public IP")
	}
	// A subnet without MapPublicIpOnLaunch gives no public address (moto
	// does as EC2 does).
	if ip := f.describeInstance(t, priv).PublicIpAddress; ip != nil {
		t.Fatalf("moto gave the instance launched without a public address one: %s", *ip)
	}
	zone := f.zone(t, "example.com")
	params := fmt.Sprintf("hosted_zone_id: %s\nrecord: www.example.com\naddress: public\n", zone)
	ctx := dnsebsCtx(t)
	r := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, pub))
	if err := r.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start (public): %v", err)
	}
	wantRecord(t, f.record(t, zone, "www.example.com", r53types.RRTypeA), pubIP)

	rp := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, priv))
	err := rp.Start(ctx, dnsTok("b", 2))
	if err == nil || !strings.Contains(err.Error(), "no public IPv4 address") || !strings.Contains(err.Error(), priv) {
		t.Fatalf("start (public) on an instance without one: %v", err)
	}
	wantRecord(t, f.record(t, zone, "www.example.com", r53types.RRTypeA), pubIP)
}

func TestDNSCNAMEToPrivateDNSName(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	zone := f.zone(t, "example.internal")
	params := fmt.Sprintf("hosted_zone_id: %s\nrecord: db.example.internal\nrecord_type: CNAME\n", zone)
	ctx := dnsebsCtx(t)
	for i, id := range []string{a, b} {
		r := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, id))
		if err := r.Start(ctx, dnsTok(id, uint64(i+1))); err != nil {
			t.Fatalf("start CNAME on %s: %v", id, err)
		}
		want := aws.ToString(f.describeInstance(t, id).PrivateDnsName)
		if want == "" {
			t.Fatalf("moto: %s has no private DNS name", id)
		}
		wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeCname), want)
		if err := r.Check(ctx, dnsTok(id, uint64(i+1))); err != nil {
			t.Fatalf("check CNAME on %s: %v", id, err)
		}
	}
}

func TestDNSDeleteOnStop(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.200", false)
	b := f.instance(t, "10.0.110.201", false)
	zone := f.zone(t, "example.internal")
	params := fmt.Sprintf("hosted_zone_id: %s\nrecord: db.example.internal\ndelete_on_stop: true\n", zone)
	ra := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, a))
	rb := dnsebsMustBuild(t, awsres.DNSType, params, f.env(t, b))
	ctx := dnsebsCtx(t)
	if err := ra.Start(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("start A: %v", err)
	}
	if err := ra.Stop(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("stop A: %v", err)
	}
	if got := f.record(t, zone, "db.example.internal", r53types.RRTypeA); got != nil {
		t.Fatalf("delete_on_stop left %v", got)
	}
	if err := ra.Stop(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("stop A again (idempotent): %v", err)
	}
	// A stale owner's Stop leaves a record that names the new owner alone.
	if err := rb.Start(ctx, dnsTok("b", 2)); err != nil {
		t.Fatalf("start B: %v", err)
	}
	if err := ra.Stop(ctx, dnsTok("a", 1)); err != nil {
		t.Fatalf("stale stop on A: %v", err)
	}
	wantRecord(t, f.record(t, zone, "db.example.internal", r53types.RRTypeA), "10.0.110.201")
}

func TestDNSParamsValidateNamesKeys(t *testing.T) {
	cases := map[string]string{
		"":                               "hosted_zone_id",
		"hosted_zone_id: Z1":             "record",
		"hosted_zone_id: Z1\nrecord: db": "record",
		"hosted_zone_id: Z1\nrecord: a.b\nrecord_type: MX":    "record_type",
		"hosted_zone_id: Z1\nrecord: a.b\nttl: -1":            "ttl",
		"hosted_zone_id: Z1\nrecord: a.b\naddress: x":         "address",
		"hosted_zone_id: Z1\nrecord: a.b\nwait_timeout: soon": "wait_timeout",
	}
	for params, key := range cases {
		p := awsres.DNSType.NewParams()
		if params != "" {
			if err := yaml.Unmarshal([]byte(params), p); err != nil {
				t.Fatalf("%q: %v", params, err)
			}
		}
		err := p.(resources.Validator).Validate()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", params, err, key)
		}
	}
	ok := &awsres.DNSParams{HostedZoneID: "/hostedzone/Z1", Name: "db.example.internal.", Type: "cname"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid params: %v", err)
	}
	if _, err := awsres.DNSType.Build(ok, resources.Env{InstanceID: "i-1"}); err == nil || !strings.Contains(err.Error(), "AWS") {
		t.Errorf("build without an AWS configuration: %v", err)
	}
	cfg := aws.Config{Region: "x"}
	if _, err := awsres.DNSType.Build(ok, resources.Env{Cloud: &cfg}); err == nil || !strings.Contains(err.Error(), "instance id") {
		t.Errorf("build without an instance id: %v", err)
	}
}
