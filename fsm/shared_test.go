package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestSharedIsOneCopyPerChange: Shared hands every caller the same copy
// until the state changes, then a new one with the change, and the copy
// is not the live state (a later change does not show through it).
func TestSharedIsOneCopyPerChange(t *testing.T) {
	f := New()
	apply := func(i uint64, id string) {
		data, err := Encode(&UpsertMember{Header: Header{By: "test"}, Member: Member{ID: id, Role: RoleNode, Address: "127.0.0.1:1"}})
		if err != nil {
			t.Fatal(err)
		}
		f.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: data})
	}
	apply(1, "n1")
	a, b := f.Shared(), f.Shared()
	if a != b {
		t.Fatal("two reads of an unchanged state made two copies")
	}
	apply(2, "n2")
	c := f.Shared()
	if c == a {
		t.Fatal("Shared returned the old copy after a change")
	}
	if _, ok := c.Members["n2"]; !ok || c.Index != 2 {
		t.Fatalf("new copy lacks the change: index %d, members %v", c.Index, c.MemberIDs())
	}
	if _, ok := a.Members["n2"]; ok || a.Index != 1 {
		t.Fatalf("old copy changed under its reader: index %d, members %v", a.Index, a.MemberIDs())
	}
	f.StoreConfiguration(3, raft.Configuration{})
	if d := f.Shared(); d == c || d.Index != 3 {
		t.Fatalf("a configuration change did not renew the copy (index %d)", d.Index)
	}
}
