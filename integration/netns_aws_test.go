package integration

// The fault suite's AWS: moto_server on the run's bridge address, seeded
// with a VPC (198.19.0.0/16: moto data only, nothing is sent there), a
// subnet, a route table holding the virtual IP's route, one instance per
// member, an Elastic IP and a hosted zone; and the "hypervisor": the EC2
// front the agents use, also on the bridge, that powers a member off when
// StopInstances for its instance arrives and can inject AWS faults
// (503, throttling, a black hole) for a while.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// ---------------------------------------------------------------------------
// The hypervisor.

// awsFault is an injected AWS failure mode.
type awsFault string

const (
	fault503       awsFault = "503"       // Service Unavailable
	faultThrottle  awsFault = "throttle"  // 400 ThrottlingException
	faultBlackhole awsFault = "blackhole" // hold the request, then 503: an unreachable endpoint
	faultMixed     awsFault = "mixed"     // a random mix of the above and successes
)

type hypervisor struct {
	c   *fcluster
	srv *http.Server
	url string
	rp  *httputil.ReverseProxy

	mu        sync.Mutex
	mode      awsFault
	until     time.Time
	hold      time.Duration
	rng       *rand.Rand
	injected  map[string]int // by action
	forwarded int
	stops     []stopReq // StopInstances forwarded to moto

	cancel context.CancelFunc
	done   chan struct{}

	// broken makes fencing a lie (the checker self-test): StopInstances
	// stops the instance in moto, but its VM keeps running.
	broken atomic.Bool
}

type stopReq struct {
	at  int64 // mono
	ids []string
}

