package owner

import (
	"testing"
	"time"
)

// TestDueOnceAnIntervalRunsEveryIntervalDespiteJitter: the worker's
// once-a-heartbeat checks (fence checks, pill acknowledgements) run on
// the passes the runner gives every worker, once an interval: at a
// renewal's answer (or the tick), whose time after the interval's
// boundary varies. A pass that comes a little earlier into its interval
// than the last one did must still run the check, or the check runs
// every other interval.
func TestDueOnceAnIntervalRunsEveryIntervalDespiteJitter(t *testing.T) {
	hb := 100 * time.Millisecond
	base := time.Unix(1_800_000_000, 0)
	// Into-the-interval times of the passes: an answer's delay varies.
	into := []time.Duration{30, 20, 25, 10, 40, 35, 5, 45, 15, 12}
	var next time.Time
	ran := 0
	for k, d := range into {
		at := base.Add(time.Duration(k)*hb + d*time.Millisecond)
		if dueOnceAnInterval(&next, at, hb) {
			ran++
		} else {
			t.Errorf("interval %d: the pass %s into it did not run the check", k, d*time.Millisecond)
		}
		// A second pass in the same interval (a log change) does not.
		if dueOnceAnInterval(&next, at.Add(time.Millisecond), hb) {
			t.Errorf("interval %d: a second pass 1ms later ran the check again", k)
		}
	}
	if ran != len(into) {
		t.Fatalf("the check ran in %d of %d intervals", ran, len(into))
	}
}
