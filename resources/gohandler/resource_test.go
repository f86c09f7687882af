package gohandler

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/resources"
)

// fakeHost is a resources.HandlerHost with a lease the test switches.
type fakeHost struct {
	ctx  context.Context
	fns  map[string]resources.HandlerFunc
	mu   sync.Mutex
	ok   bool
	lost chan struct{} // closed to make the lease invalid
}

func (h *fakeHost) Handler(name string) (resources.HandlerFunc, []string) {
	if fn, ok := h.fns[name]; ok {
		return fn, nil
	}
	var names []string
	for n := range h.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, names
}

func (h *fakeHost) LeaseValid(string, uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok
}

func (h *fakeHost) WatchLease(ctx context.Context, cancel context.CancelCauseFunc, _ string, _ uint64) bool {
	select {
	case <-ctx.Done():
		return false
	case <-h.lost:
		h.mu.Lock()
		h.ok = false
		h.mu.Unlock()
		cancel(ErrLeaseLost)
		return true
	}
}

func (h *fakeHost) Context() context.Context { return h.ctx }

func buildWith(t *testing.T, env resources.Env, params *Params) (resources.Resource, error) {
	t.Helper()
	return Type.Build(params, env)
}

// TestTypeBuildsThroughEnv: the `go` type is built like any other type,
// from its parameters and resources.Env: Env.Handlers gives it the
// server's callbacks and lease. Without them it refuses to build; a
// handler the host does not have is named with the ones it has.
func TestTypeBuildsThroughEnv(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entered := make(chan context.Context, 4)
	host := &fakeHost{ctx: ctx, ok: true, lost: make(chan struct{}), fns: map[string]resources.HandlerFunc{
		"writer": func(ctx context.Context, tok resources.Token) error {
			entered <- ctx
			<-ctx.Done()
			return nil
		},
		"other": func(context.Context, resources.Token) error { return nil },
	}}
	if _, err := buildWith(t, resources.Env{}, &Params{Handler: "writer"}); !errors.Is(err, errNoEmbeddedServer) {
		t.Fatalf("build without a host: %v, want errNoEmbeddedServer", err)
	}
	_, err := buildWith(t, resources.Env{Handlers: host}, &Params{Handler: "zzz"})
	if err == nil || err.Error() != `no handler named "zzz" registered; registered: other, writer` {
		t.Fatalf("missing handler: %v", err)
	}
	r, err := buildWith(t, resources.Env{Handlers: host}, &Params{Handler: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	tok := resources.Token{Group: "g", Node: "n1", Epoch: 3, Resource: "w"}
	if err := r.Start(ctx, tok); err != nil {
		t.Fatal(err)
	}
	run := <-entered
	if err := r.Check(ctx, tok); err != nil {
		t.Fatalf("check while running: %v", err)
	}
	// The host's lease watch cancels the callback with ErrLeaseLost.
	close(host.lost)
	select {
	case <-run.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("lease loss did not cancel the callback")
	}
	if !errors.Is(context.Cause(run), ErrLeaseLost) {
		t.Fatalf("cause %v, want ErrLeaseLost", context.Cause(run))
	}
	if err := r.Stop(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// No start without the host's lease.
	if err := r.Start(ctx, tok); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("start without a lease: %v", err)
	}
	// Kill (a simulated crash) cancels with its own cause.
	host.mu.Lock()
	host.ok, host.lost = true, make(chan struct{})
	host.mu.Unlock()
	if err := r.Start(ctx, tok); err != nil {
		t.Fatal(err)
	}
	run = <-entered
	r.(resources.Killer).Kill()
	<-run.Done()
	if !errors.Is(context.Cause(run), errMemberKilled) {
		t.Fatalf("kill cause %v", context.Cause(run))
	}
	if err := r.Stop(ctx, tok); err != nil {
		t.Fatal(err)
	}
}