// startHypervisor serves the agents' EC2/Route 53 endpoint on the bridge
// address and starts the power poller.
func (c *fcluster) startHypervisor() {
	t := c.t
	target, err := url.Parse(c.aws.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	hv := &hypervisor{c: c, rp: httputil.NewSingleHostReverseProxy(target), injected: map[string]int{}, rng: rand.New(rand.NewSource(c.seed0 ^ 0x5eed))}
	hv.rp.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	ln, err := net.Listen("tcp", c.tb.gw+":0")
	if err != nil {
		t.Fatal(err)
	}
	hv.url = "http://" + ln.Addr().String()
	hv.srv = &http.Server{Handler: http.HandlerFunc(hv.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hv.srv.Serve(ln) }()
	c.hv = hv

	ctx, cancel := context.WithCancel(context.Background())
	hv.cancel, hv.done = cancel, make(chan struct{})
	go hv.poll(ctx)
	c.tb.onTeardown(func() {
		hv.cancel()
		select {
		case <-hv.done:
		case <-time.After(5 * time.Second):
			t.Errorf("hypervisor poller did not stop")
		}
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = hv.srv.Shutdown(sctx)
		scancel()
		_ = hv.srv.Close()
	})
}

// inject turns a fault mode on for d from now.
func (hv *hypervisor) inject(mode awsFault, d, hold time.Duration) {
	hv.mu.Lock()
	defer hv.mu.Unlock()
	hv.mode, hv.until, hv.hold = mode, time.Now().Add(d), hold
}

// injectedCount returns how many responses were injected so far.
func (hv *hypervisor) injectedCount() (int, string) {
	hv.mu.Lock()
	defer hv.mu.Unlock()
	n := 0
	var parts []string
	for k, v := range hv.injected {
		n += v
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	return n, strings.Join(parts, " ")
}

func (hv *hypervisor) stopRequests() []stopReq {
	hv.mu.Lock()
	defer hv.mu.Unlock()
	return append([]stopReq(nil), hv.stops...)
}

// decide returns the fault to inject for one request ("" for none).
func (hv *hypervisor) decide() (awsFault, time.Duration) {
	hv.mu.Lock()
	defer hv.mu.Unlock()
	if hv.mode == "" || time.Now().After(hv.until) {
		return "", 0
	}
	mode := hv.mode
	if mode == faultMixed {
		switch hv.rng.Intn(4) {
		case 0:
			return "", 0
		case 1:
			mode = fault503
		case 2:
			mode = faultThrottle
		default:
			mode = faultBlackhole
		}
	}
	return mode, hv.hold
}

func (hv *hypervisor) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	r.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := "?"
	route53Call := strings.HasPrefix(r.URL.Path, "/2013-04-01/")
	var q url.Values
	if route53Call {
		action = "route53:" + r.Method
	} else if q, err = url.ParseQuery(string(body)); err == nil && q.Get("Action") != "" {
		action = q.Get("Action")
	}
	// A DryRun call (the agents' start-up permission preflight) changes
	// nothing in EC2: answer it here, so that it neither powers a VM off
	// nor counts as a stop, and never reaches moto, which ignores DryRun
	// for some actions (ReplaceRoute) and would carry them out.
	if !route53Call && q.Get("DryRun") == "true" {
		answerDryRun(w)
		return
	}
	if mode, hold := hv.decide(); mode != "" {
		hv.mu.Lock()
		hv.injected[action+"/"+string(mode)]++
		hv.mu.Unlock()
		hv.fail(w, r, mode, hold, route53Call)
		return
	}
	if action == "StopInstances" {
		var ids []string
		for k, vs := range q {
			if strings.HasPrefix(k, "InstanceId.") {
				ids = append(ids, vs...)
			}
		}
		sort.Strings(ids)
		// The VM dies before EC2 can report it stopping.
		for _, id := range ids {
			if m := hv.c.byInstance(id); m != nil && !hv.broken.Load() {
				hv.c.powerOff(m, "StopInstances "+id)
			}
		}
		hv.mu.Lock()
		hv.stops = append(hv.stops, stopReq{at: monoNow(), ids: ids})
		hv.mu.Unlock()
	}
	hv.mu.Lock()
	hv.forwarded++
	hv.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	hv.rp.ServeHTTP(w, r)
}

func (hv *hypervisor) fail(w http.ResponseWriter, r *http.Request, mode awsFault, hold time.Duration, route53Call bool) {
	switch mode {
	case faultBlackhole:
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	case faultThrottle:
		w.Header().Set("Content-Type", "text/xml")
		if route53Call {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fi-throttle</RequestId></ErrorResponse>`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>ThrottlingException</Code><Message>Rate exceeded</Message></Error></Errors><RequestID>fi-throttle</RequestID></Response>`)
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		if route53Call {
			fmt.Fprint(w, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service Unavailable</Message></Error><RequestId>fi-503</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>Unavailable</Code><Message>Service Unavailable</Message></Error></Errors><RequestID>fi-503</RequestID></Response>`)
	}
}

// poll powers off members whose instance moto reports stopped or
// terminated, whatever stopped it (bounded: 20 polls a second, at most
// 30 minutes).
func (hv *hypervisor) poll(ctx context.Context) {
	defer close(hv.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var ids []string
	for _, m := range hv.c.members {
		ids = append(ids, m.instance)
	}
	for i := 0; i < 20*1800; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		out, err := hv.c.aws.ec2.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		cancel()
		if err != nil {
			continue
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if in.InstanceId == nil || in.State == nil {
					continue
				}
				if st := string(in.State.Name); st == "stopped" || st == "terminated" {
					if m := hv.c.byInstance(*in.InstanceId); m != nil && !hv.broken.Load() {
						hv.c.powerOff(m, "DescribeInstances: "+st)
					}
				}
			}
		}
	}
}

// answerDryRun answers an EC2 DryRun call as EC2 does for an allowed
// identity: DryRunOperation (HTTP 412).
func answerDryRun(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusPreconditionFailed)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would have succeeded, but DryRun flag is set.</Message></Error></Errors><RequestID>fi-dryrun</RequestID></Response>`)
}
