package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
)

// The `go` resource on its own (moved from embed_test.go, which holds the
// cluster tests of embedding).

// unitHandler builds a handler resource on a server that has only a lease
// (no Raft, no runner), for the resource's own behaviour.
func unitHandler(t *testing.T, fn OwnerFunc, stopTimeout string) (*Server, handlerRes) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &Server{cfg: config.Config{Timing: testTiming()}, logger: hclog.NewNullLogger(), ctx: ctx}
	s.lease = newLease(s)
	s.Handle("h", fn)
	params := `{"handler":"h"}`
	if stopTimeout != "" {
		params = `{"handler":"h","stop_timeout":"` + stopTimeout + `"}`
	}
	res, err := buildGo(s, params)
	if err != nil {
		t.Fatal(err)
	}
	return s, res.(handlerRes)
}

// handlerRes is what a `go` resource is: a Resource and a Killer.
type handlerRes interface {
	resources.Resource
	resources.Killer
}

// buildGo builds a `go` resource with params the way the runner does:
// through the registry's type, with the server's handlerHost in the Env.
func buildGo(s *Server, params string) (resources.Resource, error) {
	p := gohandler.Type.NewParams()
	if err := json.Unmarshal([]byte(params), p); err != nil {
		return nil, err
	}
	return gohandler.Type.Build(p, resources.Env{Logger: hclog.NewNullLogger(), Handlers: handlerHost{s}})
}

// TestHandlerResourceLifecycle covers the resource alone: no start without
// a lease, idempotent start, stop waits for the return, a stop that
// overruns fails, a return or panic fails the check, Kill cancels.
func TestHandlerResourceLifecycle(t *testing.T) {
	tok := resources.Token{Group: "g", Node: "n1", Epoch: 7, Resource: "w"}
	calls := make(chan context.Context, 10)
	release := make(chan struct{})
	var mode atomic.Value // "block", "ignore", "return", "panic"
	mode.Store("block")
	fn := func(ctx context.Context, _ resources.Token) error {
		calls <- ctx
		switch mode.Load() {
		case "ignore":
			<-release
			return nil
		case "return":
			return errors.New("boom")
		case "panic":
			panic("kaboom")
		}
		<-ctx.Done()
		return ctx.Err()
	}
	s, r := unitHandler(t, fn, "150ms")
	bg := context.Background()

	if err := r.Start(bg, tok); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("start without a lease: %v", err)
	}
	if err := r.Check(bg, tok); err == nil {
		t.Fatal("check of a handler never started passed")
	}
	s.lease.confirmed(time.Now().Add(time.Hour), "g", 7)
	if err := r.Start(bg, tok); err != nil {
		t.Fatal(err)
	}
	ctx := <-calls
	if err := r.Start(bg, tok); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := r.Check(bg, tok); err != nil {
		t.Fatalf("check while running: %v", err)
	}
	if err := r.Stop(bg, tok); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(ctx), ErrHandlerStopped) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	if len(calls) != 0 {
		t.Fatal("idempotent start called the handler again")
	}
	if err := r.Stop(bg, tok); err != nil {
		t.Fatalf("stop of a stopped handler: %v", err)
	}

	// A handler that ignores its context: Stop fails after stop_timeout.
	mode.Store("ignore")
	if err := r.Start(bg, tok); err != nil {
		t.Fatal(err)
	}
	<-calls
	t0 := time.Now()
	err := r.Stop(bg, tok)
	if err == nil || !strings.Contains(err.Error(), "did not return within stop_timeout 150ms") {
		t.Fatalf("overrunning stop: %v", err)
	}
	if took := time.Since(t0); took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("stop gave up after %s", took)
	}
	if err := r.Start(bg, tok); err == nil {
		t.Fatal("started again while the previous call still runs")
	}
	close(release)
	if err := r.Stop(bg, tok); err != nil {
		t.Fatalf("stop once returned: %v", err)
	}

	// Returning or panicking while it should run fails the check; the
	// next start calls it again.
	for _, m := range []string{"return", "panic"} {
		mode.Store(m)
		if err := r.Start(bg, tok); err != nil {
			t.Fatal(err)
		}
		<-calls
		waitFor(t, 2*time.Second, "check failing after "+m, func() bool { return r.Check(bg, tok) != nil })
		want := map[string]string{"return": "returned: boom", "panic": "panicked: kaboom"}[m]
		if err := r.Check(bg, tok); !strings.Contains(err.Error(), want) {
			t.Fatalf("check after %s: %v", m, err)
		}
	}
	mode.Store("block")
	if err := r.Start(bg, tok); err != nil {
		t.Fatalf("restart after a return: %v", err)
	}
	ctx = <-calls
	r.Kill()
	<-ctx.Done()
	// (gohandler's own test checks the cause is "member killed".)
	if c := context.Cause(ctx); errors.Is(c, ErrHandlerStopped) || errors.Is(c, ErrLeaseLost) {
		t.Fatalf("kill cause %v", c)
	}
	_ = r.Stop(bg, tok)
}

// TestHandlerLeaseWatch: the context is cancelled at the lease's expiry,
// and at once when a renewal no longer lists the group.
func TestHandlerLeaseWatch(t *testing.T) {
	tok := resources.Token{Group: "g", Node: "n1", Epoch: 7, Resource: "w"}
	calls := make(chan context.Context, 1)
	s, r := unitHandler(t, func(ctx context.Context, _ resources.Token) error {
		calls <- ctx
		<-ctx.Done()
		return ctx.Err()
	}, "")
	bg := context.Background()
	hb := s.cfg.Timing.Heartbeat.D()

	// Expiry: confirmed now, never renewed.
	sent := time.Now()
	s.lease.confirmed(sent, "g", 7)
	until, _ := s.lease.expiry("g", 7)
	if err := r.Start(bg, tok); err != nil {
		t.Fatal(err)
	}
	ctx := <-calls
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled at lease expiry")
	}
	late := time.Since(until)
	if !errors.Is(context.Cause(ctx), ErrLeaseLost) || late > hb/4+50*time.Millisecond {
		t.Fatalf("cancelled %s after expiry with %v", late, context.Cause(ctx))
	}
	t.Logf("cancelled %s after the lease expired", late)
	if err := r.Check(bg, tok); err == nil {
		t.Fatal("check passes after the lease was lost")
	}
	if err := r.Stop(bg, tok); err != nil {
		t.Fatal(err)
	}

	// A renewal from a leader that no longer lists the group.
	s.lease.renew(time.Now(), map[string]uint64{"g": 7}, "n0")
	if err := r.Start(bg, tok); err != nil {
		t.Fatal(err)
	}
	ctx = <-calls
	time.Sleep(hb)
	if ctx.Err() != nil {
		t.Fatalf("cancelled with a valid lease: %v", context.Cause(ctx))
	}
	renewedAt := time.Now()
	s.lease.renew(time.Now(), map[string]uint64{"other": 3}, "n0")
	<-ctx.Done()
	if d := time.Since(renewedAt); d > hb/4+50*time.Millisecond || !errors.Is(context.Cause(ctx), ErrLeaseLost) {
		t.Fatalf("cancelled %s after the renewal dropped the group, cause %v", d, context.Cause(ctx))
	}
	_ = r.Stop(bg, tok)
}
