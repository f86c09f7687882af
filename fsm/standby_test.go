package fsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// onlineOn returns the seeded state with db online on n1; idx is the last
// index applied and the group's epoch is epoch.
func onlineOn(t *testing.T) (s *State, idx, epoch uint64) {
	t.Helper()
	s, idx = seeded(t)
	idx++
	if r := s.Apply(idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}); r.Err != nil {
		t.Fatal(r.Err)
	}
	epoch = idx
	idx++
	if r := s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: epoch, State: StateOnline}); r.Err != nil {
		t.Fatal(r.Err)
	}
	return s, idx, epoch
}

// TestSetStandbyRecordsWhoAndWhen: standby and unstandby are events with
// the operator and the node; the member record carries who and since when;
// a repeated standby records nothing new.
func TestSetStandbyRecordsWhoAndWhen(t *testing.T) {
	s, idx := seeded(t)
	alice := Header{At: t0, By: "alice"}
	if r := s.Apply(idx+1, &SetStandby{Header: alice, Node: "n1", Standby: true}); r.Err != nil {
		t.Fatal(r.Err)
	}
	m := s.Members["n1"]
	if m.Standby == nil || m.Standby.By != "alice" || !m.Standby.Since.Equal(t0) || !s.OnStandby("n1") || s.OnStandby("n2") {
		t.Fatalf("member %+v standby %+v", m, m.Standby)
	}
	last := s.Events[len(s.Events)-1]
	if last.Kind != KindStandby || last.Node != "n1" || last.By != "alice" || last.Index != idx+1 {
		t.Fatalf("event %+v", last)
	}
	n := len(s.Events)
	if r := s.Apply(idx+2, &SetStandby{Header: h(), Node: "n1", Standby: true}); r.Err != nil || len(s.Events) != n || s.Members["n1"].Standby.By != "alice" {
		t.Fatalf("repeated standby: %v, events %d->%d, by %s", r.Err, n, len(s.Events), s.Members["n1"].Standby.By)
	}
	// A heartbeat's UpsertMember neither clears nor sets it.
	if r := s.Apply(idx+3, &UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, Address: "127.0.0.1:9"}}); r.Err != nil || !s.OnStandby("n1") {
		t.Fatalf("upsert cleared standby: %v", r.Err)
	}
	if r := s.Apply(idx+4, &UpsertMember{Header: h(), Member: Member{ID: "n3", Role: RoleNode, Address: "127.0.0.1:4", Standby: &Standby{By: "forged"}}}); r.Err != nil || s.OnStandby("n3") {
		t.Fatalf("upsert set standby: %v", r.Err)
	}
	if r := s.Apply(idx+5, &SetStandby{Header: Header{At: t0, By: "bob"}, Node: "n1"}); r.Err != nil || s.OnStandby("n1") {
		t.Fatalf("unstandby: %v", r.Err)
	}
	if last := s.Events[len(s.Events)-1]; last.Kind != KindUnstandby || last.By != "bob" || last.Node != "n1" {
		t.Fatalf("event %+v", last)
	}
	// Snapshot round trip keeps the mark.
	s.Apply(idx+6, &SetStandby{Header: alice, Node: "n2", Standby: true})
	c := s.Clone()
	if !c.OnStandby("n2") || c.OnStandby("n1") {
		t.Fatal("clone lost the standby mark")
	}
}

// TestSetStandbyRefusals: a witness (nothing to move) and an unknown
// member are refused with sentinels, and change nothing.
func TestSetStandbyRefusals(t *testing.T) {
	s, idx := seeded(t)
	n := len(s.Events)
	r := s.Apply(idx+1, &SetStandby{Header: h(), Node: "w1", Standby: true})
	if !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "witness") || s.OnStandby("w1") {
		t.Fatalf("witness standby: %v", r.Err)
	}
	r = s.Apply(idx+2, &SetStandby{Header: h(), Node: "n9", Standby: true})
	if !errors.Is(r.Err, ErrNoMember) || !strings.Contains(r.Err.Error(), "n9") {
		t.Fatalf("unknown member: %v", r.Err)
	}
	if len(s.Events) != n {
		t.Fatalf("refusals recorded events: %d -> %d", n, len(s.Events))
	}
}

