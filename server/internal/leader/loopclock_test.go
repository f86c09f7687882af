package leader

import (
	"context"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// Found by review of 828109c: the leader's checks run on the heartbeat's
// wall-clock boundaries, which is when every member sends its heartbeat,
// so the leader records each contact a little after a boundary (network,
// leadership round) and looks at it exactly on one. When failover_timeout
// is a whole number of heartbeats (the "fast" profile, 100ms/800ms), the
// check at the boundary where a silent owner's silence would reach it
// always comes those few milliseconds too early, and the takeover waits
// for the next boundary: always the worst case, failover_timeout + one
// heartbeat, where `raftha timing explain` promises failover_timeout +
// half a heartbeat typically. The leader must look again when a contact
// reaches failover_timeout, not a heartbeat later.
func TestLoopTakesOverWhenSilenceReachesFailoverTimeout(t *testing.T) {
	const after = 3 * time.Millisecond // heartbeats arrive this long after each boundary
	r := newRig(t, group("db", nodes3, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, Epoch: 7}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.l.loop(ctx) }()
	defer func() { cancel(); <-done }()
	// The loop is ready (its own term) once it has armed its tick.
	deadline := time.Now().Add(5 * time.Second)
	for r.l.Ready() == r.term || r.l.Ready() == nil || r.clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the leader loop never became ready")
		}
		time.Sleep(time.Millisecond)
	}
	commits := func() int { return len(r.host.committed(0)) }
	settle := func() { time.Sleep(200 * time.Microsecond) }
	var lastN1 time.Time
	var at time.Time
	// t0 is on a boundary. n1 heartbeats for 1s then stops; n2 and n3 go on.
	for step := 1; step <= 4000 && at.IsZero(); step++ {
		r.clk.Advance(time.Millisecond)
		settle()
		now := r.clk.Now()
		if now.Sub(t0)%timing.Heartbeat == after {
			live := []string{"n2", "n3"}
			if now.Sub(t0) < time.Second {
				live = append(live, "n1")
				lastN1 = now
			}
			r.beat(live...)
			settle()
		}
		if commits() > 0 {
			at = r.clk.Now()
		}
	}
	if at.IsZero() {
		t.Fatal("no takeover within 4s")
	}
	a, ok := r.host.committed(0)[0].(*fsm.Assign)
	if !ok || a.To != "n2" || !a.Fence {
		t.Fatalf("committed %#v, want a fenced takeover by n2", r.host.committed(0))
	}
	// The decision's time: the header's clock reading when it was made.
	at = a.At
	late := at.Sub(lastN1) - timing.FailoverTimeout
	if late > timing.Heartbeat/4 {
		t.Fatalf("takeover %v after n1's silence reached failover_timeout %v (last heard %v after t0, taken over %v after t0): the leader looked again only at the next heartbeat boundary", late, timing.FailoverTimeout, lastN1.Sub(t0), at.Sub(t0))
	}
}
