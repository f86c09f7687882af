// Package decide owns the leader's decisions: from the applied state, when
// the leader last heard from each member and the time on an injected
// clock (internal/clock), which group moves where, for which cause, and what fence wait the
// takeover records. It performs no I/O; the leader loop commits what it
// decides.
package decide

import (
	"fmt"
	"sync"
	"time"

	"github.com/raftha/raftha/server/internal/clock"
)

// Timing is the part of the member's timing the decisions use.
type Timing struct {
	// Heartbeat is timing.heartbeat.
	Heartbeat time.Duration
	// Lease is timing.lease.
	Lease time.Duration
	// FailoverTimeout is timing.failover_timeout.
	FailoverTimeout time.Duration
}

// Contacts is the ready leader's failure detector: when it last heard
// from each member, since when each has been in contact without a gap,
// which members are leaving and which were last reached through a relay.
// It is safe for concurrent use.
type Contacts struct {
	clock clock.Clock
	self  string
	t     Timing
	// selfLeaving reports whether this member itself is leaving.
	selfLeaving func() bool
	since       time.Time // leadership became ready
	// prevLeader is the leader before this one as this member knew it
	// (the last to answer its heartbeat), and prevLeaderAt when that
	// answer came; see Lost.
	prevLeader   string
	prevLeaderAt time.Time

	mu       sync.Mutex
	lastSeen map[string]time.Time
	upSince  map[string]time.Time // start of the current run of contact
	leaving  map[string]bool
	relayed  map[string]time.Time // last heartbeat that came through a relay
}

// NewContacts returns the detector of a leader (member self) that became
// ready now, read against clk (clock.System in the agent). lastAnswer
// returns the leader that last answered this member's heartbeat and when
// ("" and zero when unknown; nil: none); it is called after readiness is
// taken, so that every answer that came before readiness counts, and it is
// not the previous leader when it names this member. selfLeaving says
// whether this member is leaving (nil: never).
func NewContacts(clk clock.Clock, self string, t Timing, lastAnswer func() (string, time.Time), selfLeaving func() bool) *Contacts {
	if selfLeaving == nil {
		selfLeaving = func() bool { return false }
	}
	c := &Contacts{clock: clk, self: self, t: t, selfLeaving: selfLeaving, since: clk.Now(),
		lastSeen: map[string]time.Time{}, upSince: map[string]time.Time{}, leaving: map[string]bool{}, relayed: map[string]time.Time{}}
	// Readiness first, then the last answer (as the leader always did): an
	// answer that lands in between is seen, never missed, so the previous
	// leader is never declared lost earlier than failover_timeout after it.
	if lastAnswer != nil {
		if prev, at := lastAnswer(); prev != self {
			c.prevLeader, c.prevLeaderAt = prev, at
		}
	}
	return c
}

// Timing returns the timing the detector was built with.
func (c *Contacts) Timing() Timing { return c.t }

// Now is the detector's clock.
func (c *Contacts) Now() time.Time { return c.clock.Now() }

// Since is when this leadership became ready.
func (c *Contacts) Since() time.Time { return c.since }

// Led is how long this leadership has been ready.
func (c *Contacts) Led() time.Duration { return c.clock.Now().Sub(c.since) }

// Seen records contact with node now (a heartbeat or a confirm).
func (c *Contacts) Seen(node string) {
	now := c.clock.Now()
	c.mu.Lock()
	if t, ok := c.lastSeen[node]; !ok || now.Sub(t) >= c.t.FailoverTimeout {
		c.upSince[node] = now
	}
	c.lastSeen[node] = now
	c.mu.Unlock()
}

// SetLeaving records whether node said it is leaving.
func (c *Contacts) SetLeaving(node string, v bool) {
	c.mu.Lock()
	c.leaving[node] = v
	c.mu.Unlock()
}

