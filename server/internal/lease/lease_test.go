package lease

import (
	"errors"
	"testing"
	"time"

	"github.com/raftha/raftha/server/internal/clock"
)

const length = 1500 * time.Millisecond

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestLeaseValidityTable is the lease's decision table (safety clause 3):
// a lease is valid until exactly lease after the SEND time of the
// confirmation that covered the group at that epoch, and not one instant
// longer, whenever the answer arrived.
func TestLeaseValidityTable(t *testing.T) {
	t0 := start
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		answered time.Duration // the clock when the answer is recorded
		sent     time.Duration
		owned    map[string]uint64 // a full renewal; nil: a confirm of g
		epoch    uint64            // the confirm's epoch
	}
	for _, tc := range []struct {
		name  string
		steps []step
		check time.Duration
		epoch uint64
		want  bool
	}{
		{"never renewed", nil, 0, 7, false},
		{"renewed, just before sent+lease", []step{{answered: 10 * time.Millisecond, owned: map[string]uint64{"g": 7}}}, length - time.Nanosecond, 7, true},
		{"renewed, exactly at sent+lease", []step{{answered: 10 * time.Millisecond, owned: map[string]uint64{"g": 7}}}, length, 7, false},
		{"late answer does not extend: valid until sent+lease", []step{{sent: 0, answered: 900 * time.Millisecond, owned: map[string]uint64{"g": 7}}}, length + 100*time.Millisecond, 7, false},
		{"another epoch is not covered", []step{{owned: map[string]uint64{"g": 7}}}, time.Millisecond, 8, false},
		{"group no longer listed by the leader", []step{{owned: map[string]uint64{"g": 7}}, {sent: 100 * time.Millisecond, answered: 110 * time.Millisecond, owned: map[string]uint64{}}}, 200 * time.Millisecond, 7, false},
		{"later renewal extends", []step{{owned: map[string]uint64{"g": 7}}, {sent: time.Second, answered: time.Second, owned: map[string]uint64{"g": 7}}}, time.Second + length - time.Nanosecond, 7, true},
		{"confirm alone covers one group", []step{{sent: 200 * time.Millisecond, answered: 250 * time.Millisecond, epoch: 7}}, 200*time.Millisecond + length - time.Nanosecond, 7, true},
		{"confirm alone, exactly at its sent+lease", []step{{sent: 200 * time.Millisecond, answered: 250 * time.Millisecond, epoch: 7}}, 200*time.Millisecond + length, 7, false},
		{"older confirm never shortens", []step{{sent: time.Second, answered: time.Second, owned: map[string]uint64{"g": 7}}, {sent: 0, answered: time.Second, epoch: 7}}, time.Second + length - time.Nanosecond, 7, true},
		{"renewal never shortens a later confirm", []step{{sent: time.Second, answered: time.Second, epoch: 7}, {sent: 500 * time.Millisecond, answered: 1100 * time.Millisecond, owned: map[string]uint64{"g": 7}}}, time.Second + length - time.Nanosecond, 7, true},
		{"renewal at a new epoch replaces the old", []step{{sent: time.Second, answered: time.Second, epoch: 7}, {sent: 500 * time.Millisecond, answered: 1100 * time.Millisecond, owned: map[string]uint64{"g": 8}}}, 1200 * time.Millisecond, 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewFake(start)
			l := New(c, length)
			for _, s := range tc.steps {
				c.Set(at(s.answered))
				if s.owned != nil {
					l.Renew(at(s.sent), s.owned, "n0")
				} else {
					l.Confirmed(at(s.sent), "g", s.epoch)
				}
			}
			c.Set(at(tc.check))
			if got := l.Valid("g", tc.epoch); got != tc.want {
				t.Fatalf("Valid(g, %d) at +%s = %v, want %v", tc.epoch, tc.check, got, tc.want)
			}
			if left := l.Left("g", tc.epoch); (left > 0) != tc.want {
				t.Fatalf("Left(g, %d) at +%s = %s, disagrees with Valid %v", tc.epoch, tc.check, left, tc.want)
			}
		})
	}
}

// TestLeaseAnswerAndExpiryTimes: the renewal records when the answer came
// and from whom (the previous leader's last answer, clause 4), the full
// lease's remaining time counts from the send time, and the runner's next
// wake-up is the earliest live expiry.
func TestLeaseAnswerAndExpiryTimes(t *testing.T) {
	c := clock.NewFake(start)
	t0 := c.Now()
	l := New(c, length)
	if id, when := l.LastAnswer(); id != "" || !when.IsZero() || l.EverRenewed() {
		t.Fatalf("fresh lease: last answer %q at %v, ever renewed %v", id, when, l.EverRenewed())
	}
	if d := l.UntilNextExpiry(); d != time.Hour+time.Millisecond {
		t.Fatalf("nothing owned: next expiry in %s, want 1h0m0.001s", d)
	}
	renewed := l.Renewed()
	c.Set(t0.Add(300 * time.Millisecond))
	l.Renew(t0, map[string]uint64{"a": 1, "b": 2}, "n2")
	select {
	case <-renewed:
	default:
		t.Fatal("Renewed's channel not closed by a renewal")
	}
	if id, when := l.LastAnswer(); id != "n2" || !when.Equal(t0.Add(300*time.Millisecond)) {
		t.Fatalf("last answer %q at %v, want n2 at the answer's time", id, when.Sub(t0))
	}
	if r := l.Remaining(); r != length-300*time.Millisecond {
		t.Fatalf("remaining %s, want lease - (answer - send) = %s", r, length-300*time.Millisecond)
	}
	c.Set(t0.Add(time.Second))
	l.Confirmed(t0.Add(time.Second), "b", 2) // b now runs out later than a
	if d := l.UntilNextExpiry(); d != length-time.Second+time.Millisecond {
		t.Fatalf("next expiry in %s, want a's: %s", d, length-time.Second+time.Millisecond)
	}
	c.Set(t0.Add(length)) // a has run out: only b's expiry counts
	if d := l.UntilNextExpiry(); d != time.Second+time.Millisecond {
		t.Fatalf("next expiry in %s after a ran out, want b's: %s", d, time.Second+time.Millisecond)
	}
	c.Set(t0.Add(time.Second + length - 5*time.Millisecond))
	if d := l.UntilNextExpiry(); d != 10*time.Millisecond {
		t.Fatalf("next expiry in %s, want the 10ms floor", d)
	}
	if until, ok := l.Expiry("b", 2); !ok || !until.Equal(t0.Add(time.Second+length)) {
		t.Fatalf("expiry of b = %v %v, want confirm's send + lease", until.Sub(t0), ok)
	}
}

// TestLeaseFailLogsOncePerOutage: Fail reports only the first failure
// after a renewal.
func TestLeaseFailLogsOncePerOutage(t *testing.T) {
	l := New(clock.NewFake(start), length)
	errX := errors.New("x")
	if !l.Fail(errX) || l.Fail(errX) {
		t.Fatal("want first Fail true, second false")
	}
	l.Renew(time.Time{}, nil, "n1")
	if !l.Fail(errX) {
		t.Fatal("after a renewal the next failure is a first again")
	}
}
