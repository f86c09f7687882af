package owner

import (
	"testing"
	"time"
)

// TestTickPokesWhenARenewalCameWithIt: the runner waits for the tick and
// for a renewal at once; when both are ready (the renewal's answer came
// before the runner got to the tick: a busy machine), Go picks either.
// The tick must not then swallow the renewal's pass: the renewal's
// channel is replaced at each renewal, so the runner never sees that one
// again, and no worker would pass in that interval.
func TestTickPokesWhenARenewalCameWithIt(t *testing.T) {
	hb := 100 * time.Millisecond
	now := time.Unix(1_800_000_000, 0)
	renewed := now.Add(-hb) // the last interval's renewal
	renewal := make(chan struct{})
	if tickPokes(renewal, &renewed, now, hb) {
		t.Fatal("the tick poked although the lease renewed an interval ago and no renewal is ready")
	}
	close(renewal) // this interval's renewal is ready too
	if !tickPokes(renewal, &renewed, now, hb) {
		t.Fatal("the tick swallowed a renewal that was ready with it: no worker passes in this interval")
	}
	if !renewed.Equal(now) {
		t.Fatalf("renewed = %s, want the tick's time %s (the renewal came by then)", renewed, now)
	}
	stale := now.Add(-2 * hb)
	if !tickPokes(make(chan struct{}), &stale, now, hb) {
		t.Fatal("the tick did not poke although no renewal came for two intervals")
	}
}
