package fsm

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

func h() Header { return Header{At: t0, By: "test"} }

// seeded returns a state with nodes n1, n2, a witness w1 and group db on
// [n1 n2], applied from index 1.
func seeded(t *testing.T) (*State, uint64) {
	t.Helper()
	s := NewState()
	idx := uint64(0)
	must := func(c Command) {
		idx++
		if r := s.Apply(idx, c); r.Err != nil {
			t.Fatalf("apply %T: %v", c, r.Err)
		}
	}
	must(&UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, Address: "127.0.0.1:1", InstanceID: "i-0000000000000001"}})
	must(&UpsertMember{Header: h(), Member: Member{ID: "n2", Role: RoleNode, Address: "127.0.0.1:2"}})
	must(&UpsertMember{Header: h(), Member: Member{ID: "w1", Role: RoleWitness, Address: "127.0.0.1:3"}})
	must(&ApplyGroups{Header: h(), Groups: []GroupSpec{{Name: "db", Nodes: []string{"n1", "n2"}, Resources: []ResourceSpec{{Name: "app", Type: "exec"}}}}})
	return s, idx
}

func TestPlacementOnlineAndEpochIsIndex(t *testing.T) {
	s, idx := seeded(t)
	r := s.Apply(idx+1, &Assign{Header: h(), Group: "db", To: "n1", Cause: "placement"})
	if r.Err != nil || r.Epoch != idx+1 {
		t.Fatalf("assign: %+v", r)
	}
	g := s.Groups["db"]
	if g.Status.Owner != "n1" || g.Status.State != StateStarting || g.Status.Epoch != idx+1 {
		t.Fatalf("status %+v", g.Status)
	}
	// A report at a stale epoch or from another node is refused.
	if r := s.Apply(idx+2, &Report{Header: h(), Group: "db", Node: "n1", Epoch: idx, State: StateOnline}); !errors.Is(r.Err, ErrStaleEpoch) {
		t.Fatalf("stale report: %v", r.Err)
	}
	if r := s.Apply(idx+3, &Report{Header: h(), Group: "db", Node: "n2", Epoch: idx + 1, State: StateOnline}); !errors.Is(r.Err, ErrNotOwner) {
		t.Fatalf("report by non-owner: %v", r.Err)
	}
	if r := s.Apply(idx+4, &Report{Header: h(), Group: "db", Node: "n1", Epoch: idx + 1, State: StateOnline}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if s.Groups["db"].Status.State != StateOnline {
		t.Fatalf("not online: %+v", s.Groups["db"].Status)
	}
	// An active group cannot be assigned without a fence.
	if r := s.Apply(idx+5, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: idx + 1, Cause: CausePlacement}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("assign over active owner: %v", r.Err)
	}
}

func TestWitnessAndStrangersNeverOwn(t *testing.T) {
	s, idx := seeded(t)
	for _, to := range []string{"w1", "nobody"} {
		idx++
		if r := s.Apply(idx, &Assign{Header: h(), Group: "db", To: to, Cause: CausePlacement}); !errors.Is(r.Err, ErrNotEligible) {
			t.Fatalf("assign to %s: %v", to, r.Err)
		}
		idx++
		if r := s.Apply(idx, &BeginTransfer{Header: h(), Group: "db", To: to}); !errors.Is(r.Err, ErrNotEligible) {
			t.Fatalf("transfer to %s: %v", to, r.Err)
		}
	}
	idx++
	r := s.Apply(idx, &ApplyGroups{Header: h(), Groups: []GroupSpec{{Name: "x", Nodes: []string{"w1"}}}})
	if !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("group on witness accepted: %v", r.Err)
	}
	if _, ok := s.Groups["x"]; ok {
		t.Fatal("invalid group was half-applied")
	}
}

func TestApplyGroupsAllOrNothing(t *testing.T) {
	s, idx := seeded(t)
	before := s.Clone()
	r := s.Apply(idx+1, &ApplyGroups{Header: h(), Groups: []GroupSpec{
		{Name: "ok", Nodes: []string{"n1"}},
		{Name: "bad", Nodes: []string{"n9"}},
	}})
	if r.Err == nil {
		t.Fatal("expected an error")
	}
	if _, ok := s.Groups["ok"]; ok {
		t.Fatal("the valid half of a rejected apply was applied")
	}
	if len(s.Events) != len(before.Events) {
		t.Fatal("a rejected apply wrote events")
	}
}

