package aws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// opCounter counts AWS calls per operation (retries included).
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) observe(_, op string, _ error, _ time.Duration) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *opCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

// TestChecksOfManyResourcesShareTheirReads is the AWS call budget: one
// member runs 100 groups' aws.route resources (one destination each, in
// one route table) and 10 aws.eip resources (one secondary address
// each). A round of every resource's Check within SharedReadTTL costs one
// DescribeInstances, one DescribeRouteTables and one DescribeAddresses,
// not one (or two) per resource, and a round after the TTL reads again.
func TestChecksOfManyResourcesShareTheirReads(t *testing.T) {
	const routes, eips = 100, 10
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	calls := &opCounter{n: map[string]int{}}
	cfg, err := awsres.LoadConfig(ctx, awsres.Settings{Region: motoserver.Region, Endpoint: f.m.Endpoint, Observe: calls.observe})
	if err != nil {
		t.Fatal(err)
	}
	var logs ec2LogBuf
	env := f.env(t, f.inst[0], &logs)
	env.Cloud = &cfg
	if _, err := f.c.AssignPrivateIpAddresses(ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: &f.eni[0], SecondaryPrivateIpAddressCount: aws.Int32(eips)}); err != nil {
		t.Fatalf("moto: AssignPrivateIpAddresses: %v", err)
	}
	ni, err := f.c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{f.eni[0]}})
	if err != nil {
		t.Fatalf("moto: DescribeNetworkInterfaces: %v", err)
	}
	var secondary []string
	for _, a := range ni.NetworkInterfaces[0].PrivateIpAddresses {
		if !aws.ToBool(a.Primary) {
			secondary = append(secondary, aws.ToString(a.PrivateIpAddress))
		}
	}
	if len(secondary) < eips {
		t.Fatalf("moto: %d secondary addresses, want %d", len(secondary), eips)
	}
	var res []resources.Resource
	for i := 0; i < routes; i++ {
		params := fmt.Sprintf("destination: 10.1.%d.%d/32\nroute_tables: [%s]\n", i/200, i%200+1, f.rtbs[0])
		res = append(res, ec2MustBuild(t, awsres.RouteType, params, env))
	}
	for i := 0; i < eips; i++ {
		alloc := f.alloc
		if i > 0 {
			out, err := f.c.AllocateAddress(ctx, &ec2.AllocateAddressInput{})
			if err != nil {
				t.Fatalf("moto: AllocateAddress: %v", err)
			}
			alloc = aws.ToString(out.AllocationId)
		}
		res = append(res, ec2MustBuild(t, awsres.EIPType, fmt.Sprintf("allocation_id: %s\nnetwork_interface: true\n", alloc), env))
	}
	for i, r := range res {
		if err := r.Start(ctx, resources.Token{Group: fmt.Sprintf("g%03d", i), Node: "n1", Epoch: 1, Resource: "vip"}); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	time.Sleep(awsres.SharedReadTTL) // what Start read is stale by now
	calls.take()

	// round checks every resource, concurrently as the workers do.
	round := func() map[string]int {
		var wg sync.WaitGroup
		errs := make(chan error, len(res))
		for i, r := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := r.Check(cctx, resources.Token{Group: fmt.Sprintf("g%03d", i), Node: "n1", Epoch: 1, Resource: "vip"}); err != nil {
					errs <- fmt.Errorf("check %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return calls.take()
	}
	first := round()
	t.Logf("%d route and %d eip checks: EC2 calls %v", routes, eips, first)
	for _, op := range []string{"DescribeInstances", "DescribeRouteTables", "DescribeAddresses"} {
		if first[op] != 1 {
			t.Errorf("%s called %d times for one round of checks, want 1 (calls %v)", op, first[op], first)
		}
	}
	for op, n := range first {
		switch op {
		case "DescribeInstances", "DescribeRouteTables", "DescribeAddresses":
		default:
			t.Errorf("a round of checks with nothing drifted made %d %s calls", n, op)
		}
	}
	if again := round(); len(again) != 0 {
		t.Errorf("a second round within SharedReadTTL read again: %v", again)
	}
	time.Sleep(awsres.SharedReadTTL)
	if later := round(); later["DescribeRouteTables"] != 1 || later["DescribeInstances"] != 1 || later["DescribeAddresses"] != 1 {
		t.Errorf("a round after SharedReadTTL: %v, want one read of each kind", later)
	}
}
