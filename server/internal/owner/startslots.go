package owner

import (
	"context"
	"sync"

	"github.com/raftha/raftha/fsm"
)

// MaxConcurrentStarts bounds the groups a node begins to start at once.
// A start is a leader confirmation per resource, a run record written
// and synced, the resources' own starts and a report: when the leader
// placed hundreds of groups on a node at once, their starts together
// (confirmations fanned out over relays, fsyncs, forks, reports) starved
// the node and the leader of CPU until the leader lost its leadership.
// Past the bound a start waits for a slot: nothing of its group runs yet,
// and it confirms ownership and checks its lease once it has one, as
// every start does.
const MaxConcurrentStarts = 16

// startSlot waits for a start slot, or for ctx (the runner stopping). It
// returns the function that gives the slot back (once, however often it
// is called) and whether it got one.
func (r *Runner) startSlot(ctx context.Context) (release func(), ok bool) {
	select {
	case r.starts <- struct{}{}:
		return sync.OnceFunc(func() { <-r.starts }), true
	case <-ctx.Done():
		return nil, false
	}
}

// stillToStart says whether the log still asks this node to start the
// group at epoch. A start that waited for a slot looks again once it has
// one: what it waited with may be stale by then (a stop or a move begun
// keeps the owner and epoch, so the confirmation before each resource
// does not tell), and the worker's next pass acts on the log of now.
func (w *worker) stillToStart(epoch uint64) bool {
	g, ok := w.r.s.fsm.Shared().Groups[w.name]
	if !ok {
		return false
	}
	gs := g.Status
	return gs.Owner == w.r.s.cfg.NodeID && gs.Epoch == epoch && (gs.State == fsm.StateStarting || gs.State == fsm.StateOnline)
}

// TakeStartSlot takes a start slot as a start of a group would, without
// starting anything, and returns what gives it back (tests hold every
// slot this way).
func (r *Runner) TakeStartSlot() (release func()) {
	release, _ = r.startSlot(context.Background())
	return release
}