func TestPlannedTransfer(t *testing.T) {
	s, idx := seeded(t)
	idx++
	e1 := s.Apply(idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	idx++
	s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateOnline})
	idx++
	if r := s.Apply(idx, &BeginTransfer{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	if st.State != StateStopping || st.Owner != "n1" || st.Target != "n2" || st.Epoch != e1 {
		t.Fatalf("after begin: %+v", st)
	}
	// A second transfer while stopping is refused.
	idx++
	if r := s.Apply(idx, &BeginTransfer{Header: h(), Group: "db", To: "n1", ExpectEpoch: e1}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("transfer while stopping: %v", r.Err)
	}
	idx++
	r := s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateOffline})
	if r.Err != nil || r.Epoch != idx {
		t.Fatalf("stopped: %+v", r)
	}
	st = s.Groups["db"].Status
	if st.Owner != "n2" || st.Epoch != idx || st.State != StateStarting || st.Epoch <= e1 {
		t.Fatalf("after stop: %+v", st)
	}
}

func TestFencedTakeover(t *testing.T) {
	s, idx := seeded(t)
	idx++
	e1 := s.Apply(idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}).Epoch
	idx++
	r := s.Apply(idx, &Assign{Header: h(), Group: "db", To: "n2", ExpectEpoch: e1, Fence: true, Cause: "node-lost"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	if st.State != StateFencing || st.FenceNode != "n1" || st.FenceInstance != "i-0000000000000001" || st.Owner != "n2" {
		t.Fatalf("takeover: %+v", st)
	}
	// Not online before fenced.
	idx++
	if r := s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n2", Epoch: st.Epoch, State: StateOnline}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("online while fencing: %v", r.Err)
	}
	// The old owner's reports are stale.
	idx++
	if r := s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: e1, State: StateOnline}); !errors.Is(r.Err, ErrStaleEpoch) {
		t.Fatalf("old owner report: %v", r.Err)
	}
	idx++
	if r := s.Apply(idx, &Fenced{Header: h(), Group: "db", Node: "n2", Epoch: st.Epoch, Method: "aws-stop"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if s.Groups["db"].Status.State != StateStarting {
		t.Fatalf("after fenced: %+v", s.Groups["db"].Status)
	}
}

func TestMemberRoleIsFixedAndRemoveRefusedForOwner(t *testing.T) {
	s, idx := seeded(t)
	idx++
	if r := s.Apply(idx, &UpsertMember{Header: h(), Member: Member{ID: "w1", Role: RoleNode}}); !errors.Is(r.Err, ErrRoleMismatch) {
		t.Fatalf("role change: %v", r.Err)
	}
	idx++
	s.Apply(idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement})
	idx++
	if r := s.Apply(idx, &RemoveMember{Header: h(), ID: "n1"}); !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("remove owner: %v", r.Err)
	}
	idx++
	if r := s.Apply(idx, &RemoveMember{Header: h(), ID: "n2"}); r.Err != nil {
		t.Fatal(r.Err)
	}
}

func TestEventsBounded(t *testing.T) {
	s := NewState()
	for i := 1; i <= MaxEvents+50; i++ {
		s.Apply(uint64(i), &Note{Header: h(), Kind: "x", Reason: "r"})
	}
	if len(s.Events) != MaxEvents {
		t.Fatalf("%d events", len(s.Events))
	}
	if s.Events[0].Seq != 51 || s.NextSeq != MaxEvents+51 {
		t.Fatalf("oldest seq %d next %d", s.Events[0].Seq, s.NextSeq)
	}
}

func TestDecodeUnknown(t *testing.T) {
	if _, err := Decode([]byte{42, 1, '{', '}'}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown type: %v", err)
	}
	if c, err := Decode([]byte{byte(FlagIgnorable | 42), 1, '{', '}'}); c != nil || err != nil {
		t.Fatalf("ignorable: %v %v", c, err)
	}
	if _, err := Decode([]byte{byte(CmdNote), Version + 1, '{', '}'}); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("newer version: %v", err)
	}
}
