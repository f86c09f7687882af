package aws

import (
	"testing"
	"time"
)

// TestRetrySpacerSpacesAndCaps: retries that want no delay get slots
// every apart while the slots of the next spacedWaitMax are free. Beyond
// that a retry takes no slot and waits a random time between
// spacedWaitMax/2 and spacedWaitMax, so the extra retriers do not all
// fire at one instant, and no retry waits longer than spacedWaitMax for
// slots (of calls that may have ended). A retry whose own delay is later
// than the next slot keeps its delay. The slots are checked on the
// spacer's own clock (next), so a test paused by a loaded machine does
// not change what is checked.
func TestRetrySpacerSpacesAndCaps(t *testing.T) {
	const every = 200 * time.Millisecond
	s := &retrySpacer{every: every}
	for i := 0; i < 5; i++ {
		before := s.next
		if got := s.reserve(0); got > time.Duration(i)*every {
			t.Fatalf("reservation %d waits %s, more than %d slots of %s", i, got, i, every)
		}
		if i > 0 && s.next.Sub(before) != every {
			t.Fatalf("reservation %d moved the next slot by %s, want %s", i, s.next.Sub(before), every)
		}
	}

	// Every slot of the next spacedWaitMax taken (by calls that may have
	// ended since): a retry takes no slot and waits 1-2 s, at random.
	full := time.Now().Add(10 * time.Second)
	s.next = full
	var extra []time.Duration
	for i := 0; i < 20; i++ {
		got := s.reserve(0)
		if got < spacedWaitMax/2 || got > spacedWaitMax {
			t.Fatalf("retry %d with every slot taken waits %s, want between %s and %s", i, got, spacedWaitMax/2, spacedWaitMax)
		}
		extra = append(extra, got)
	}
	if !s.next.Equal(full) {
		t.Fatalf("retries with every slot taken moved the next slot by %s", s.next.Sub(full))
	}
	lo, hi := extra[0], extra[0]
	for _, d := range extra {
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 100*time.Millisecond {
		t.Fatalf("20 retries with every slot taken wait within %s of each other (%v): they would fire together", hi-lo, extra)
	}

	fresh := &retrySpacer{every: every}
	if got := fresh.reserve(700 * time.Millisecond); got != 700*time.Millisecond {
		t.Fatalf("a lone retry that wants 700ms waits %s", got)
	}
	first := fresh.next
	fresh.reserve(0)
	if fresh.next.Sub(first) != every {
		t.Fatalf("the next retry's slot is %s after the 700ms one's, want %s", fresh.next.Sub(first), every)
	}
}
