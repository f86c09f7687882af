package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// windowConfig is the production aws.Config whose calls go through a
// proxy in front of moto that answers every request arriving in the
// first window with fault (forever when window is 0), and forwards the
// rest.
func windowConfig(t *testing.T, moto string, fault apiFault, window time.Duration) (*aws.Config, *faultProxy) {
	t.Helper()
	p := newFaultProxy(t, moto, func(_ int, since time.Duration) apiFault {
		if window == 0 || since < window {
			return fault
		}
		return passThrough
	})
	motoserver.Env(t)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: p.url})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg, p
}

// TestResourceStartRetriesPromptlyWhenAPIRecovers: a takeover's route
// start meets an EC2 API that answers 503 or throttles for 4 s. The start
// keeps retrying with short delays until the API answers again, as the
// fence does, instead of the SDK's standard policy (six attempts, 2 s
// apart after the second): it succeeds, no two requests are more than
// about a second apart, and the first request after the window comes
// within about a second of it (issue 18, aws-degraded in mixed mode).
func TestResourceStartRetriesPromptlyWhenAPIRecovers(t *testing.T) {
	f := newEC2Fixture(t)
	for _, tc := range []struct {
		name  string
		fault apiFault
	}{{"503", unavailable}, {"throttle", throttled}} {
		t.Run(tc.name, func(t *testing.T) {
			const window = 4 * time.Second
			cfg, p := windowConfig(t, f.m.Endpoint, tc.fault, window)
			env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
			env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
			r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := r.Start(ctx, ec2Tok("a", 1))
			arr := p.arrivals()
			if err != nil {
				t.Fatalf("route start failed (requests at %v): %v", arr, err)
			}
			var gap time.Duration
			late := time.Duration(-1)
			for i, a := range arr {
				if i > 0 {
					gap = max(gap, a-arr[i-1])
				}
				if late < 0 && a >= window {
					late = a - window
				}
			}
			t.Logf("%d requests, longest gap %s, first request %s after the API came back", len(arr), gap.Round(time.Millisecond), late.Round(time.Millisecond))
			if gap > 1100*time.Millisecond || late > 1100*time.Millisecond {
				t.Fatalf("the start's retries slept too long: longest gap between requests %s, first request %s after the API was back (requests at %v)",
					gap.Round(time.Millisecond), late.Round(time.Millisecond), arr)
			}
			if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[0] {
				t.Fatalf("route targets %s, want %s (the owner's primary ENI)", got, f.eni[0])
			}
		})
	}
}

// TestResourceCheckKeepsStandardRetries: a monitor's Check under an EC2
// API that answers nothing but 503 keeps the SDK's standard policy: at
// most three requests in its first 3 s (its attempts are 0-2 s, then 2 s,
// apart), where a start's prompt policy would send a request every half
// second or less. A monitor polls again at its next interval; its
// retries would only add to the load of a degraded API.
func TestResourceCheckKeepsStandardRetries(t *testing.T) {
	f := newEC2Fixture(t)
	cfg, p := windowConfig(t, f.m.Endpoint, unavailable, 0)
	env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
	env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
	r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
	const look = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), look)
	defer cancel()
	if err := r.Check(ctx, ec2Tok("a", 1)); err == nil {
		t.Fatal("check passed against an API that answers only 503")
	}
	n := 0
	for _, a := range p.arrivals() {
		if a < look {
			n++
		}
	}
	if n > 3 {
		t.Fatalf("the check sent %d requests in %s against a 503-only API (requests at %v); want the standard policy's at most 3", n, look, p.arrivals())
	}
}
