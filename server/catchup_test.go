package server

import (
	"testing"
	"time"

	"github.com/raftha/raftha/api"
)

// TestWhyFromLaggingMember: w1 is cut off while db moves to n2. Asked
// `why` then, w1 cannot reach the leader and says so (api.HeaderStale)
// instead of answering its old history as if current. Healed, it brings
// its log up to the leader's before it answers: the move is there and
// nothing is marked stale.
func TestWhyFromLaggingMember(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	work := t.TempDir()
	c.apply(t, markerGroup(work, "n1", "n2"))
	c.waitOnline("db", "n1")
	c.partition("w1")
	var leader *testMember
	waitFor(t, 10*time.Second, "a leader on the n1/n2 side", func() bool {
		for _, id := range []string{"n1", "n2"} {
			if m := c.member(id); m.srv.IsLeader() {
				leader = m
				return true
			}
		}
		return false
	})
	// A leader elected by the partition (w1 may have led) refuses the
	// transfer until it has heard from n2: retry, bounded.
	var lastErr error
	waitFor(t, 20*time.Second, "db transferred to n2 on the n1/n2 side", func() bool {
		_, lastErr = leader.srv.Transfer(ctxT(t, 10*time.Second), "db", "n2", "test")
		if lastErr != nil {
			t.Logf("transfer: %v (retrying)", lastErr)
			time.Sleep(200 * time.Millisecond)
		}
		return lastErr == nil
	})
	moved := func(changes []api.OwnershipChange) bool {
		for _, ch := range changes {
			if ch.To == "n2" {
				return true
			}
		}
		return false
	}
	cl := c.apiClient(c.member("w1"), "why-reader", "")
	changes, stale, err := cl.WhyStale(ctxT(t, 20*time.Second), "db")
	if err != nil {
		t.Fatal(err)
	}
	if moved(changes) {
		t.Skip("w1 learned of the move before the partition took effect")
	}
	if stale == "" {
		t.Fatalf("w1, cut off, answered %d changes without the move to n2 and no %s: its old history reads as current", len(changes), api.HeaderStale)
	}
	t.Logf("cut off: %s: %s", api.HeaderStale, stale)
	c.heal()
	waitFor(t, 20*time.Second, "w1 answering why with the move to n2 and not stale", func() bool {
		changes, stale, err := cl.WhyStale(ctxT(t, 10*time.Second), "db")
		return err == nil && stale == "" && moved(changes)
	})
}
