package leader

import (
	"sync"
	"time"

	"github.com/raftha/raftha/server/internal/clock"
)

// GatherWindow is how long a heartbeat's leadership check waits for other
// heartbeats to share its VerifyLeader round. Members send their
// heartbeats on the same wall-clock boundaries (owner.Lease.Run), so an
// idle cluster's heartbeats arrive within a few milliseconds of each other
// and one round, not one per member, confirms them all; each round sends
// an AppendEntries to every follower, which was most of an idle leader's
// RPCs. A heartbeat that misses the window gets the next round. A round
// that every member has joined starts at once: on an idle cluster the
// window's timer then never fires (one wake-up less per interval).
const GatherWindow = 5 * time.Millisecond

// verifier shares raft's VerifyLeader rounds among callers, without
// weakening what each caller learns: a caller joins only a round that has
// not started yet, so a round's success proves leadership at a moment
// after every one of its callers asked, exactly as a VerifyLeader of the
// caller's own, called at that moment, would. A round already started is
// never joined: a caller arriving then makes (or joins) the next one.
type verifier struct {
	verify func() error // raft's VerifyLeader; may block until raft answers
	clock  clock.Clock
	// expect is how many callers a round can have at most in one
	// interval (the members, each heartbeating once); a round that many
	// joined starts without waiting out its window. nil, or 0: never early.
	expect func() int

	mu   sync.Mutex
	next *round // the round not started yet, nil when none
}

// round is one VerifyLeader call shared by the callers that joined it
// before it started.
type round struct {
	now     chan struct{} // closed to start the round without waiting out its window
	nowOnce sync.Once
	done    chan struct{} // closed once err is set
	err     error
	joined  int // callers that joined, under verifier.mu (tests)
}

// join returns the round the caller will be answered by. gather is how
// long a round the caller creates waits for others to join; 0 starts it
// at once and also cuts short the window of a gathering round it joins.
func (v *verifier) join(gather time.Duration) *round {
	expect := 0
	if v.expect != nil && gather > 0 {
		expect = v.expect()
	}
	v.mu.Lock()
	r := v.next
	if r == nil {
		r = &round{now: make(chan struct{}), done: make(chan struct{})}
		v.next = r
		go v.run(r, gather)
	}
	r.joined++
	full := expect > 0 && r.joined >= expect
	v.mu.Unlock()
	if gather <= 0 || full {
		r.nowOnce.Do(func() { close(r.now) })
	}
	return r
}

// run waits out r's window (or until a caller wants it now), closes r to
// joiners, and only then asks raft: every joiner asked before the call.
func (v *verifier) run(r *round, gather time.Duration) {
	if gather > 0 {
		t := v.clock.NewTimer(gather)
		select {
		case <-t.C():
		case <-r.now:
		}
		t.Stop()
	}
	v.mu.Lock()
	if v.next == r {
		v.next = nil
	}
	v.mu.Unlock()
	r.err = v.verify()
	close(r.done)
}
