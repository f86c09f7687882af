package server

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/server/internal/clock"
	ilease "github.com/raftha/raftha/server/internal/lease"
)

// hookClock runs hook once, at its first reading, before it answers:
// something that happens while the leader takes its readiness time.
type hookClock struct {
	*clock.Fake
	once sync.Once
	hook func()
}

func (c *hookClock) Now() time.Time {
	c.once.Do(c.hook)
	return c.Fake.Now()
}

// TestPrevLeaderAnswerAtReadinessCounts (clause 4, when a takeover is
// decided): the previous leader is lost failover_timeout after its last
// answer to this member's heartbeat. Before the decide refactor the new
// leader took its readiness time first and read the last answer after it,
// so every answer that came before readiness counted. Reading the answer
// first misses one that lands between the two readings (a preemption there
// is enough) and declares the previous leader lost up to a heartbeat early.
func TestPrevLeaderAnswerAtReadinessCounts(t *testing.T) {
	tm := testTiming()
	hb, fo := tm.Heartbeat.D(), tm.FailoverTimeout.D()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	s := &Server{cfg: config.Config{NodeID: "n1", Timing: tm}, logger: hclog.NewNullLogger()}
	s.lease = &lease{s: s, t: ilease.New(fake, tm.Lease.D())}
	s.lease.t.Renew(t0, map[string]uint64{}, "n2") // n2 leads and answers at t0
	fake.Advance(hb)
	// n2 answers again, one heartbeat later, just as this member's
	// leadership becomes ready.
	clk := &hookClock{Fake: fake, hook: func() { s.lease.t.Renew(fake.Now(), map[string]uint64{}, "n2") }}
	c := s.newContacts(clk)
	if got := c.Since(); !got.Equal(t0.Add(hb)) {
		t.Fatalf("readiness at %s, want %s", got, t0.Add(hb))
	}
	fake.Set(t0.Add(hb + fo - time.Nanosecond)) // failover_timeout after the last answer, less 1ns
	// (Lost itself is true by now for another reason: a node a new leader
	// never heard from is lost lease + heartbeat after readiness.)
	if c.PrevLeaderGone("n2") {
		t.Fatalf("n2 declared lost %s after its last answer (failover_timeout %s): the answer that came at readiness was not counted (previous-leader silence %s)", fo-time.Nanosecond, fo, c.PrevLeaderSilence())
	}
	fake.Set(t0.Add(hb + fo))
	if !c.PrevLeaderGone("n2") {
		t.Fatalf("n2 not lost failover_timeout after its last answer")
	}
}
