package aws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/cloud"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// apiFault is what the fault proxy does with one request.
type apiFault int

const (
	passThrough apiFault = iota // forward to moto_server
	hang                        // hold the request until the client gives up
	unavailable                 // 503 Unavailable, as EC2 answers when degraded
	throttled                   // 400 ThrottlingException
	slow                        // forward after 1.4 s: slow, but alive
)

// faultProxy stands between the SDK and moto_server on 127.0.0.1 and
// applies decide's fault to each request (n counts requests from 0). It
// records when each request arrived.
type faultProxy struct {
	url   string
	mu    sync.Mutex
	start time.Time
	times []time.Duration // arrival of each request, since start
}

func newFaultProxy(t *testing.T, moto string, decide func(n int, since time.Duration) apiFault) *faultProxy {
	t.Helper()
	p := &faultProxy{start: time.Now()}
	p.url = motoProxy(t, moto, func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		p.mu.Lock()
		n, since := len(p.times), time.Since(p.start)
		p.times = append(p.times, since)
		p.mu.Unlock()
		switch f := decide(n, since); f {
		case hang:
			// A black hole: nothing comes back until the client gives up
			// (bounded, so that the server always shuts down).
			tm := time.NewTimer(30 * time.Second)
			defer tm.Stop()
			select {
			case <-r.Context().Done():
			case <-tm.C:
			}
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		case unavailable, throttled:
			writeFault(w, f)
		case slow:
			tm := time.NewTimer(1400 * time.Millisecond)
			defer tm.Stop()
			select {
			case <-r.Context().Done():
				return true
			case <-tm.C:
			}
			return false
		default:
			return false
		}
		return true
	})
	return p
}

// writeFault answers a request as EC2 does when degraded: 503
// Unavailable, or 400 ThrottlingException.
func writeFault(w http.ResponseWriter, f apiFault) {
	w.Header().Set("Content-Type", "text/xml")
	if f == throttled {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>ThrottlingException</Code><Message>Rate exceeded</Message></Error></Errors><RequestID>t-throttle</RequestID></Response>`)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>Unavailable</Code><Message>Service Unavailable</Message></Error></Errors><RequestID>t-503</RequestID></Response>`)
}

// motoProxy serves on 127.0.0.1 in front of moto_server and returns its
// URL: handle sees each request with its body and answers it (true), or
// the request is forwarded to moto (false).
func motoProxy(t *testing.T, moto string, handle func(w http.ResponseWriter, r *http.Request, body []byte) bool) string {
	t.Helper()
	target, err := url.Parse(moto)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if handle(w, r, body) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hangFirstSetup starts moto with one instance of node n1 behind a proxy
// that holds the first request until the client gives up and forwards
// the others.
func hangFirstSetup(t *testing.T) (*motoserver.Server, []string, *faultProxy) {
	t.Helper()
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1")
	p := newFaultProxy(t, m.Endpoint, func(n int, _ time.Duration) apiFault {
		if n == 0 {
			return hang
		}
		return passThrough
	})
	return m, ids, p
}

// arrivals returns when each request arrived, since the proxy started.
func (p *faultProxy) arrivals() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.times...)
}

