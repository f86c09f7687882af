package server

// Embedding raftha in a Go service: OwnerFunc callbacks run by resources of
// type `go`, in the style of etcd's concurrency.Election or client-go's
// leader election, but with raftha's guarantees (leader-confirmed start,
// the epoch as fencing token, cancellation the moment the lease is in
// doubt).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
)

// OwnerFunc is the work a Go service does while its node owns a group: it
// is what a resource of type `go` runs. raftha calls it in its own
// goroutine when the resource starts on this node, after the leader has
// confirmed that the node owns the group at tok.Epoch (as before every
// resource start), and cancels ctx
//
//   - when the resource is stopped: a planned move, Shutdown, a restart by
//     the monitor, the group being stopped or deleted, or a failover
//     (context.Cause(ctx) is ErrHandlerStopped), and
//   - the moment this node's lease for the group at tok.Epoch is no longer
//     valid, without waiting for the runner's self-fence
//     (context.Cause(ctx) is ErrLeaseLost).
//
// fn must stop acting for the group as soon as ctx is done and then
// return; the resource's Stop waits for it up to the resource's
// stop_timeout (default 30s) and otherwise fails, which makes the group
// "failed" with its stop failed (and, during a self-fence, triggers
// fencing.self_fence_action: with `exit` the process ends, which is the
// only way to stop a goroutine that ignores its context).
//
// tok.Epoch is the fencing token: attach it to every write so that the
// storage can refuse a writer whose epoch is older than one it has seen.
// Cancellation is prompt but not instantaneous; the token is what makes
// a late write from a deposed owner harmless.
//
// If fn returns while the group should be running (with an error or nil,
// or by panicking), the resource's Check reports it, so the group's
// monitor restarts it on this node or fails the group over
// (monitor.interval says how soon that is noticed).
type OwnerFunc func(ctx context.Context, tok resources.Token) error

var (
	// ErrLeaseLost is the context cause an OwnerFunc sees when this node's
	// lease for the group expired or the leader no longer confirms the
	// ownership: another node may own the group soon.
	ErrLeaseLost = errors.New("lease lost: this node can no longer prove it owns the group")
	// ErrHandlerStopped is the context cause an OwnerFunc sees when its
	// resource is stopped (planned move, shutdown, restart, failover).
	ErrHandlerStopped = errors.New("resource stopped")

	errMemberKilled    = errors.New("member killed")
	errHandlerReturned = errors.New("handler returned")
)

// ensureHandlerType registers gohandler.Type in reg unless it is there. A
// different type registered under the reserved name is an error.
func ensureHandlerType(reg *resources.Registry) error {
	if t, err := reg.Lookup(gohandler.TypeName); err == nil {
		if _, ok := t.NewParams().(*gohandler.Params); !ok {
			return fmt.Errorf("resource type name %q is reserved for gohandler.Type (Go callbacks); register your type under another name", gohandler.TypeName)
		}
		return nil
	}
	if err := reg.Register(gohandler.Type); err != nil {
		// Registered concurrently by another New: fine if it is ours.
		if t, lerr := reg.Lookup(gohandler.TypeName); lerr == nil {
			if _, ok := t.NewParams().(*gohandler.Params); ok {
				return nil
			}
		}
		return err
	}
	return nil
}

// handlerSet is a server's registered OwnerFuncs.
type handlerSet struct {
	mu  sync.RWMutex
	fns map[string]OwnerFunc
}

// attachHandlers records the handlers of a new Server (called by New).
func attachHandlers(s *Server, fns map[string]OwnerFunc) error {
	hs := &handlerSet{fns: make(map[string]OwnerFunc, len(fns))}
	for name, fn := range fns {
		if err := checkHandler(name, fn); err != nil {
			return fmt.Errorf("Options.Handlers: %w", err)
		}
		hs.fns[name] = fn
	}
	s.handlerSet = hs
	return nil
}

func checkHandler(name string, fn OwnerFunc) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("handler name is empty")
	case fn == nil:
		return fmt.Errorf("handler %q is nil", name)
	}
	return nil
}

// handlers returns s's handler set (empty for a Server not made by New).
func (s *Server) handlers() *handlerSet {
	s.handlerOnce.Do(func() {
		if s.handlerSet == nil {
			s.handlerSet = &handlerSet{fns: map[string]OwnerFunc{}}
		}
	})
	return s.handlerSet
}

