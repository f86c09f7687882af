package integration

// The hypervisor both fixtures put between the agents and moto_server.

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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// awsFault is an injected AWS failure mode.
type awsFault string

const (
	fault503       awsFault = "503"       // Service Unavailable
	faultThrottle  awsFault = "throttle"  // 400 ThrottlingException
	faultBlackhole awsFault = "blackhole" // hold the request, then 503: an unreachable endpoint
	faultMixed     awsFault = "mixed"     // a random mix of the above and successes
)

// hypervisor is the agents' AWS endpoint, in front of moto: a stopped
// instance is a dead VM. Members are powered off (agent and everything of
// its host SIGKILLed) when:
//
//   - a StopInstances request for their instance reaches the front: the VM
//     dies before the request is forwarded to moto, so by the time EC2 can
//     report "stopping" or "stopped" nothing of it runs any more (a real
//     forced stop never reports stopped for a VM that still executes);
//   - the poller sees the instance stopped or terminated in moto
//     (DescribeInstances every 50ms), whatever stopped it.
//
// Polling alone would let a fenced member run for up to a poll interval
// after EC2 said stopped, long enough for the winner to start: a test
// artefact that a real hypervisor does not have. It can also inject AWS
// faults (503, throttling, a black hole) for a while.
type hypervisor struct {
	h   *harness
	ec2 *ec2.Client // moto's, for the poller
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

// startHypervisor serves the agents' EC2/Route 53 endpoint on host (a
// free port) in front of moto at target, and starts the power poller,
// which asks moto through client. seed drives the mixed fault mode. The
// caller stops it (stop) after the agents are dead or as they die.
func (h *harness) startHypervisor(host, target string, client *ec2.Client, seed int64) *hypervisor {
	t := h.t
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	hv := &hypervisor{h: h, ec2: client, rp: httputil.NewSingleHostReverseProxy(u), injected: map[string]int{}, rng: rand.New(rand.NewSource(seed))}
	hv.rp.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	hv.url = "http://" + ln.Addr().String()
	hv.srv = &http.Server{Handler: http.HandlerFunc(hv.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hv.srv.Serve(ln) }()
	h.hv = hv

	ctx, cancel := context.WithCancel(context.Background())
	hv.cancel, hv.done = cancel, make(chan struct{})
	go hv.poll(ctx)
	return hv
}

// stop ends the poller and closes the front.
func (hv *hypervisor) stop() {
	hv.cancel()
	select {
	case <-hv.done:
	case <-time.After(5 * time.Second):
		hv.h.t.Errorf("hypervisor poller did not stop")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = hv.srv.Shutdown(sctx)
	scancel()
	_ = hv.srv.Close()
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
			if m := hv.h.byInstance(id); m != nil && !hv.broken.Load() {
				hv.h.powerOff(m, "StopInstances "+id)
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
	for _, m := range hv.h.members {
		ids = append(ids, m.instance)
	}
	for i := 0; i < 20*1800; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		out, err := hv.ec2.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
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
					if m := hv.h.byInstance(*in.InstanceId); m != nil && !hv.broken.Load() {
						hv.h.powerOff(m, "DescribeInstances: "+st)
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
