package aws

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSharedReadOutlivesTheCallerThatStartedIt (from an adversarial
// review): a shared read started by one group's check must not end with
// that check's context (its monitor timeout or its lease): another group
// waiting on it, with a context of its own that is fine, got the first
// group's "context deadline exceeded" as its own check failure.
func TestSharedReadOutlivesTheCallerThatStartedIt(t *testing.T) {
	s := &sharedReads{ttl: SharedReadTTL, entries: map[string]*sharedRead{}}
	slowEC2 := func(ctx context.Context) (any, error) {
		select {
		case <-time.After(500 * time.Millisecond): // a slow DescribeRouteTables
			return "tables", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	actx, acancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer acancel()
	aerr := make(chan error, 1)
	go func() { _, err := s.get(actx, "k", slowEC2); aerr <- err }()
	time.Sleep(20 * time.Millisecond) // A's read is in flight
	bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer bcancel()
	if v, err := s.get(bctx, "k", slowEC2); err != nil || v != "tables" {
		t.Fatalf("group B's check: %v, %v; want the shared read's result (B's own context: %v)", v, err, bctx.Err())
	}
	if err := <-aerr; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("group A's check: %v; want its own deadline", err)
	}
}
