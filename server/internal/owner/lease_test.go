package owner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/server/internal/clock"
)

// The lease loop on a fake clock: no test here waits for a heartbeat or a
// lease in real time. waitFor only lets the goroutines under test run
// (bounded at 5s of real time, for a broken build).

const (
	testHB    = time.Second
	testLease = 4 * time.Second
)

var t0 = time.Unix(1_000_000, 0)

// fakeHost answers heartbeats with answer(n, ctx) for the n-th call
// (from 1); Go runs functions on goroutines wg waits for. The other calls
// to the rest of the agent are not made by the code these tests run.
type fakeHost struct {
	mu     sync.Mutex
	calls  int
	answer func(n int, ctx context.Context) (map[string]uint64, string, error)
	wg     sync.WaitGroup
	exits  []int // under mu
}

func (h *fakeHost) Confirm(context.Context, string, uint64) error {
	return errors.New("no leader here")
}
func (h *fakeHost) Commit(context.Context, fsm.Command) (uint64, error) {
	return 0, errors.New("no leader here")
}
func (h *fakeHost) Header() fsm.Header         { return fsm.Header{} }
func (h *fakeHost) RecordEventually(*fsm.Note) {}
func (h *fakeHost) Exit(code int) {
	h.mu.Lock()
	h.exits = append(h.exits, code)
	h.mu.Unlock()
}
func (h *fakeHost) Go(fn func()) {
	h.wg.Add(1)
	go func() { defer h.wg.Done(); fn() }()
}

func (h *fakeHost) Heartbeat(ctx context.Context) (map[string]uint64, string, error) {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	return h.answer(n, ctx)
}

func (h *fakeHost) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func owns(g string, e uint64) func(int, context.Context) (map[string]uint64, string, error) {
	return func(int, context.Context) (map[string]uint64, string, error) {
		return map[string]uint64{g: e}, "n0", nil
	}
}

func newTestLease(h Host) (*Lease, *clock.Fake) {
	fc := clock.NewFake(t0)
	return NewLease(h, LeaseOptions{Clock: fc, Length: testLease, Heartbeat: testHB, Logger: hclog.NewNullLogger()}), fc
}

// waitFor is testsupport.Eventually.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, cond)
}

// advance moves fc by d, then waits until pending timers are armed again
// (the goroutines under test saw the move).
func advance(t *testing.T, fc *clock.Fake, d time.Duration, pending int) {
	t.Helper()
	fc.Advance(d)
	waitFor(t, "timers re-armed", func() bool { return fc.Pending() == pending })
}

func lost(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrLeaseLost)
}

// Expiry is the self-fence signal: a lease-bound context lives until, and
// ends exactly at, the send time of the last renewal plus the lease, with
// cause ErrLeaseLost (clauses 3 and 8).
func TestLeaseExpiryEndsBoundCallAtSendTimePlusLease(t *testing.T) {
	h := &fakeHost{answer: owns("g", 5)}
	l, fc := newTestLease(h)
	l.Beat(context.Background()) // sent at t0
	if !l.Table().Valid("g", 5) {
		t.Fatal("lease not valid after an answered heartbeat")
	}
	ctx, cancel := l.Bound(context.Background(), "g", 5)
	defer cancel()
	waitFor(t, "the watch to arm", func() bool { return fc.Pending() == 1 })
	for range 15 { // to t0 + 3.75s, one poll (heartbeat/4) at a time
		advance(t, fc, testHB/4, 1)
		if ctx.Err() != nil {
			t.Fatalf("bound call ended at %v, before the lease: %v", fc.Now().Sub(t0), context.Cause(ctx))
		}
	}
	fc.Advance(testHB/4 - time.Nanosecond)
	waitFor(t, "the watch to re-arm", func() bool { return fc.Pending() == 1 })
	if ctx.Err() != nil {
		t.Fatalf("bound call ended 1ns before send + lease: %v", context.Cause(ctx))
	}
	fc.Advance(time.Nanosecond) // t0 + lease
	waitFor(t, "the bound call to end at send + lease", func() bool { return ctx.Err() != nil })
	if !lost(ctx) {
		t.Fatalf("cause %v, want ErrLeaseLost", context.Cause(ctx))
	}
	// A call bound after the lease ended sees the loss at once.
	late, cancelLate := l.Bound(context.Background(), "g", 5)
	defer cancelLate()
	if !lost(late) {
		t.Fatalf("a call bound after expiry: cause %v, want ErrLeaseLost at once", context.Cause(late))
	}
}

