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
}

// System is the real clock (time.Now).
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Fake is a clock that moves only when told. It is safe for concurrent
// use.
type Fake struct {
	mu sync.Mutex
	t  time.Time
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
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}

// Advance moves the fake clock d forward.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}
