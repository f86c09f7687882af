package fsm

import (
	"testing"
	"time"
)

// TestPrepareRestoreOffline: an active group comes back offline, without
// owner, at its epoch, with a restored event; a failed group and a
// stop-failed one keep their state; the state's index is the restore's.
func TestPrepareRestoreOffline(t *testing.T) {
	st := NewState()
	st.Groups["a"] = &Group{Spec: GroupSpec{Name: "a", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 7, State: StateOnline, Suspended: true}}
	st.Groups["b"] = &Group{Spec: GroupSpec{Name: "b", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 5, State: StateFailed, FailedOn: []string{"n1"}}}
	st.Groups["c"] = &Group{Spec: GroupSpec{Name: "c", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 6, State: StateFailed, StopFailed: true}}
	st.Index = 9
	at := time.Unix(100, 0).UTC()
	got := PrepareRestore(st, 1000009, at, "alice")
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("active groups %v; want [a]", got)
	}
	if a := st.Groups["a"].Status; a.State != StateOffline || a.Owner != "" || a.Epoch != 7 || !a.Suspended || !a.Since.Equal(at) {
		t.Fatalf("a after restore: %+v", a)
	}
	if b := st.Groups["b"].Status; b.State != StateFailed || b.Owner != "n1" || b.Epoch != 5 {
		t.Fatalf("b after restore: %+v", b)
	}
	if c := st.Groups["c"].Status; c.State != StateFailed || !c.StopFailed || c.Owner != "n1" {
		t.Fatalf("c after restore: %+v", c)
	}
	if st.Index != 1000009 || len(st.Events) != 1 {
		t.Fatalf("index %d, events %+v", st.Index, st.Events)
	}
	if e := st.Events[0]; e.Kind != KindRestored || e.Group != "a" || e.From != "n1" || e.Epoch != 7 || e.Index != 1000009 || e.By != "alice" {
		t.Fatalf("event %+v", e)
	}
}