// Leaving reports whether node is leaving.
func (c *Contacts) Leaving(node string) bool {
	if node == c.self {
		return c.selfLeaving()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaving[node]
}

// SetRelayed records whether node's latest heartbeat came through a
// relay (the direct path to it is down).
func (c *Contacts) SetRelayed(node string, v bool) {
	c.mu.Lock()
	if v {
		c.relayed[node] = c.clock.Now()
	}
	c.mu.Unlock()
}

// ReachedDirectly reports whether node's heartbeats came on the direct
// path for the last failover_timeout: only then may it receive
// leadership (a transfer needs the direct path).
func (c *Contacts) ReachedDirectly(node string) bool {
	c.mu.Lock()
	t, ok := c.relayed[node]
	c.mu.Unlock()
	return !ok || c.clock.Now().Sub(t) >= c.t.FailoverTimeout
}

// last returns when node was last heard from, if ever.
func (c *Contacts) last(node string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lastSeen[node]
	return t, ok
}

// Heard reports whether this leader has heard from node at all.
func (c *Contacts) Heard(node string) bool {
	if node == c.self {
		return true
	}
	_, ok := c.last(node)
	return ok
}

// Healthy reports whether node was heard from within failover_timeout.
func (c *Contacts) Healthy(node string) bool {
	if node == c.self {
		return true
	}
	t, ok := c.last(node)
	return ok && c.clock.Now().Sub(t) < c.t.FailoverTimeout
}

// HealthyFor is how long node has been in contact without a gap.
func (c *Contacts) HealthyFor(node string) time.Duration {
	if !c.Healthy(node) {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.upSince[node]
	if !ok {
		return 0
	}
	return c.clock.Now().Sub(t)
}

// LastContact returns how long ago the leader heard from node. A new
// leader counts every member as heard from when it became ready, so it
// waits at least failover_timeout (> lease) before it can declare anyone
// lost: the safety argument's "a new leader waits at least one lease".
func (c *Contacts) LastContact(node string) time.Duration {
	if node == c.self {
		return 0
	}
	t, ok := c.last(node)
	if !ok {
		t = c.since
	}
	return c.clock.Now().Sub(t)
}

// DescribeContact says when the leader last heard from node, for messages.
func (c *Contacts) DescribeContact(node string) string {
	t, ok := c.last(node)
	if !ok {
		return fmt.Sprintf("not heard from since this leader took over %s ago", c.Led().Round(time.Millisecond))
	}
	return fmt.Sprintf("last heard from %s ago", c.clock.Now().Sub(t).Round(time.Millisecond))
}

// Lost reports whether the leader has not heard from node for
// failover_timeout, or, for a node this leader has never heard from, for
// a lease and a heartbeat since it became ready. The previous leader is
// also lost once failover_timeout has passed since its last answer to
// this member's heartbeat (as for any owner, counted from the last
// contact), and this leader has led for two heartbeats (time for a live
// one to find it): an owner that also led is then taken over as soon as
// one that followed, not an election plus a lease later.
//
// Lost only decides when a takeover starts. Its safety never rests on it:
// aws-stop fences the owner first, and the lease-only wait is counted
// from this leader's readiness (LastContact), not from the last answer.
func (c *Contacts) Lost(node string) bool {
	if node == c.self {
		return false
	}
	if _, heard := c.last(node); !heard {
		// Never heard by this leader: a live owner heartbeats within a
		// heartbeat of learning the new leader, and whatever lease it
		// held has run out after one lease (clause: a new leader waits at
		// least one lease). LastContact still counts from readiness only,
		// so lease-only waits stay conservative.
		if c.PrevLeaderGone(node) {
			return true
		}
		return c.Led() >= c.t.Lease+c.t.Heartbeat
	}
	return c.LastContact(node) >= c.t.FailoverTimeout
}

// UntilNextLoss is how long from now until Lost may next turn true for a
// member it is false for now: failover_timeout after a member's last
// contact; for the previous leader, failover_timeout after its last
// answer, once this leader has led two heartbeats; for a member never
// heard from, a lease and a heartbeat after readiness. ok is false when
// no such moment lies ahead. The leader loop wakes then, so that it
// declares a member lost when the timeout ends, not at its next periodic
// check.
func (c *Contacts) UntilNextLoss() (d time.Duration, ok bool) {
	now := c.clock.Now()
	consider := func(at time.Time) {
		if left := at.Sub(now); left > 0 && (!ok || left < d) {
			d, ok = left, true
		}
	}
	c.mu.Lock()
	for node, t := range c.lastSeen {
		if node != c.self {
			consider(t.Add(c.t.FailoverTimeout))
		}
	}
	c.mu.Unlock()
	if c.prevLeader != "" && !c.prevLeaderAt.IsZero() {
		at := c.prevLeaderAt.Add(c.t.FailoverTimeout)
		if ready := c.since.Add(2 * c.t.Heartbeat); ready.After(at) {
			at = ready
		}
		consider(at)
	}
	consider(c.since.Add(c.t.Lease + c.t.Heartbeat))
	return d, ok
}

// PrevLeaderGone reports whether node is the previous leader, silent for
// failover_timeout since its last answer to this member, with this leader
// ready for two heartbeats.
func (c *Contacts) PrevLeaderGone(node string) bool {
	return node == c.prevLeader && !c.prevLeaderAt.IsZero() &&
		c.Led() >= 2*c.t.Heartbeat && c.clock.Now().Sub(c.prevLeaderAt) >= c.t.FailoverTimeout
}

// PrevLeaderSilence is how long ago the previous leader last answered
// this member's heartbeat.
func (c *Contacts) PrevLeaderSilence() time.Duration { return c.clock.Now().Sub(c.prevLeaderAt) }
