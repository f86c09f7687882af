package aws_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/internal/benchtable"
	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// manyAWSResources builds and starts, on one member over moto, routes
// aws.route resources (one destination each, in one route table) and eips
// aws.eip resources, every EC2 call counted by calls.
func manyAWSResources(t testing.TB, routes, eips int) ([]resources.Resource, *motoserver.Calls) {
	f := newEC2Fixture(t)
	ctx := ec2Ctx(t)
	calls := &motoserver.Calls{}
	cfg, err := awsres.LoadConfig(ctx, awsres.Settings{Region: motoserver.Region, Endpoint: f.m.Endpoint, Observe: calls.Observe})
	if err != nil {
		t.Fatal(err)
	}
	var logs testsupport.SyncBuffer
	env := f.env(t, f.inst[0], &logs)
	env.Cloud = &cfg
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
	return res, calls
}

// TestChecksOfManyResourcesShareTheirReads is the AWS call budget: one
// member runs 100 groups' aws.route resources (one destination each, in
// one route table) and 10 aws.eip resources (on its network
// interface). A round of every resource's Check within SharedReadTTL costs one
// DescribeInstances, one DescribeRouteTables and one DescribeAddresses,
// not one (or two) per resource, and a round after the TTL reads again.
func TestChecksOfManyResourcesShareTheirReads(t *testing.T) {
	const routes, eips = 100, 10
	res, calls := manyAWSResources(t, routes, eips)
	ctx := ec2Ctx(t)
	time.Sleep(awsres.SharedReadTTL) // what Start read is stale by now
	calls.Take()

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
		return calls.Take()
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

// BenchmarkAWSCallsPerIdleMinute runs the monitors of 100 groups' aws.route
// resources and 10 aws.eip resources on one member against moto for an
// idle minute, each checked every 10 s (the default interval) from its own
// phase, as the workers do, and prints the EC2 calls made, against the
// budget of docs/scale.md: 3 kinds (DescribeInstances,
// DescribeRouteTables for one VPC, DescribeAddresses) × 60 s /
// SharedReadTTL, whatever the number of groups. RAFTHA_BENCH_IDLE sets the
// duration (default 1m).
func BenchmarkAWSCallsPerIdleMinute(b *testing.B) {
	idle := time.Minute
	if d, err := time.ParseDuration(os.Getenv("RAFTHA_BENCH_IDLE")); err == nil && d > 0 {
		idle = d
	}
	const interval = 10 * time.Second
	res, calls := manyAWSResources(b, 100, 10)
	time.Sleep(awsres.SharedReadTTL)
	calls.Take()
	ctx, cancel := context.WithTimeout(context.Background(), idle)
	defer cancel()
	var wg sync.WaitGroup
	var failed sync.Map
	for i, r := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the phases over the interval.
			t := time.NewTimer(interval * time.Duration(i) / time.Duration(len(res)))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if err := r.Check(ctx, resources.Token{Group: fmt.Sprintf("g%03d", i), Node: "n1", Epoch: 1, Resource: "vip"}); err != nil && ctx.Err() == nil {
					failed.Store(i, err)
				}
				t.Reset(interval)
			}
		}()
	}
	wg.Wait()
	got := calls.Take()
	failed.Range(func(k, v any) bool { b.Errorf("check %v: %v", k, v); return true })
	total := 0
	for _, n := range got {
		total += n
	}
	perMinute := float64(total) * float64(time.Minute) / float64(idle)
	budget := 3 * float64(time.Minute/awsres.SharedReadTTL)
	verdict := "ok"
	if perMinute > budget {
		verdict = "OVER BUDGET"
	}
	fmt.Printf("scale %-44s %10.0f  goal <= %-8.0f %s (%v; 110 resources checked every %s)\n", "AWS calls per idle minute, 100 groups", perMinute, budget, verdict, got, interval)
	b.ReportMetric(perMinute, "calls/min")
	benchtable.Print(benchtable.Row{Figure: "AWS calls per idle minute, 100 groups (110 resources)", Value: fmt.Sprintf("%.0f", perMinute), Goal: fmt.Sprintf("<= %.0f, not growing with groups", budget), Command: "make bench (BenchmarkAWSCallsPerIdleMinute, ./resources/aws)"})
}
