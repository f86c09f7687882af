package aws_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
)

// degradedCallTimeout is the resources' per-call deadline in the degraded
// tests: long, so that a hung attempt waited out to it shows.
const degradedCallTimeout = 12 * time.Second

// degradedBound is what one start or stop with one hung attempt may take:
// the attempt's deadline (ResourceAttemptTimeout, 1 s) plus the calls
// against moto, with room for a loaded 2-core machine; far below
// degradedCallTimeout.
const degradedBound = 6 * time.Second

// hangFirstConfig is the production aws.Config (LoadConfig's defaults, as
// Provider builds it) whose calls go through a proxy in front of moto that
// holds the first request until the client gives up.
func hangFirstConfig(t *testing.T, moto string) (*aws.Config, *faultProxy) {
	t.Helper()
	p := newFaultProxy(t, moto, func(n int, _ time.Duration) apiFault {
		if n == 0 {
			return hang
		}
		return passThrough
	})
	return configVia(t, p.url), p
}

// timedAction runs one resource action and fails the test unless it
// succeeds within degradedBound.
func timedAction(t *testing.T, what string, p *faultProxy, action func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err := action(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s with a hung first attempt failed after %s (%d requests): %v", what, took.Round(time.Millisecond), len(p.arrivals()), err)
	}
	if took > degradedBound {
		t.Fatalf("%s took %s: the hung attempt was waited out (call deadline %s)", what, took.Round(time.Millisecond), degradedCallTimeout)
	}
	t.Logf("%s with a hung first attempt took %s (%d requests)", what, took.Round(time.Millisecond), len(p.arrivals()))
}

// TestResourceActionsAbandonHungAttempt: under a degraded EC2 or Route 53
// API, the first request of a resource's start (or stop) goes into a
// black hole. The attempt is abandoned at its own deadline and retried at
// once on a fresh connection, so the action succeeds about a second
// later instead of failing at the call's deadline (issue 18, aws-degraded).
func TestResourceActionsAbandonHungAttempt(t *testing.T) {
	f := newEC2Fixture(t)
	ec2Env := func(t *testing.T, cfg *aws.Config, instance string) resources.Env {
		env := f.env(t, instance, &testsupport.SyncBuffer{})
		env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
		return env
	}
	t.Run("route start", func(t *testing.T) {
		cfg, p := hangFirstConfig(t, f.m.Endpoint)
		r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", ec2Env(t, cfg, f.inst[0]))
		timedAction(t, "aws.route start", p, func(ctx context.Context) error { return r.Start(ctx, ec2Tok("a", 1)) })
		if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[0] {
			t.Fatalf("route targets %s, want %s (the owner's primary ENI)", got, f.eni[0])
		}
	})
	t.Run("eip start and stop", func(t *testing.T) {
		cfg, p := hangFirstConfig(t, f.m.Endpoint)
		r := ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\ndisassociate_on_stop: true\n", ec2Env(t, cfg, f.inst[1]))
		timedAction(t, "aws.eip start", p, func(ctx context.Context) error { return r.Start(ctx, ec2Tok("b", 2)) })
		if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[1] {
			t.Fatalf("address on %s, want %s", aws.ToString(a.InstanceId), f.inst[1])
		}
		cfg, p = hangFirstConfig(t, f.m.Endpoint)
		r = ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\ndisassociate_on_stop: true\n", ec2Env(t, cfg, f.inst[1]))
		timedAction(t, "aws.eip stop", p, func(ctx context.Context) error { return r.Stop(ctx, ec2Tok("b", 2)) })
		if a := f.address(t); aws.ToString(a.InstanceId) != "" {
			t.Fatalf("address still on %s after stop", aws.ToString(a.InstanceId))
		}
	})
}

// TestDNSStartAbandonsHungAttempt: the same for aws.dns, whose start
// calls EC2 (the owner's address) and Route 53 (the record, the change's
// INSYNC).
func TestDNSStartAbandonsHungAttempt(t *testing.T) {
	f := newDNSEBSFixture(t)
	a := f.instance(t, "10.0.110.210", false)
	zone := f.zone(t, "degraded.internal")
	cfg, p := hangFirstConfig(t, f.m.Endpoint)
	env := f.env(t, a)
	env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
	r := dnsebsMustBuild(t, awsres.DNSType, fmt.Sprintf("hosted_zone_id: %s\nrecord: db.degraded.internal\n", zone), env)
	timedAction(t, "aws.dns start", p, func(ctx context.Context) error { return r.Start(ctx, dnsTok("a", 1)) })
	wantRecord(t, f.record(t, zone, "db.degraded.internal", "A"), "10.0.110.210")
}
