package aws

import (
	"testing"
	"time"
)

// TestRetrySpacerSpacesAndCaps: retries that want no delay get slots
// every apart, until the queue is spacedWaitMax deep; beyond that each
// waits at most spacedWaitMax (the standard policy's longest backoff), so
// the slots of calls that ended meanwhile never delay a retry longer. A
// retry whose own delay is later than the next slot keeps its delay.
func TestRetrySpacerSpacesAndCaps(t *testing.T) {
	const every = 200 * time.Millisecond
	s := &retrySpacer{every: every}
	const slack = 50 * time.Millisecond // time.Now moves between calls
	for i := 0; i < 25; i++ {
		got := s.reserve(0)
		want := min(time.Duration(i)*every, spacedWaitMax)
		if got < want-slack || got > want+slack {
			t.Fatalf("reservation %d waits %s, want about %s (every %s, capped at %s)", i, got, want, every, spacedWaitMax)
		}
	}
	fresh := &retrySpacer{every: every}
	if got := fresh.reserve(700 * time.Millisecond); got < 650*time.Millisecond || got > 750*time.Millisecond {
		t.Fatalf("a lone retry that wants 700ms waits %s", got)
	}
	if got := fresh.reserve(0); got < 850*time.Millisecond || got > 950*time.Millisecond {
		t.Fatalf("the next retry waits %s, want about 900ms (the slot after the 700ms one)", got)
	}
}