// A renewal extends a bound call from the renewal's send time; a renewal
// that no longer lists the group, or lists it at another epoch, ends it at
// once, without waiting for the clock.
func TestLeaseRenewalExtendsAndDroppedGroupEndsAtOnce(t *testing.T) {
	var mu sync.Mutex
	answer := map[string]uint64{"g": 5}
	h := &fakeHost{answer: func(int, context.Context) (map[string]uint64, string, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer, "n0", nil
	}}
	l, fc := newTestLease(h)
	l.Beat(context.Background()) // valid until t0 + 4s
	ctx, cancel := l.Bound(context.Background(), "g", 5)
	defer cancel()
	waitFor(t, "the watch to arm", func() bool { return fc.Pending() == 1 })
	advance(t, fc, 3*time.Second, 1)
	l.Beat(context.Background()) // sent at t0 + 3s: valid until t0 + 7s
	advance(t, fc, 2*time.Second, 1)
	if ctx.Err() != nil {
		t.Fatalf("at t0+5s, after a renewal sent at t0+3s, the call ended: %v", context.Cause(ctx))
	}
	advance(t, fc, 1999*time.Millisecond, 1)
	if ctx.Err() != nil {
		t.Fatalf("at t0+6.999s the call ended: %v", context.Cause(ctx))
	}
	fc.Advance(time.Millisecond)
	waitFor(t, "the call to end at the renewal's send + lease", func() bool { return ctx.Err() != nil })
	if !lost(ctx) {
		t.Fatalf("cause %v, want ErrLeaseLost", context.Cause(ctx))
	}

	for _, next := range []map[string]uint64{{}, {"g": 6}} {
		l.Beat(context.Background())
		mu.Lock()
		answer = map[string]uint64{"g": 5}
		mu.Unlock()
		l.Beat(context.Background())
		c2, cancel2 := l.Bound(context.Background(), "g", 5)
		if c2.Err() != nil {
			t.Fatalf("renewed lease: bound call ended at once: %v", context.Cause(c2))
		}
		mu.Lock()
		answer = next
		mu.Unlock()
		l.Beat(context.Background()) // the clock does not move
		waitFor(t, "a renewal without g@5 to end the call", func() bool { return c2.Err() != nil })
		if !lost(c2) {
			t.Fatalf("renewal %v: cause %v, want ErrLeaseLost", next, context.Cause(c2))
		}
		cancel2()
	}
}

// A heartbeat that hangs renews nothing: the bound call ends when the
// last answered heartbeat's lease does, while the hung heartbeat still
// waits; the hung heartbeat itself is given up at its send time plus the
// lease on the lease's clock; the next answered heartbeat renews again.
func TestLeaseHeartbeatHangingPastTheLease(t *testing.T) {
	hung := make(chan context.Context, 1)
	returned := make(chan error, 1)
	h := &fakeHost{answer: func(n int, ctx context.Context) (map[string]uint64, string, error) {
		if n != 2 {
			return map[string]uint64{"g": 5}, "n0", nil
		}
		hung <- ctx
		<-ctx.Done()
		returned <- ctx.Err()
		return nil, "", ctx.Err()
	}}
	l, fc := newTestLease(h)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); l.Run(runCtx) }()
	defer func() { stopRun(); <-ran }()

	waitFor(t, "the first heartbeat to renew", func() bool { return l.Table().EverRenewed() && fc.Pending() == 1 })
	ctx, cancel := l.Bound(context.Background(), "g", 5) // lease until t0 + 4s
	defer cancel()
	waitFor(t, "the watch to arm", func() bool { return fc.Pending() == 2 })

	fc.Advance(testHB) // t0+1s: the second heartbeat is sent and hangs
	var hctx context.Context
	select {
	case hctx = <-hung:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop sent no second heartbeat at t0 + heartbeat")
	}
	// Pending: the watch and the hung beat's deadline (the loop waits
	// for the next boundary only once the beat has returned).
	waitFor(t, "timers armed", func() bool { return fc.Pending() == 2 })
	for range 11 { // to t0 + 3.75s
		advance(t, fc, testHB/4, 2)
	}
	if ctx.Err() != nil {
		t.Fatalf("bound call ended at t0+3.75s: %v", context.Cause(ctx))
	}
	fc.Set(t0.Add(testLease)) // the first heartbeat's lease ends; the second still hangs
	waitFor(t, "the bound call to end while the heartbeat hangs", func() bool { return ctx.Err() != nil })
	if !lost(ctx) {
		t.Fatalf("cause %v, want ErrLeaseLost", context.Cause(ctx))
	}
	if hctx.Err() != nil {
		t.Fatal("the hung heartbeat was given up before its own send + lease")
	}
	if l.Table().Valid("g", 5) {
		t.Fatal("lease valid while the only heartbeat since t0 hangs")
	}

	fc.Set(t0.Add(testHB + testLease)) // the hung heartbeat's send + lease
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("hung heartbeat ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hung heartbeat was not given up at its send + lease on the lease's clock")
	}
	waitFor(t, "the next heartbeat to renew", func() bool { return h.n() >= 3 && l.Table().Valid("g", 5) })
	if rem := l.Table().Remaining(); rem != testLease {
		t.Fatalf("renewed lease has %v left, want the full %v from the send time", rem, testLease)
	}
}

