package resources

import "context"

// HandlerFunc is the Go callback a resource of type `go` runs while its
// node owns the group (server.OwnerFunc has the same signature).
type HandlerFunc func(ctx context.Context, tok Token) error

// HandlerHost is what an embedding server gives the `go` resource type
// (package gohandler) in Env.Handlers: its registered callbacks and its
// lease. The server fills it for every Build.
type HandlerHost interface {
	// Handler returns the callback registered under name, or nil and
	// the registered names, sorted.
	Handler(name string) (HandlerFunc, []string)
	// LeaseValid reports whether this member's lease covers group at
	// epoch right now.
	LeaseValid(group string, epoch uint64) bool
	// WatchLease calls cancel with the lease-lost cause as soon as this
	// member's lease for group at epoch is no longer valid, and then
	// returns true; it returns false when ctx ends first.
	WatchLease(ctx context.Context, cancel context.CancelCauseFunc, group string, epoch uint64) bool
	// Context is the server's lifetime: the callbacks' contexts derive
	// from it.
	Context() context.Context
}
