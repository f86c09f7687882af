package owner

import (
	"context"
	"testing"

	"github.com/raftha/raftha/config"
)

// confirmingHost is a fakeHost whose leader confirms every ownership.
type confirmingHost struct{ *fakeHost }

func (confirmingHost) Confirm(context.Context, string, uint64) error { return nil }

// A confirmation renews the lease for its group from its send time on the
// lease's clock (clauses 2, 3 and 8): send + lease later, on that clock,
// the group is no longer covered. The move put the lease on an injected
// clock but left agent.confirm reading time.Now for the send time, so on
// any clock but the system one the confirmation is recorded at the wall
// clock's time and covers the group for as long as the two clocks differ.
func TestConfirmRenewsFromSendTimeOnTheLeaseClock(t *testing.T) {
	h := confirmingHost{&fakeHost{answer: owns("g", 5)}}
	l, fc := newTestLease(h)
	var cfg config.Config
	cfg.Timing.Lease = config.Duration(testLease)
	s := &agent{host: h, cfg: cfg, lease: l}
	sent := fc.Now()
	if err := s.confirm(context.Background(), "g", 5); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if !l.Table().Valid("g", 5) {
		t.Fatal("g@5 not covered right after a confirmation")
	}
	fc.Advance(testLease) // the confirmation's send + lease, on the lease's clock
	if l.Table().Valid("g", 5) {
		until, _ := l.Table().Expiry("g", 5)
		t.Fatalf("g@5 still covered at send + lease (%v) on the lease's clock: the confirmation was recorded as covering until %v (%v past send + lease)",
			sent.Add(testLease), until, until.Sub(sent.Add(testLease)))
	}
}
