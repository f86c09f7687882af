package gohandler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// The resource a `go` resource is: it runs the server's callback under the
// server's lease (both from resources.Env.Handlers), in the style of
// etcd's concurrency.Election or client-go's leader election, but with
// raftha's guarantees (leader-confirmed start, the epoch as fencing token,
// cancellation the moment the lease is in doubt).

var (
	// ErrLeaseLost is the context cause a callback sees when this node's
	// lease for the group expired or the leader no longer confirms the
	// ownership: another node may own the group soon (server.ErrLeaseLost).
	ErrLeaseLost = errors.New("lease lost: this node can no longer prove it owns the group")
	// ErrHandlerStopped is the context cause a callback sees when its
	// resource is stopped: planned move, shutdown, restart, failover
	// (server.ErrHandlerStopped).
	ErrHandlerStopped = errors.New("resource stopped")

	errMemberKilled    = errors.New("member killed")
	errHandlerReturned = errors.New("handler returned")
)

// build builds the `go` resource of p from the server's callbacks and
// lease in env.Handlers.
func build(p *Params, env resources.Env) (resources.Resource, error) {
	if env.Handlers == nil {
		return nil, errNoEmbeddedServer
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	fn, names := env.Handlers.Handler(p.Handler)
	if fn == nil {
		have := strings.Join(names, ", ")
		if have == "" {
			have = "none (set server.Options.Handlers or call Server.Handle before Start)"
		}
		return nil, fmt.Errorf("no handler named %q registered; registered: %s", p.Handler, have)
	}
	log := env.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &handlerResource{host: env.Handlers, handler: p.Handler, fn: fn, stopTimeout: p.EffectiveStopTimeout(), log: log}, nil
}

// handlerResource runs an OwnerFunc (a resources.HandlerFunc of the
// server in Env.Handlers) as a resource.
type handlerResource struct {
	host        resources.HandlerHost
	handler     string
	fn          resources.HandlerFunc
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
	err     error         // what fn returned; read only after done, or once run.ctx's cause is errHandlerReturned (call sets err before that cancel)
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
	if !r.host.LeaseValid(tok.Group, tok.Epoch) {
		return fmt.Errorf("%w: not starting handler %s for group %s at epoch %d", ErrLeaseLost, r.handler, tok.Group, tok.Epoch)
	}
	rctx, cancel := context.WithCancelCause(r.host.Context())
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
// group at the run's epoch is no longer valid (HandlerHost.WatchLease).
func (r *handlerResource) watch(run *handlerRun) {
	if r.host.WatchLease(run.ctx, run.cancel, run.tok.Group, run.tok.Epoch) {
		r.log.Warn("lease for the group is no longer valid: handler context cancelled", "handler", r.handler, "epoch", run.tok.Epoch)
	}
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
	if !r.host.LeaseValid(run.tok.Group, run.tok.Epoch) {
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
	case run.returned() || errors.Is(context.Cause(run.ctx), errHandlerReturned):
		// Returned: done is closed, or call has recorded how it ended
		// (run.err is set before the cancel with errHandlerReturned) and
		// is about to close it.
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
