package integration

// The fault suite's AWS: moto_server on the run's bridge address, seeded
// with a VPC (198.19.0.0/16: moto data only, nothing is sent there), a
// subnet, a route table holding the virtual IP's route, one instance per
// member, an Elastic IP and a hosted zone; and the "hypervisor": the EC2
// front the agents use, also on the bridge, that powers a member off when
// StopInstances for its instance arrives and can inject AWS faults
// (503, throttling, a black hole) for a while.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

const (
	fiVIP      = "10.1.0.10/32" // a route DESTINATION in moto only
	fiZoneName = "fi.raftha.test."
	fiRecord   = "db.fi.raftha.test"
)

// awsWorld is moto and what the run seeded in it.
type awsWorld struct {
	endpoint string // moto itself: http://198.18.k.1:PORT
	cmd      *exec.Cmd
	done     chan struct{}
	ec2      *ec2.Client
	r53      *route53.Client

	vpc, subnet, igw, rtb string
	alloc, publicIP, zone string
}

// startMoto runs moto_server on the bridge address and seeds it.
func (c *fcluster) startMoto() {
	t, tb := c.t, c.tb
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", tb.gw+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logf, err := os.Create(filepath.Join(c.dir, "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-H", tb.gw, "-p", fmt.Sprint(port))
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &awsWorld{endpoint: fmt.Sprintf("http://%s:%d", tb.gw, port), cmd: cmd, done: make(chan struct{})}
	c.aws = w
	tb.record("proc %d", cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	tb.onTeardown(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			t.Errorf("moto_server (pid %d) not reaped", cmd.Process.Pid)
		}
	})
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	up := false
	for i := 0; i < 300 && !up; i++ {
		resp, err := client.Get(w.endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			up = true
			break
		}
		select {
		case <-w.done:
			t.Fatalf("moto_server exited at start (log %s)", logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !up {
		t.Fatalf("moto_server did not answer on %s", w.endpoint)
	}

	motoserver.Env(t)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: w.endpoint})
	if err != nil {
		t.Fatal(err)
	}
	w.ec2, w.r53 = ec2.NewFromConfig(cfg), route53.NewFromConfig(cfg)
	c.seed()
}

// seed creates the VPC, subnet, route table, instances, EIP and zone.
func (c *fcluster) seed() {
	t, w := c.t, c.aws
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("moto: %s: %v", what, err)
		}
	}
	vpc, err := w.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("198.19.0.0/16")})
	must(err, "CreateVpc")
	w.vpc = *vpc.Vpc.VpcId
	igw, err := w.ec2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	must(err, "CreateInternetGateway")
	w.igw = *igw.InternetGateway.InternetGatewayId
	_, err = w.ec2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: &w.igw, VpcId: &w.vpc})
	must(err, "AttachInternetGateway")
	sn, err := w.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &w.vpc, CidrBlock: aws.String("198.19.1.0/24"), AvailabilityZone: aws.String(motoserver.Region + "a")})
	must(err, "CreateSubnet")
	w.subnet = *sn.Subnet.SubnetId
	rt, err := w.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &w.vpc})
	must(err, "CreateRouteTable")
	w.rtb = *rt.RouteTable.RouteTableId
	_, err = w.ec2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: &w.rtb, SubnetId: &w.subnet})
	must(err, "AssociateRouteTable")
	_, err = w.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: &w.rtb, DestinationCidrBlock: aws.String(fiVIP), GatewayId: &w.igw})
	must(err, "CreateRoute")
	imgs, err := w.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	must(err, "DescribeImages")
	if len(imgs.Images) == 0 {
		t.Fatal("moto: no images")
	}
	n := int32(len(c.members))
	run, err := w.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: imgs.Images[0].ImageId, MinCount: aws.Int32(n), MaxCount: aws.Int32(n),
		InstanceType: types.InstanceTypeT3Micro, SubnetId: &w.subnet,
	})
	must(err, "RunInstances")
	if len(run.Instances) != len(c.members) {
		t.Fatalf("moto: %d instances, want %d", len(run.Instances), len(c.members))
	}
	for i, in := range run.Instances {
		m := c.members[i]
		m.instance = *in.InstanceId
		// Tagged raftha:node=ID: a fence verifies the instance is the
		// node's before it stops it.
		_, err := w.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{m.instance}, Tags: []types.Tag{{Key: aws.String(awsres.NodeTagKey), Value: aws.String(m.id)}}})
		must(err, "CreateTags")
		m.privIP = aws.ToString(in.PrivateIpAddress)
		for _, ni := range in.NetworkInterfaces {
			if ni.Attachment != nil && aws.ToInt32(ni.Attachment.DeviceIndex) == 0 {
				m.eni = *ni.NetworkInterfaceId
			}
		}
		if m.eni == "" {
			t.Fatalf("moto: instance %s has no primary ENI", m.instance)
		}
	}
	eip, err := w.ec2.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	must(err, "AllocateAddress")
	w.alloc, w.publicIP = *eip.AllocationId, *eip.PublicIp
	zone, err := w.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(fiZoneName), CallerReference: aws.String("fi-" + c.tb.rid)})
	must(err, "CreateHostedZone")
	w.zone = strings.TrimPrefix(*zone.HostedZone.Id, "/hostedzone/")
}

// awsView is where the route, the EIP and the DNS record point.
type awsView struct {
	routeENI   string
	eipInst    string
	eipENI     string
	dnsValue   string
	instStates map[string]string
}

func (c *fcluster) awsState() (awsView, error) {
	w := c.aws
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := awsView{instStates: map[string]string{}}
	rts, err := w.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{w.rtb}})
	if err != nil {
		return v, err
	}
	for _, rt := range rts.RouteTables {
		for _, r := range rt.Routes {
			if aws.ToString(r.DestinationCidrBlock) == fiVIP {
				v.routeENI = aws.ToString(r.NetworkInterfaceId)
			}
		}
	}
	addrs, err := w.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{w.alloc}})
	if err != nil {
		return v, err
	}
	for _, a := range addrs.Addresses {
		v.eipInst, v.eipENI = aws.ToString(a.InstanceId), aws.ToString(a.NetworkInterfaceId)
	}
	if c.withDNS {
		rr, err := w.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: &w.zone})
		if err != nil {
			return v, err
		}
		for _, s := range rr.ResourceRecordSets {
			if strings.TrimSuffix(aws.ToString(s.Name), ".") == fiRecord && s.Type == r53types.RRTypeA && len(s.ResourceRecords) > 0 {
				v.dnsValue = aws.ToString(s.ResourceRecords[0].Value)
			}
		}
	}
	var ids []string
	for _, m := range c.members {
		ids = append(ids, m.instance)
	}
	out, err := w.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return v, err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State != nil {
				v.instStates[aws.ToString(in.InstanceId)] = string(in.State.Name)
			}
		}
	}
	return v, nil
}