// Handle registers fn as the OwnerFunc that resources with
// `handler: name` run on this node. Register every handler before Start:
// a group placed here before its handler exists fails to start ("no
// handler named ..."). Like http.ServeMux.Handle, Handle panics when name
// is empty, fn is nil or name is already registered (Options.Handlers
// included).
func (s *Server) Handle(name string, fn OwnerFunc) {
	if err := checkHandler(name, fn); err != nil {
		panic("raftha: Handle: " + err.Error())
	}
	hs := s.handlers()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if _, dup := hs.fns[name]; dup {
		panic(fmt.Sprintf("raftha: Handle: handler %q is already registered", name))
	}
	hs.fns[name] = fn
}

// lookup returns the handler called name, or the sorted registered names.
func (hs *handlerSet) lookup(name string) (OwnerFunc, []string) {
	hs.mu.RLock()
	defer hs.mu.RUnlock()
	if fn, ok := hs.fns[name]; ok {
		return fn, nil
	}
	names := make([]string, 0, len(hs.fns))
	for n := range hs.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, names
}

// Registry returns the resource types this server validates group files
// against and builds resources from: Options.Registry, or DefaultRegistry,
// plus the `go` type. Register custom types on it before Start (or pass
// your own registry in Options.Registry).
func (s *Server) Registry() *resources.Registry { return s.registry }

// LeaseValid reports whether this member's lease covers group at epoch
// right now: the check an OwnerFunc's context reflects, without the
// scheduling delay of a cancellation. An embedding service may call it
// just before a write (with its token's Group and Epoch) to narrow the
// window in which a stalled, deposed owner could still act; the fencing
// token closes that window.
func (s *Server) LeaseValid(group string, epoch uint64) bool {
	return s.lease != nil && s.lease.valid(group, epoch)
}