// Heartbeats go on the wall clock's boundaries of the heartbeat interval,
// the first at once: members whose clocks agree send together, and the
// leader confirms them with one leadership round (leader.GatherWindow).
func TestLeaseHeartbeatsOnHeartbeatBoundaries(t *testing.T) {
	h, fc, sent := runFrom300ms(t, nil)

	waitFor(t, "the first heartbeat", func() bool { return h.n() == 1 })
	waitFor(t, "the wait for the next boundary", func() bool { return fc.Pending() == 1 })
	advance(t, fc, 700*time.Millisecond-time.Nanosecond, 1)
	if n := h.n(); n != 1 {
		t.Fatalf("%d heartbeats 1ns before the boundary at t0+1s, want 1", n)
	}
	fc.Advance(time.Nanosecond)
	waitFor(t, "the heartbeat at the boundary", func() bool { return h.n() == 2 })
	waitFor(t, "the wait for the next boundary", func() bool { return fc.Pending() == 1 })
	advance(t, fc, testHB, 1)
	waitFor(t, "the heartbeat at the next boundary", func() bool { return h.n() == 3 })
	wantSent(t, sent, "the first at once, then on boundaries of the heartbeat", 300*time.Millisecond, time.Second, 2*time.Second)
}

// Found by review: Run arms its timer for Heartbeat before the first Beat
// and only Resets it later. When the first Beat takes longer than
// Heartbeat, that timer fires meanwhile; clock.Fake's Reset used to keep
// the tick already delivered (time.Timer's has not since Go 1.23), so the
// loop's first wait for a boundary returned at once and a heartbeat went
// off the boundary: the schedule tested on the fake clock was not the
// agent's.
func TestLeaseRunNoStaleTickAfterALongFirstBeat(t *testing.T) {
	release := make(chan struct{})
	h, fc, sent := runFrom300ms(t, release)

	waitFor(t, "the first heartbeat", func() bool { return h.n() == 1 })
	// Pending: the loop's timer (armed for testHB at the start) and the
	// hung beat's deadline.
	waitFor(t, "timers armed", func() bool { return fc.Pending() == 2 })
	advance(t, fc, testHB, 1) // t0+1.3s: the beat overran the boundary at t0+1s
	close(release)
	// The overrun beat is followed by one at once (t0+1.3s), then the
	// loop waits for the boundary at t0+2s.
	waitFor(t, "the heartbeat after the overrun one", func() bool { return h.n() >= 2 })
	time.Sleep(100 * time.Millisecond) // let a stale tick, if any, go through
	fc.Set(t0.Add(2 * time.Second))
	waitFor(t, "the heartbeat at the boundary", func() bool { return h.n() >= 3 })
	wantSent(t, sent, "the third on the boundary at t0+2s", 300*time.Millisecond, 1300*time.Millisecond, 2*time.Second)
}

// runFrom300ms runs a lease's heartbeat loop from t0+300ms (t0 is on a
// boundary of testHB) until the test ends, answering every heartbeat with
// no groups; the first answer waits for hold to close when hold is not
// nil. sent returns each heartbeat's send time past t0.
func runFrom300ms(t *testing.T, hold chan struct{}) (h *fakeHost, fc *clock.Fake, sent func() []time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var times []time.Duration
	h = &fakeHost{answer: func(n int, ctx context.Context) (map[string]uint64, string, error) {
		mu.Lock()
		times = append(times, fc.Now().Sub(t0))
		mu.Unlock()
		if n == 1 && hold != nil {
			select { // ctx: a failing test still ends the loop
			case <-hold:
			case <-ctx.Done():
			}
		}
		return nil, "n0", nil
	}}
	var l *Lease
	l, fc = newTestLease(h)
	fc.Set(t0.Add(300 * time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, fc, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), times...)
	}
}

// wantSent fails t unless the first heartbeats were sent at want (past t0).
func wantSent(t *testing.T, sent func() []time.Duration, why string, want ...time.Duration) {
	t.Helper()
	got := sent()
	if len(got) < len(want) {
		t.Fatalf("%d heartbeats sent (t0+%v), want at least %d at t0+%v (%s)", len(got), got, len(want), want, why)
	}
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("heartbeats sent at t0+%v, want t0+%v (%s)", got[:len(want)], want, why)
		}
	}
}
