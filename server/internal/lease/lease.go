// Package lease owns an owner's lease arithmetic: which groups at which
// epochs the leader last confirmed, and until when (the confirmation's
// send time plus the lease), read against an injected clock.
package lease

import (
	"sync"
	"time"

	"github.com/raftha/raftha/server/internal/clock"
)

// Table is one member's lease: the groups (and epochs) the leader
// confirmed, each valid until the send time of the confirmation that
// covered it plus the lease. It is safe for concurrent use.
type Table struct {
	clock  clock.Clock
	length time.Duration

	mu        sync.Mutex
	until     time.Time        // last full renewal's expiry
	owned     map[string]entry // group → epoch and expiry confirmed
	lastOK    time.Time        // when the last renewal's answer came
	lastErr   error
	leaderID  string
	renewedCh chan struct{}
}

// entry is one group's confirmed ownership.
type entry struct {
	epoch uint64
	until time.Time
}

// New returns an empty lease of length (timing.lease) read against c
// (clock.System in the agent).
func New(c clock.Clock, length time.Duration) *Table {
	return &Table{clock: c, length: length, owned: map[string]entry{}, renewedCh: make(chan struct{})}
}

// Length is the lease's length (timing.lease).
func (l *Table) Length() time.Duration { return l.length }

// Valid reports whether the lease covers group at epoch now: it does
// until, and not at, the instant sent+length of the last confirmation
// that covered it.
func (l *Table) Valid(group string, epoch uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.owned[group]
	return ok && e.epoch == epoch && l.clock.Now().Before(e.until)
}

// Expiry returns when the lease for group at epoch runs out, or false
// when the lease does not cover that group at that epoch.
func (l *Table) Expiry(group string, epoch uint64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.owned[group]
	if !ok || e.epoch != epoch {
		return time.Time{}, false
	}
	return e.until, true
}

// Confirmed records a single-group confirmation sent at sent. It never
// shortens the group's lease at the same epoch.
func (l *Table) Confirmed(sent time.Time, group string, epoch uint64) {
	until := sent.Add(l.length)
	l.mu.Lock()
	if e, ok := l.owned[group]; !ok || e.epoch != epoch || e.until.Before(until) {
		l.owned[group] = entry{epoch: epoch, until: until}
	}
	l.mu.Unlock()
}

// Renew records a heartbeat sent at sent that leader answered, listing
// every group (and epoch) this member owns: the lease now covers exactly
// those, until sent+length (or a later single-group confirmation's expiry
// at the same epoch). Groups it does not list are no longer covered.
// Whoever waits on Renewed wakes.
func (l *Table) Renew(sent time.Time, owned map[string]uint64, leader string) {
	l.mu.Lock()
	l.until = sent.Add(l.length)
	next := make(map[string]entry, len(owned))
	for g, e := range owned {
		next[g] = entry{epoch: e, until: l.until}
		if old, ok := l.owned[g]; ok && old.epoch == e && old.until.After(l.until) {
			next[g] = old
		}
	}
	l.owned = next
	l.lastOK = l.clock.Now()
	l.lastErr = nil
	l.leaderID = leader
	ch := l.renewedCh
	l.renewedCh = make(chan struct{})
	l.mu.Unlock()
	close(ch)
}

// Fail records a heartbeat that renewed nothing. It reports whether this
// is the first failure since the last renewal (the caller logs it then).
func (l *Table) Fail(err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.lastErr == nil
	l.lastErr = err
	return first
}

// UntilNextExpiry is how long until the earliest group lease runs out
// (at least 10ms; an hour when nothing is owned).
func (l *Table) UntilNextExpiry() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	next := time.Hour
	for _, e := range l.owned {
		// An entry that already ran out stays until the next renewal;
		// it is no reason to wake again (the runner would spin).
		if d := e.until.Sub(now); d > 0 && d < next {
			next = d
		}
	}
	return max(next+time.Millisecond, 10*time.Millisecond)
}

// Remaining returns how long the last full renewal has left (<= 0 when
// expired).
func (l *Table) Remaining() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until.Sub(l.clock.Now())
}

// Left returns how long the lease for group at epoch has left (<= 0 when
// it does not cover them).
func (l *Table) Left(group string, epoch uint64) time.Duration {
	until, ok := l.Expiry(group, epoch)
	if !ok {
		return 0
	}
	return until.Sub(l.clock.Now())
}

// LastAnswer returns the leader that last answered a heartbeat of this
// member, and when the answer came (zero before any).
func (l *Table) LastAnswer() (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaderID, l.lastOK
}

// EverRenewed reports whether a heartbeat ever renewed the lease.
func (l *Table) EverRenewed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.lastOK.IsZero()
}

// Renewed returns a channel closed at the next renewal.
func (l *Table) Renewed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewedCh
}
