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
// than the next slot keeps its delay.
func TestRetrySpacerSpacesAndCaps(t *testing.T) {
	const every = 200 * time.Millisecond
	s := &retrySpacer{every: every}
	const slack = 50 * time.Millisecond // time.Now moves between calls
	slots := int(spacedWaitMax/every) + 1
	for i := 0; i < slots; i++ {
		got := s.reserve(0)
		if want := time.Duration(i) * every; got < want-slack || got > want+slack {
			t.Fatalf("reservation %d waits %s, want about %s (every %s)", i, got, want, every)
		}
	}
	var extra []time.Duration
	for i := 0; i < 20; i++ {
		got := s.reserve(0)
		if got < spacedWaitMax/2 || got > spacedWaitMax {
			t.Fatalf("reservation %d beyond the slots waits %s, want between %s and %s", slots+i, got, spacedWaitMax/2, spacedWaitMax)
		}
		extra = append(extra, got)
	}
	spread := max(extra[0], extra[1]) - min(extra[0], extra[1])
	for _, d := range extra[2:] {
		spread = max(spread, d-extra[0], extra[0]-d)
	}
	if spread < 100*time.Millisecond {
		t.Fatalf("20 retries beyond the slots wait within %s of each other (%v): they would fire together", spread, extra)
	}
	fresh := &retrySpacer{every: every}
	if got := fresh.reserve(700 * time.Millisecond); got < 650*time.Millisecond || got > 750*time.Millisecond {
		t.Fatalf("a lone retry that wants 700ms waits %s", got)
	}
	if got := fresh.reserve(0); got < 850*time.Millisecond || got > 950*time.Millisecond {
		t.Fatalf("the next retry waits %s, want about 900ms (the slot after the 700ms one)", got)
	}
}