// TestStandbyMoveIsAPlannedMove: the move goes through stopping (cause
// standby) and the old owner's offline report hands it to the target at a
// new epoch, without a fence; FailedOn is kept (not an operator's move).
func TestStandbyMoveIsAPlannedMove(t *testing.T) {
	s, idx, epoch := onlineOn(t)
	s.Groups["db"].Status.FailedOn = []string{"n3"}
	idx++
	s.Apply(idx, &SetStandby{Header: Header{At: t0, By: "alice"}, Node: "n1", Standby: true})
	idx++
	if r := s.Apply(idx, &StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch}); r.Err != nil {
		t.Fatal(r.Err)
	}
	st := s.Groups["db"].Status
	if st.State != StateStopping || st.Target != "n2" || st.Owner != "n1" || st.Epoch != epoch || len(st.FailedOn) != 1 {
		t.Fatalf("status %+v", st)
	}
	ev := s.Events[len(s.Events)-1]
	if ev.Kind != KindStopping || ev.Cause != CauseStandby || ev.From != "n1" || ev.To != "n2" || !strings.Contains(ev.Reason, "by alice") {
		t.Fatalf("event %+v", ev)
	}
	idx++
	if r := s.Apply(idx, &Report{Header: h(), Group: "db", Node: "n1", Epoch: epoch, State: StateOffline}); r.Err != nil {
		t.Fatal(r.Err)
	}
	st = s.Groups["db"].Status
	if st.Owner != "n2" || st.State != StateStarting || st.Epoch != idx || st.FenceNode != "" {
		t.Fatalf("after stop: %+v", st)
	}
}

// TestStandbyMoveRefusals: only off a standby owner, only onto a node that
// is not on standby and may own the group, only while online or starting,
// never for a suspended group or at a stale epoch.
func TestStandbyMoveRefusals(t *testing.T) {
	s, idx, epoch := onlineOn(t)
	try := func(c *StandbyMove, want error) {
		t.Helper()
		idx++
		before := s.Groups["db"].Status
		if r := s.Apply(idx, c); !errors.Is(r.Err, want) {
			t.Fatalf("%+v: got %v, want %v", c, r.Err, want)
		}
		if after := s.Groups["db"].Status; after.State != before.State || after.Target != before.Target {
			t.Fatalf("refused move changed the group: %+v", after)
		}
	}
	try(&StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch}, ErrInvalid) // owner not on standby
	idx++
	s.Apply(idx, &SetStandby{Header: h(), Node: "n1", Standby: true})
	try(&StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch - 1}, ErrStaleEpoch)
	try(&StandbyMove{Header: h(), Group: "nope", To: "n2", ExpectEpoch: epoch}, ErrNoGroup)
	try(&StandbyMove{Header: h(), Group: "db", To: "w1", ExpectEpoch: epoch}, ErrNotEligible)
	try(&StandbyMove{Header: h(), Group: "db", To: "n1", ExpectEpoch: epoch}, ErrInvalid)
	idx++
	s.Apply(idx, &SetStandby{Header: h(), Node: "n2", Standby: true})
	try(&StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch}, ErrNotEligible)
	idx++
	s.Apply(idx, &SetStandby{Header: h(), Node: "n2"})
	idx++
	s.Apply(idx, &SetSuspended{Header: h(), Group: "db", Suspended: true})
	try(&StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch}, ErrBusy)
	idx++
	s.Apply(idx, &SetSuspended{Header: h(), Group: "db"})
	idx++
	s.Apply(idx, &BeginTransfer{Header: h(), Group: "db", ExpectEpoch: epoch}) // a stop: stopping
	try(&StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: epoch}, ErrBusy)
	// The cause is not a move cause: a BeginTransfer or Assign with it is
	// refused, so only StandbyMove (a type older builds stop on) records it.
	if CauseStandby.Moves() {
		t.Fatal("standby is a move cause")
	}
}

// TestStandbyCommandsRoundTrip: both commands decode to what was encoded.
func TestStandbyCommandsRoundTrip(t *testing.T) {
	for _, c := range []Command{&SetStandby{Header: h(), Node: "n1", Standby: true}, &StandbyMove{Header: h(), Group: "db", To: "n2", ExpectEpoch: 7}} {
		b := MustEncode(c)
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if again := MustEncode(d); !bytes.Equal(again, b) || d.Type() != c.Type() {
			t.Fatalf("%T: %s != %s", c, again, b)
		}
	}
}
