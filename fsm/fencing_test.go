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
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
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

// TestFenceInstancesGrowWhileFencing: every instance id the node to fence
// reports after the takeover decision is added to the group's list; none
// replaces the one recorded at the decision.
func TestFenceInstancesGrowWhileFencing(t *testing.T) {
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "node-lost"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, InstanceID: "i-0000000000000099"}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	want := []string{"i-0000000000000001", "i-0000000000000099"}
	if got := st.InstancesToFence(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("instances to fence %v, want %v", got, want)
	}
	// A second winner replacing the first keeps the whole list.
	if r := apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n3", Role: RoleNode, Address: "127.0.0.1:4"}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(s, &idx, &ApplyGroups{Header: h(), Groups: []GroupSpec{{Name: "db", Nodes: []string{"n1", "n2", "n3"}}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n3", ExpectEpoch: st.Epoch, Fence: true, Cause: "node-lost"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := s.Groups["db"].Status.InstancesToFence(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after a second takeover: %v, want %v", got, want)
	}
	if c := s.Clone(); strings.Join(c.Groups["db"].Status.InstancesToFence(), ",") != strings.Join(want, ",") {
		t.Fatal("Clone lost the list")
	}
}

// TestDuplicateInstanceIDRefused: two members never share an instance id
// (a fence of one would stop the other, or verify the wrong node).
func TestDuplicateInstanceIDRefused(t *testing.T) {
	s, idx := seeded(t)
	r := apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n2", Role: RoleNode, InstanceID: "i-0000000000000001"}})
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "n1") {
		t.Fatalf("n2 took n1's instance id: %v", r.Err)
	}
	r = apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n9", Role: RoleNode, Address: "127.0.0.1:9", InstanceID: "i-0000000000000001"}})
	if !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("new member with n1's instance id: %v", r.Err)
	}
	if _, ok := s.Members["n9"]; ok || s.Members["n2"].InstanceID != "" {
		t.Fatal("a refused upsert changed the members")
	}
	// The owner of an id may repeat it.
	if r := apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, InstanceID: "i-0000000000000001"}}); r.Err != nil {
		t.Fatal(r.Err)
	}
}

// TestFencedNeedsEveryInstance: a Fenced that names the instances it
// stopped is refused while one the node reported is missing.
func TestFencedNeedsEveryInstance(t *testing.T) {
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	e2 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "node-lost"}).Epoch
	apply(s, &idx, &UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, InstanceID: "i-0000000000000099"}})
	r := apply(s, &idx, &Fenced{Header: h(), Group: "db", Node: "n2", Epoch: e2, Method: "aws-stop", Instances: []string{"i-0000000000000001"}})
	if !errors.Is(r.Err, ErrBusy) || s.Groups["db"].Status.State != StateFencing {
		t.Fatalf("fenced without the new instance: %v", r.Err)
	}
	r = apply(s, &idx, &Fenced{Header: h(), Group: "db", Node: "n2", Epoch: e2, Method: "aws-stop", Instances: []string{"i-0000000000000001", "i-0000000000000099"}, Verified: "i-0000000000000001 verified by tag raftha:node=n1"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if e := s.Events[len(s.Events)-1]; e.Kind != "fenced" || !strings.Contains(e.Reason, "verified by tag raftha:node=n1") {
		t.Fatalf("fenced event %+v", e)
	}
}

// stuckFencing: n1 owned db, n2 won the takeover and is fencing n1 (and
// is then lost): the only other node is the fence target.
func stuckFencing(t *testing.T) (*State, uint64, uint64) {
	t.Helper()
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "node-lost"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	// The ordinary takeover back is refused: n1 cannot fence itself.
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", ExpectEpoch: r.Epoch, Fence: true, Cause: "node-lost"}); !errors.Is(r.Err, ErrNotEligible) {
		t.Fatalf("takeover back without proof: %v", r.Err)
	}
	return s, idx, r.Epoch
}

