// Package clock owns the time source the agent's decisions read: the real
// clock, and a fake one for tests that moves only when told.
package clock

import (
	"sync"
	"time"
)

// Clock is where a decision reads the time.
type Clock interface {
	// Now returns the current time. System's carries Go's monotonic
	// reading, so durations measured between two readings are
	// monotonic.
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now on this
	// clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock, as time.Timer.
type Timer interface {
	// C delivers the clock's time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset makes the timer fire d from now; it reports whether the
	// timer was pending.
	Reset(d time.Duration) bool
}

// System is the real clock (time.Now).
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer firing after d.
func (System) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time        { return s.t.C }
func (s sysTimer) Stop() bool                 { return s.t.Stop() }
func (s sysTimer) Reset(d time.Duration) bool { return s.t.Reset(d) }

// Fake is a clock that moves only when told. It is safe for concurrent
// use.
type Fake struct {
	mu     sync.Mutex
	t      time.Time
	timers map[*fakeTimer]struct{} // pending timers
}

// NewFake returns a fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the fake clock's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Set moves the fake clock to t (backwards too).
// Timers that are due fire.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.fireLocked()
	f.mu.Unlock()
}

// Advance moves the fake clock d forward. Timers that are due fire.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.fireLocked()
	f.mu.Unlock()
}

// Pending returns how many timers of f wait to fire: a test advances the
// clock once the code under test has armed the timer it waits on.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NewTimer returns a timer that fires when the fake clock reaches d from
// now (at once when d <= 0).
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	t.armLocked(d)
	f.mu.Unlock()
	return t
}

func (f *Fake) fireLocked() {
	for t := range f.timers {
		if !t.at.After(f.t) {
			delete(f.timers, t)
			select {
			case t.c <- f.t:
			default:
			}
		}
	}
}

type fakeTimer struct {
	f  *Fake
	c  chan time.Time
	at time.Time // under f.mu
}

func (t *fakeTimer) armLocked(d time.Duration) {
	if t.f.timers == nil {
		t.f.timers = map[*fakeTimer]struct{}{}
	}
	t.at = t.f.t.Add(d)
	t.f.timers[t] = struct{}{}
	t.f.fireLocked()
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

// Stop and Reset drop a fire not yet received, as time.Timer does since
// Go 1.23: no stale tick is received after either.
func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	_, pending := t.f.timers[t]
	delete(t.f.timers, t)
	t.drainLocked()
	return pending
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	_, pending := t.f.timers[t]
	t.drainLocked()
	t.armLocked(d)
	return pending
}

func (t *fakeTimer) drainLocked() {
	select {
	case <-t.c:
	default:
	}
}

// NextBoundary is how long from now until the next multiple of every
// since the Unix epoch, on the wall clock: in (0, every]. The agent's
// periodic work waits for these boundaries (owner.Lease.Run, the leader's
// checks, the disk heartbeats), so that on an idle member it wakes once
// an interval for all of it, not once for each.
func NextBoundary(now time.Time, every time.Duration) time.Duration {
	if every <= 0 {
		return every
	}
	into := time.Duration(now.UnixNano() % int64(every))
	if into < 0 { // before 1970
		into += every
	}
	return every - into
}
