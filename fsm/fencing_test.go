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

// TestFenceInstancesGrowWhileFencing: every instance id the node to fence
// reports after the takeover decision is added to the group's list; none
// replaces the one recorded at the decision.
func TestFenceInstancesGrowWhileFencing(t *testing.T) {
	s, idx := seeded(t)
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1"}).Epoch
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
	e1 := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1"}).Epoch
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
