package owner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
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
//
// A start whose resource's Start outlives its context (the lease for the
// group lost, the runner stopping, or the resource's own start deadline,
// resources.StartTimeouter, plus a heartbeat) gives its slot back while
// the call still runs (watchSlot): the group stays starting, its
// resource counts as started, and other groups still start on the node
// (TestHungStartsGiveTheirStartSlotsBack).
const MaxConcurrentStarts = 16

// errStartOverdue is why a start slot is given back when a resource's
// Start runs past its own start deadline.
var errStartOverdue = errors.New("start ran past its start deadline")

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

// undeclaredStartTimeout is the start deadline watchSlot assumes for a
// resource type that declares none (resources.StartTimeouter): long
// enough for any start that is only slow (an EBS attach, a unit with
// systemd's own 90 s), short enough that a node whose starts hang for
// good still starts other groups. A variable so that tests can shorten
// it.
var undeclaredStartTimeout = 2 * time.Minute

// watchSlot watches b's Start, which runs under ctx, while the start
// holds slot (nil: it holds none). If the call has not returned a
// heartbeat after ctx ended (a Start that keeps its context returns by
// then), or well past the resource's own start deadline (a tenth of it,
// at least a heartbeat; undeclaredStartTimeout for a type that declares
// none), the slot is given back and a line says so: the group stays as it
// is (the resource counts as started; the guard still watches it) but no
// longer keeps other groups from starting here. The worker calls the
// returned function once Start returned; it ends the watch and says
// whether the slot was given back meanwhile (the rest of the start then
// runs without one: release is a no-op from then on, so the worker never
// touches the slot again).
func (w *worker) watchSlot(ctx context.Context, epoch uint64, b built, slot func()) (returned func() (givenBack bool)) {
	if slot == nil {
		return func() bool { return false }
	}
	hb := w.r.s.cfg.Timing.Heartbeat.D()
	d := undeclaredStartTimeout
	if st, ok := b.r.(resources.StartTimeouter); ok && st.StartTimeout() > 0 {
		d = st.StartTimeout()
	}
	overdue := time.NewTimer(d + max(hb, d/10))
	done, ended := make(chan struct{}), make(chan struct{})
	var givenBack bool
	go func() {
		defer close(ended)
		defer overdue.Stop()
		why := fmt.Errorf("%w %s", errStartOverdue, d)
		select {
		case <-done:
			return
		case <-overdue.C:
		case <-ctx.Done():
			why = context.Cause(ctx)
			grace := time.NewTimer(hb) // a Start that keeps its context returns now
			defer grace.Stop()
			select {
			case <-done:
				return
			case <-grace.C:
			}
		}
		slot()
		givenBack = true
		w.r.s.logLimit.Log(w.log, hclog.Warn, "slot-given-back/"+w.name,
			"start slot given back: a resource's Start has not returned; the group stays starting here (the resource counts as started) while other groups start",
			"resource", b.name, "epoch", epoch, "why", why)
	}()
	return func() bool {
		close(done)
		<-ended
		return givenBack
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