// configVia is the production aws.Config (LoadConfig's defaults, as
// Provider builds it) whose calls go to endpoint (a proxy in front of
// moto).
func configVia(t *testing.T, endpoint string) *aws.Config {
	t.Helper()
	motoserver.Env(t)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// fencerVia is a Fencer of the production configuration (LoadConfig's
// defaults) whose calls go through the proxy, with a whole-call deadline
// of callTimeout.
func fencerVia(t *testing.T, endpoint string, callTimeout time.Duration) *awsres.Fencer {
	t.Helper()
	f := awsres.NewFencer(*configVia(t, endpoint))
	f.CallTimeout = callTimeout
	return f
}

// TestFenceAbandonsHungAttempt: the first request of the fence goes into
// a black hole (the connection takes it and never answers). The attempt
// is abandoned after its own deadline and retried on a fresh connection,
// so the fence succeeds well before the call's 10 s deadline instead of
// failing at it.
func TestFenceAbandonsHungAttempt(t *testing.T) {
	m, ids, p := hangFirstSetup(t)
	f := fencerVia(t, p.url, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("fence with one hung attempt failed after %s: %v", took.Round(time.Millisecond), err)
	}
	if took > 3*time.Second {
		t.Fatalf("fence took %s: the hung attempt was waited out (call deadline 10s)", took.Round(time.Millisecond))
	}
	if st := m.State(t, ids[0]); st != "stopped" {
		t.Fatalf("after the fence the instance is %s", st)
	}
	t.Logf("fence with a hung first attempt took %s (%d requests)", took.Round(time.Millisecond), len(p.arrivals()))
}

// TestFenceRetriesPromptlyWhenAPIRecovers: EC2 answers every request with
// 503 (or ThrottlingException) for 3 s, then serves again. The fence's
// retries never sleep long, so it finishes soon after the API is back,
// not a long backoff later.
func TestFenceRetriesPromptlyWhenAPIRecovers(t *testing.T) {
	m := motoserver.Start(t)
	for _, tc := range []struct {
		name  string
		fault apiFault
	}{{"503", unavailable}, {"throttle", throttled}} {
		t.Run(tc.name, func(t *testing.T) {
			ids := m.RunNodeInstances(t, "n1")
			const window = 3 * time.Second
			p := newFaultProxy(t, m.Endpoint, func(_ int, since time.Duration) apiFault {
				if since < window {
					return tc.fault
				}
				return passThrough
			})
			f := fencerVia(t, p.url, 10*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"})
			arr := p.arrivals()
			if err != nil {
				t.Fatalf("fence failed (requests at %v): %v", arr, err)
			}
			var gap time.Duration
			for i := 1; i < len(arr); i++ {
				gap = max(gap, arr[i]-arr[i-1])
			}
			// The first request after the window is the one that gets
			// through: how long after the API came back was it sent?
			late := time.Duration(-1)
			for _, a := range arr {
				if a >= window {
					late = a - window
					break
				}
			}
			t.Logf("%d requests, longest gap %s, first request %s after the API came back", len(arr), gap.Round(time.Millisecond), late.Round(time.Millisecond))
			if gap > 1100*time.Millisecond || late > 1100*time.Millisecond {
				t.Fatalf("retries slept too long: longest gap between requests %s, first request %s after the API was back (requests at %v)", gap.Round(time.Millisecond), late.Round(time.Millisecond), arr)
			}
		})
	}
}

// TestFenceServedBySlowAPI: every answer takes 1.4 s, longer than the
// first attempt's deadline (1 s). The deadline doubles after an abandoned
// attempt, so a slow but alive API still serves the fence.
func TestFenceServedBySlowAPI(t *testing.T) {
	m := motoserver.Start(t)
	ids := m.RunNodeInstances(t, "n1")
	p := newFaultProxy(t, m.Endpoint, func(int, time.Duration) apiFault { return slow })
	f := fencerVia(t, p.url, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := f.Fence(ctx, awsres.Target{InstanceID: ids[0], NodeID: "n1"}); err != nil {
		t.Fatalf("fence against a slow API failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if st := m.State(t, ids[0]); st != "stopped" {
		t.Fatalf("after the fence the instance is %s", st)
	}
	t.Logf("fence against an API answering in 1.4s took %s (%d requests)", time.Since(start).Round(time.Millisecond), len(p.arrivals()))
}

// TestFenceErrorSaysWhetherEC2Answered: a fence that failed because EC2
// did not serve it (503 until the call's deadline) wraps
// cloud.ErrUnavailable, so the winner tries again soon; a fence EC2
// refused (an unknown instance) does not, and keeps the doubling backoff.
func TestFenceErrorSaysWhetherEC2Answered(t *testing.T) {
	m := motoserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	down := newFaultProxy(t, m.Endpoint, func(int, time.Duration) apiFault { return unavailable })
	_, err := fencerVia(t, down.url, 1500*time.Millisecond).Fence(ctx, awsres.Target{InstanceID: "i-0123456789abcdef0", NodeID: "n1"})
	if !errors.Is(err, awsres.ErrFenceFailed) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("fence while EC2 answers 503: %v; want ErrFenceFailed and cloud.ErrUnavailable", err)
	}
	up := newFaultProxy(t, m.Endpoint, func(int, time.Duration) apiFault { return passThrough })
	_, err = fencerVia(t, up.url, 10*time.Second).Fence(ctx, awsres.Target{InstanceID: "i-0000000000000dead", NodeID: "n1"})
	if !errors.Is(err, awsres.ErrFenceFailed) || errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("fence of an unknown instance: %v; want ErrFenceFailed without cloud.ErrUnavailable", err)
	}
}

// TestAttemptTimeoutSetting: with Settings.AttemptTimeout every client of
// the configuration abandons a hung attempt and retries it, well before
// the call's deadline.
func TestAttemptTimeoutSetting(t *testing.T) {
	_, ids, p := hangFirstSetup(t)
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: p.url, AttemptTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatalf("DescribeInstances with a hung first attempt: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("DescribeInstances took %s: the hung attempt was waited out", took.Round(time.Millisecond))
	}
}
