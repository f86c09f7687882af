package aws_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources"
	awsres "github.com/raftha/raftha/resources/aws"
)

// actionFaults is a proxy in front of moto that answers fault to the
// requests for one API action (every action when action is "") during
// window (forever when 0), counted from the first such request, and
// forwards everything else. It records when each such request arrived,
// since the first.
type actionFaults struct {
	url   string
	mu    sync.Mutex
	first time.Time
	times []time.Duration
}

func newActionFaults(t *testing.T, moto, action string, fault apiFault, window time.Duration) (*aws.Config, *actionFaults) {
	t.Helper()
	p := &actionFaults{}
	p.url = motoProxy(t, moto, func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if action != "" && !bytes.Contains(body, []byte("Action="+action+"&")) && !strings.HasSuffix(r.URL.Path, "/"+action) {
			return false
		}
		p.mu.Lock()
		if p.first.IsZero() {
			p.first = time.Now()
		}
		since := time.Since(p.first)
		p.times = append(p.times, since)
		p.mu.Unlock()
		if window > 0 && since >= window {
			return false
		}
		writeFault(w, fault)
		return true
	})
	return configVia(t, p.url), p
}

func (p *actionFaults) arrivals() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.times...)
}

// retryGaps returns the longest gap between the requests up to the first
// one after window, and how long after window that one came (-1: none).
func retryGaps(arr []time.Duration, window time.Duration) (gap, late time.Duration) {
	late = -1
	for i, a := range arr {
		if i > 0 {
			gap = max(gap, a-arr[i-1])
		}
		if a >= window {
			late = a - window
			break
		}
	}
	return gap, late
}

// TestResourceStartRetriesPromptlyWhenAPIRecovers: a takeover's start
// meets an API that fails one of its calls (503 or throttling) for 3 s,
// as in the aws-degraded scenario's mixed mode, where the fence can
// finish inside the fault window. The call keeps retrying with short
// delays until the API answers again, as the fence does, instead of the
// SDK's standard policy (six attempts, 2 s apart after the second): the
// start succeeds, no two tries are more than about a second apart, and
// the first try after the window comes within about a second of it.
func TestResourceStartRetriesPromptlyWhenAPIRecovers(t *testing.T) {
	f := newEC2Fixture(t)
	const window = 3 * time.Second
	route := func(t *testing.T, env resources.Env) (resources.Resource, func(*testing.T)) {
		r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
		return r, func(t *testing.T) {
			if got := f.target(t, f.rtbs[0], routeVIP); got != f.eni[0] {
				t.Fatalf("route targets %s, want %s (the owner's primary ENI)", got, f.eni[0])
			}
		}
	}
	eip := func(t *testing.T, env resources.Env) (resources.Resource, func(*testing.T)) {
		r := ec2MustBuild(t, awsres.EIPType, "allocation_id: "+f.alloc+"\n", env)
		return r, func(t *testing.T) {
			if a := f.address(t); aws.ToString(a.InstanceId) != f.inst[0] {
				t.Fatalf("address on %s, want %s", aws.ToString(a.InstanceId), f.inst[0])
			}
		}
	}
	for _, tc := range []struct {
		name, action string
		fault        apiFault
		build        func(*testing.T, resources.Env) (resources.Resource, func(*testing.T))
	}{
		{"route: DescribeInstances 503", "DescribeInstances", unavailable, route},
		{"route: DescribeRouteTables throttled", "DescribeRouteTables", throttled, route},
		{"route: ReplaceRoute 503", "ReplaceRoute", unavailable, route},
		{"eip: AssociateAddress throttled", "AssociateAddress", throttled, eip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, p := newActionFaults(t, f.m.Endpoint, tc.action, tc.fault, window)
			env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
			env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
			r, check := tc.build(t, env)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := r.Start(ctx, ec2Tok("a", 1))
			arr := p.arrivals()
			if err != nil {
				t.Fatalf("start failed (%s at %v): %v", tc.action, arr, err)
			}
			gap, late := retryGaps(arr, window)
			t.Logf("%d %s requests, longest gap %s, first %s after the API came back", len(arr), tc.action, gap.Round(time.Millisecond), late.Round(time.Millisecond))
			if late < 0 || gap > 1100*time.Millisecond || late > 1100*time.Millisecond {
				t.Fatalf("the start's %s retries slept too long: longest gap %s, first request %s after the API was back (requests at %v)",
					tc.action, gap.Round(time.Millisecond), late.Round(time.Millisecond), arr)
			}
			check(t)
		})
	}
}

