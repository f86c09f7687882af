package fsm

import (
	"errors"
	"testing"
	"time"
)

// failedEverywhere returns a state where db failed on n1 and then on n2,
// and the epoch it failed at.
func failedEverywhere(t *testing.T, stopFailed bool) (*State, uint64) {
	t.Helper()
	s, idx := seeded(t)
	must := func(c Command) uint64 {
		idx++
		r := s.Apply(idx, c)
		if r.Err != nil {
			t.Fatalf("apply %T: %v", c, r.Err)
		}
		return r.Epoch
	}
	e1 := must(&Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement})
	must(&Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateFailed, Reason: "exit 1"})
	e2 := must(&Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Cause: CauseFailure})
	must(&Report{Header: h(), Group: "db", Node: "n2", Epoch: e2, State: StateFailed, Reason: "exit 1", StopFailed: stopFailed})
	return s, e2
}

// TestRetryFailedPlacesAgain: RetryFailed forgets FailedOn and assigns the
// group at a new epoch, recorded with cause auto-retry.
func TestRetryFailedPlacesAgain(t *testing.T) {
	s, epoch := failedEverywhere(t, false)
	if got := s.Groups["db"].Status.FailedOn; len(got) != 2 {
		t.Fatalf("failed_on %v", got)
	}
	idx := s.Index + 1
	r := s.Apply(idx, &RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch, Reason: "retry"})
	if r.Err != nil || r.Epoch != idx {
		t.Fatalf("retry: %+v", r)
	}
	st := s.Groups["db"].Status
	if st.Owner != "n1" || st.State != StateStarting || st.Epoch != idx || len(st.FailedOn) != 0 || st.Reason != "retry" {
		t.Fatalf("status after retry: %+v", st)
	}
	if e := s.Events[len(s.Events)-1]; e.Kind != KindAssigned || e.Cause != CauseAutoRetry || e.From != "n2" || e.To != "n1" || e.Epoch != idx {
		t.Fatalf("event %+v", e)
	}
	// Round trip through the log format.
	c, err := Decode(MustEncode(&RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: 7}))
	if rf, ok := c.(*RetryFailed); err != nil || !ok || rf.ExpectEpoch != 7 || rf.Type() != CmdRetryFailed {
		t.Fatalf("decode: %#v %v", c, err)
	}
}

// TestRetryFailedRefusals: never for a group whose stop failed, a
// suspended one, an active one, or at a stale epoch; and the cause it
// records is not one an Assign may carry.
func TestRetryFailedRefusals(t *testing.T) {
	s, epoch := failedEverywhere(t, true)
	if r := s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("retry of a stop-failed group: %v", r.Err)
	}
	s, epoch = failedEverywhere(t, false)
	if r := s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch - 1}); !errors.Is(r.Err, ErrStaleEpoch) {
		t.Fatalf("stale retry: %v", r.Err)
	}
	if r := s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "w1", ExpectEpoch: epoch}); !errors.Is(r.Err, ErrNotEligible) {
		t.Fatalf("retry to a witness: %v", r.Err)
	}
	if r := s.Apply(s.Index+1, &Assign{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch, Cause: CauseAutoRetry}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("an Assign with cause auto-retry: %v", r.Err)
	}
	s.Apply(s.Index+1, &SetSuspended{Header: h(), Group: "db", Suspended: true})
	if r := s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("retry of a suspended group: %v", r.Err)
	}
	s, epoch = failedEverywhere(t, false)
	s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch})
	if r := s.Apply(s.Index+1, &RetryFailed{Header: h(), Group: "db", To: "n2", ExpectEpoch: s.Groups["db"].Status.Epoch}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("retry of a starting group: %v", r.Err)
	}
}

// TestStartRetryDelay: the wait doubles from the backoff and is capped.
func TestStartRetryDelay(t *testing.T) {
	g := GroupSpec{StartRetryBackoff: 2 * time.Second}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 6: time.Minute, 60: time.Minute} {
		if got := g.StartRetryDelay(n); got != want {
			t.Fatalf("delay of retry %d: %s, want %s", n, got, want)
		}
	}
	if got := (GroupSpec{}).StartRetryDelay(1); got != time.Millisecond {
		t.Fatalf("delay with no backoff: %s", got)
	}
}