// buildHandler builds a `go` resource: the runner's special case, since
// gohandler.Type.Build has no access to the server.
func (s *Server) buildHandler(rs fsm.ResourceSpec, log hclog.Logger) (resources.Resource, error) {
	p := &gohandler.Params{}
	if len(rs.Params) > 0 {
		if err := json.Unmarshal(rs.Params, p); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	fn, names := s.handlers().lookup(p.Handler)
	if fn == nil {
		have := strings.Join(names, ", ")
		if have == "" {
			have = "none (set server.Options.Handlers or call Server.Handle before Start)"
		}
		return nil, fmt.Errorf("no handler named %q registered; registered: %s", p.Handler, have)
	}
	return &handlerResource{s: s, handler: p.Handler, fn: fn, stopTimeout: p.EffectiveStopTimeout(), log: log}, nil
}

// handlerResource runs an OwnerFunc as a resource.
type handlerResource struct {
	s           *Server
	handler     string
	fn          OwnerFunc
	stopTimeout time.Duration
	log         hclog.Logger

	mu  sync.Mutex
	run *handlerRun // the current call, nil when stopped
}

// handlerRun is one call of the OwnerFunc.
type handlerRun struct {
	tok    resources.Token
	ctx    context.Context
	cancel context.CancelCauseFunc
	// entered is closed just before fn is called: Start returns only
	// then, so that "online" (and a Transfer's return) means the new
	// owner's callback has been entered.
	entered chan struct{}
	done    chan struct{} // closed when fn has returned
	err     error         // what fn returned; read only after done
}

func (run *handlerRun) returned() bool {
	select {
	case <-run.done:
		return true
	default:
		return false
	}
}

// Start implements resources.Resource: it calls the OwnerFunc in a new
// goroutine and returns. Start on a running handler at the same token
// succeeds; a handler that returned by itself is called again.
func (r *handlerResource) Start(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if run := r.run; run != nil {
		switch {
		case run.returned():
			r.run = nil
		case run.tok == tok && run.ctx.Err() == nil:
			return nil
		default:
			return fmt.Errorf("handler %s is still running for epoch %d (cancelled: %v); it must return before it can start again", r.handler, run.tok.Epoch, context.Cause(run.ctx))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The start was leader-confirmed just now, which renewed the lease;
	// never call fn without one.
	if !r.s.lease.valid(tok.Group, tok.Epoch) {
		return fmt.Errorf("%w: not starting handler %s for group %s at epoch %d", ErrLeaseLost, r.handler, tok.Group, tok.Epoch)
	}
	rctx, cancel := context.WithCancelCause(r.s.ctx)
	run := &handlerRun{tok: tok, ctx: rctx, cancel: cancel, entered: make(chan struct{}), done: make(chan struct{})}
	r.run = run
	go r.watch(run)
	go r.call(run)
	select {
	case <-run.entered:
		return nil
	case <-ctx.Done(): // the runner stops a start cut short, which ends run
		return fmt.Errorf("handler %s: start cut short before the callback was entered: %w", r.handler, context.Cause(ctx))
	}
}

// call runs the OwnerFunc and records how it ended.
func (r *handlerResource) call(run *handlerRun) {
	defer close(run.done)
	defer func() {
		if p := recover(); p != nil {
			run.err = fmt.Errorf("handler %s panicked: %v", r.handler, p)
			r.log.Error("handler panicked", "handler", r.handler, "epoch", run.tok.Epoch, "panic", p, "stack", string(debug.Stack()))
		}
		if run.ctx.Err() == nil {
			r.log.Warn("handler returned while the group should be running here; its monitor will restart it or fail the group over",
				"handler", r.handler, "epoch", run.tok.Epoch, "error", run.err)
		}
		run.cancel(errHandlerReturned) // ends the lease watch
	}()
	r.log.Info("handler started", "handler", r.handler, "epoch", run.tok.Epoch)
	close(run.entered)
	run.err = r.fn(run.ctx, run.tok)
}

// watch cancels the run's context as soon as this node's lease for the
// group at the run's epoch is no longer valid (see lease.watch).
func (r *handlerResource) watch(run *handlerRun) {
	if r.s.lease.watch(run.ctx, run.cancel, run.tok.Group, run.tok.Epoch) {
		r.log.Warn("lease for the group is no longer valid: handler context cancelled", "handler", r.handler, "epoch", run.tok.Epoch)
	}
}

// expiry returns when this member's lease for group at epoch runs out, or
// false when the lease does not cover that group at that epoch.
func (l *lease) expiry(group string, epoch uint64) (time.Time, bool) {
	return l.t.Expiry(group, epoch)
}

// Stop implements resources.Resource: it cancels the OwnerFunc's context
// and waits for it to return, up to stop_timeout (and ctx). An overrun is
// an error: the runner then treats the stop as failed.
func (r *handlerResource) Stop(ctx context.Context, _ resources.Token) error {
	r.mu.Lock()
	run := r.run
	r.mu.Unlock()
	if run == nil {
		return nil
	}
	// A stop without a valid lease is the self-fence: say so, in case it
	// got here before the lease watch did (both wake at the expiry).
	cause := ErrHandlerStopped
	if !r.s.lease.valid(run.tok.Group, run.tok.Epoch) {
		cause = ErrLeaseLost
	}
	run.cancel(cause)
	timer := time.NewTimer(r.stopTimeout)
	defer timer.Stop()
	select {
	case <-run.done:
	case <-timer.C:
		return fmt.Errorf("handler %s did not return within stop_timeout %s after its context was cancelled (%v)", r.handler, r.stopTimeout, context.Cause(run.ctx))
	case <-ctx.Done():
		return fmt.Errorf("handler %s had not returned when the stop was cut short: %w", r.handler, context.Cause(ctx))
	}
	r.mu.Lock()
	if r.run == run {
		r.run = nil
	}
	r.mu.Unlock()
	if err := run.err; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.Cause(run.ctx)) {
		r.log.Warn("handler returned an error when stopped", "handler", r.handler, "epoch", run.tok.Epoch, "error", err)
	}
	r.log.Info("handler stopped", "handler", r.handler, "epoch", run.tok.Epoch, "cause", context.Cause(run.ctx))
	return nil
}

// Check implements resources.Resource: healthy while the OwnerFunc runs
// with a live context; an error once it returned or was cancelled.
func (r *handlerResource) Check(context.Context, resources.Token) error {
	r.mu.Lock()
	run := r.run
	r.mu.Unlock()
	switch {
	case run == nil:
		return fmt.Errorf("handler %s is not running", r.handler)
	case run.returned():
		if run.err != nil {
			return fmt.Errorf("handler %s returned: %w", r.handler, run.err)
		}
		return fmt.Errorf("handler %s returned while the group should be running here", r.handler)
	case run.ctx.Err() != nil:
		return fmt.Errorf("handler %s was cancelled (%v) and has not returned yet", r.handler, context.Cause(run.ctx))
	}
	return nil
}

// Kill implements resources.Killer (a simulated crash): it cancels the
// OwnerFunc's context without waiting for it.
func (r *handlerResource) Kill() {
	r.mu.Lock()
	run := r.run
	r.mu.Unlock()
	if run != nil {
		run.cancel(errMemberKilled)
	}
}