// TestTakeoverBackToIdleFenceTarget: the fence target that proved it runs
// nothing takes the group back, with the cause and flag recorded.
func TestTakeoverBackToIdleFenceTarget(t *testing.T) {
	s, idx, e2 := stuckFencing(t)
	// The flag only returns a fencing group to the node it fences.
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e2, Fence: true, TargetIdle: true, Cause: CauseFenceTargetIdle}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("target-idle to the winner: %v", r.Err)
	}
	r := apply(s, &idx, &Assign{Header: Header{At: t0, By: "leader"}, Group: "db", To: "n1", ExpectEpoch: e2, Fence: true, TargetIdle: true, Cause: CauseFenceTargetIdle, Reason: "n1 runs nothing (heartbeat at index 9)"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	if st.Owner != "n1" || st.State != StateStarting || st.Epoch != r.Epoch || st.FenceNode != "" || len(st.InstancesToFence()) != 0 {
		t.Fatalf("after the takeover back: %+v", st)
	}
	e := s.Events[len(s.Events)-1]
	if e.Kind != "takeover" || e.Cause != CauseFenceTargetIdle || e.From != "n2" || e.To != "n1" || !strings.Contains(e.Reason, "runs nothing") {
		t.Fatalf("event %+v", e)
	}
}

// TestTakeoverBackRefusedAfterStopFailure: a fence target that could not
// stop the group proves nothing by saying it runs nothing.
func TestTakeoverBackRefusedAfterStopFailure(t *testing.T) {
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	apply(s, &idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateFailed, StopFailed: true})
	e2 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "stop-failed"}).Epoch
	if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", ExpectEpoch: e2, Fence: true, TargetIdle: true, Cause: CauseFenceTargetIdle}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("target-idle after a stop failure: %v", r.Err)
	}
}

// TestFenceOverrideRecordsWhoAcceptedTheRisk: an operator marks a fencing
// group fenced (or a stop-failed group stopped); the event names them and
// their reason. Without a reason or a caller it is refused.
func TestFenceOverrideRecordsWhoAcceptedTheRisk(t *testing.T) {
	s, idx, e2 := stuckFencing(t)
	if r := apply(s, &idx, &FenceOverride{Header: Header{At: t0, By: "alice"}, Group: "db", ExpectEpoch: e2}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("override without a reason: %v", r.Err)
	}
	if r := apply(s, &idx, &FenceOverride{Header: Header{At: t0}, Group: "db", ExpectEpoch: e2, Reason: "x"}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("override without a caller: %v", r.Err)
	}
	r := apply(s, &idx, &FenceOverride{Header: Header{At: t0, By: "alice"}, Group: "db", ExpectEpoch: e2, Reason: "n1's host is powered off in the console"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	if st.State != StateStarting || st.Owner != "n2" || st.Epoch != e2 || st.FenceNode != "" {
		t.Fatalf("after the override: %+v", st)
	}
	e := s.Events[len(s.Events)-1]
	if e.Kind != KindFenceOverride || e.By != "alice" || e.From != "n1" || e.Cause != CauseOperator || e.Reason != "n1's host is powered off in the console" {
		t.Fatalf("event %+v", e)
	}
	// Nothing to override on a started group.
	if r := apply(s, &idx, &FenceOverride{Header: Header{At: t0, By: "alice"}, Group: "db", ExpectEpoch: e2, Reason: "x"}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("override of a starting group: %v", r.Err)
	}

	// A stop-failed group: the override clears StopFailed, so it may move.
	s2, idx2 := seeded(t)
	e1 := apply(s2, &idx2, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	apply(s2, &idx2, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateFailed, StopFailed: true})
	if r := apply(s2, &idx2, &FenceOverride{Header: Header{At: t0, By: "bob"}, Group: "db", ExpectEpoch: e1, Reason: "killed it by hand"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if st := s2.Groups["db"].Status; st.StopFailed || st.State != StateFailed {
		t.Fatalf("stop-failed after the override: %+v", st)
	}
	if r := apply(s2, &idx2, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Cause: "failure"}); r.Err != nil {
		t.Fatalf("recovery after the override: %v", r.Err)
	}
	// Encoded and decoded as its own command type.
	b := MustEncode(&FenceOverride{Header: Header{By: "bob"}, Group: "db", Reason: "r"})
	if CmdType(b[0]) != CmdFenceOverride {
		t.Fatalf("type %d", b[0])
	}
	if c, err := Decode(b); err != nil || c.(*FenceOverride).Reason != "r" {
		t.Fatalf("decode: %v %v", c, err)
	}
}
