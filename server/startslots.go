package server

import (
	"context"
	"sync"
)

// maxConcurrentStarts bounds the groups a node begins to start at once.
// A start is a leader confirmation per resource, a run record written
// and synced, the resources' own starts and a report: when the leader
// placed hundreds of groups on a node at once, their starts together
// (confirmations fanned out over relays, fsyncs, forks, reports) starved
// the node and the leader of CPU until the leader lost its leadership.
// Past the bound a start waits for a slot: nothing of its group runs yet,
// and it confirms ownership and checks its lease once it has one, as
// every start does.
const maxConcurrentStarts = 16

// startSlot waits for a start slot, or for ctx (the runner stopping). It
// returns the function that gives the slot back (once, however often it
// is called) and whether it got one.
func (r *runner) startSlot(ctx context.Context) (release func(), ok bool) {
	select {
	case r.starts <- struct{}{}:
		return sync.OnceFunc(func() { <-r.starts }), true
	case <-ctx.Done():
		return nil, false
	}
}
