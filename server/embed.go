package server

// Embedding raftha in a Go service: OwnerFunc callbacks run by resources of
// type `go`, in the style of etcd's concurrency.Election or client-go's
// leader election, but with raftha's guarantees (leader-confirmed start,
// the epoch as fencing token, cancellation the moment the lease is in
// doubt).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

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
	// ownership: another node may own the group soon. It is
	// gohandler.ErrLeaseLost.
	ErrLeaseLost = gohandler.ErrLeaseLost
	// ErrHandlerStopped is the context cause an OwnerFunc sees when its
	// resource is stopped (planned move, shutdown, restart, failover). It
	// is gohandler.ErrHandlerStopped.
	ErrHandlerStopped = gohandler.ErrHandlerStopped
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

// handlerHost is the resources.HandlerHost the server puts in every
// resources.Env: its OwnerFuncs and its lease, for the `go` type.
type handlerHost struct{ s *Server }

// Handler implements resources.HandlerHost.
func (h handlerHost) Handler(name string) (resources.HandlerFunc, []string) {
	fn, names := h.s.handlers().lookup(name)
	if fn == nil {
		return nil, names
	}
	return resources.HandlerFunc(fn), nil
}

// LeaseValid implements resources.HandlerHost.
func (h handlerHost) LeaseValid(group string, epoch uint64) bool { return h.s.LeaseValid(group, epoch) }

// WatchLease implements resources.HandlerHost (see lease.watch).
func (h handlerHost) WatchLease(ctx context.Context, cancel context.CancelCauseFunc, group string, epoch uint64) bool {
	return h.s.lease.watch(ctx, cancel, group, epoch)
}

// Context implements resources.HandlerHost: the server's lifetime.
func (h handlerHost) Context() context.Context { return h.s.ctx }

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

// expiry returns when this member's lease for group at epoch runs out, or
// false when the lease does not cover that group at that epoch.
func (l *lease) expiry(group string, epoch uint64) (time.Time, bool) {
	return l.t.Expiry(group, epoch)
}
