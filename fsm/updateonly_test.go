package fsm

import (
	"errors"
	"testing"
)

// TestUpsertMemberUpdateOnly: an update-only registration changes a known
// member and never adds an unknown (or removed) one; a plain upsert still
// adds.
func TestUpsertMemberUpdateOnly(t *testing.T) {
	s := NewState()
	if r := s.upsertMember(1, &UpsertMember{Member: Member{ID: "w4", Role: RoleWitness, Address: "10.0.0.4:7000"}, UpdateOnly: true}); !errors.Is(r.Err, ErrNoMember) {
		t.Fatalf("update-only upsert of an unknown member: %v, want ErrNoMember", r.Err)
	}
	if _, ok := s.Members["w4"]; ok {
		t.Fatal("an update-only upsert added the member")
	}
	if r := s.upsertMember(2, &UpsertMember{Member: Member{ID: "w4", Role: RoleWitness, Address: "10.0.0.4:7000"}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := s.upsertMember(3, &UpsertMember{Member: Member{ID: "w4", Role: RoleWitness, API: "10.0.0.4:8443"}, UpdateOnly: true}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := s.Members["w4"]; got.API != "10.0.0.4:8443" || got.Address != "10.0.0.4:7000" {
		t.Fatalf("after the update: %+v", got)
	}
}