// TestActionRetriesSpacedAcrossStarts: eight route starts at once (a
// takeover of many groups) under 3 s of throttling on every call. Each
// start retries promptly, but their retries share one spacing across the
// process (one EC2 retry every 200 ms), so the API sees the eight first
// tries and at most about 15 retries in the window, not eight starts'
// worth of prompt retries (about 80). All eight succeed afterwards.
func TestActionRetriesSpacedAcrossStarts(t *testing.T) {
	f := newEC2Fixture(t)
	const window, starts = 3 * time.Second, 8
	cfg, p := newActionFaults(t, f.m.Endpoint, "", throttled, window)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, starts)
	for i := 0; i < starts; i++ {
		env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
		env.Cloud, env.CallTimeout = cfg, degradedCallTimeout
		r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
		go func() { errs <- r.Start(ctx, ec2Tok("a", 1)) }()
	}
	for i := 0; i < starts; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a start failed: %v", err)
		}
	}
	n := 0
	for _, a := range p.arrivals() {
		if a < window {
			n++
		}
	}
	// 8 first tries + one retry per 200 ms slot in 3 s (15), and some
	// slack for the timing of the first tries and slots.
	const most = starts + int(window/(200*time.Millisecond)) + 3
	t.Logf("%d requests in the %s window from %d starts", n, window, starts)
	if n > most {
		t.Fatalf("%d requests reached the throttling API in %s from %d starts; want at most %d (retries spaced 200 ms apart)", n, window, starts, most)
	}
}

// TestStartGivenUpSaysWhatTheAPIAnswered: a start that runs out of time
// says what its last attempt met, not only the deadline: throttling when
// the API only throttles; an attempt abandoned without an answer when the
// API throttled once and then stopped answering. The error still is a
// deadline (errors.Is).
func TestStartGivenUpSaysWhatTheAPIAnswered(t *testing.T) {
	f := newEC2Fixture(t)
	for _, tc := range []struct {
		name, want string
		decide     func(n int, _ time.Duration) apiFault
	}{
		{"throttled", "ThrottlingException", func(int, time.Duration) apiFault { return throttled }},
		{"throttled, then no answer", "attempt abandoned", func(n int, _ time.Duration) apiFault {
			if n == 0 {
				return throttled
			}
			return hang
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFaultProxy(t, f.m.Endpoint, tc.decide)
			env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
			env.Cloud, env.CallTimeout = configVia(t, p.url), 3*time.Second
			r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
			err := r.Start(context.Background(), ec2Tok("a", 1))
			if err == nil {
				t.Fatal("start succeeded against an API that never answered it")
			}
			t.Logf("start: %v", err)
			if _, last, _ := strings.Cut(err.Error(), "the last attempt failed with:"); !strings.Contains(last, tc.want) {
				t.Fatalf("the start's error does not say its last attempt met %q: %v", tc.want, err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the start's error is no longer a deadline (errors.Is): %v", err)
			}
		})
	}
}

// TestResourceCheckKeepsStandardRetries: a monitor's Check under an EC2
// API that answers nothing but 503 keeps the SDK's standard policy: at
// most three requests in 3 s (its tries are 0-2 s, then 2 s, apart),
// where a start's prompt policy would send one every half second or
// less. A monitor polls again at its next interval; its retries would
// only add to the load of a degraded API. (The check's call deadline is
// the 3 s looked at, so its shared read does not outlive the test.)
func TestResourceCheckKeepsStandardRetries(t *testing.T) {
	f := newEC2Fixture(t)
	const look = 3 * time.Second
	cfg, p := newActionFaults(t, f.m.Endpoint, "", unavailable, 0)
	env := f.env(t, f.inst[0], &testsupport.SyncBuffer{})
	env.Cloud, env.CallTimeout = cfg, look
	r := ec2MustBuild(t, awsres.RouteType, "destination: "+routeVIP+"\nroute_tables: ["+f.rtbs[0]+"]\n", env)
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
