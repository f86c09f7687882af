package fsm

import (
	"errors"
	"strings"
	"testing"
)

// apply runs c at the next index and returns the result.
func apply(s *State, idx *uint64, c Command) Result {
	*idx++
	return s.Apply(*idx, c)
}

// TestRemoveMemberRefusedForStopFailedOwnerAndFenceTarget: a member that
// may still run a group (the owner of a stop-failed group, or the node a
// fencing winner must fence) cannot be removed: its instance id is what
// the fence needs.
func TestRemoveMemberRefusedForStopFailedOwnerAndFenceTarget(t *testing.T) {
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1"}).Epoch
	if r := apply(s, &idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateFailed, Reason: "stop of app failed", StopFailed: true}); r.Err != nil {
		t.Fatal(r.Err)
	}
	r := apply(s, &idx, &RemoveMember{Header: h(), ID: "n1"})
	if !errors.Is(r.Err, ErrBusy) || !strings.Contains(r.Err.Error(), "could not be stopped") {
		t.Fatalf("remove the owner of a stop-failed group: %v", r.Err)
	}
	// The fenced takeover makes n1 the node to fence: still refused.
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "stop-failed"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	r = apply(s, &idx, &RemoveMember{Header: h(), ID: "n1"})
	if !errors.Is(r.Err, ErrBusy) || !strings.Contains(r.Err.Error(), "must fence") {
		t.Fatalf("remove the node a winner must fence: %v", r.Err)
	}
	if _, ok := s.Members["n1"]; !ok {
		t.Fatal("n1 was removed")
	}
	// Once fenced, n1 may go.
	if r := apply(s, &idx, &Fenced{Header: h(), Group: "db", Node: "n2", Epoch: s.Groups["db"].Status.Epoch, Method: "aws-stop"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(s, &idx, &RemoveMember{Header: h(), ID: "n1"}); r.Err != nil {
		t.Fatalf("remove after the fence: %v", r.Err)
	}
}
