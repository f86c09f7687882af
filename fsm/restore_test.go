package fsm

import (
	"strings"
	"testing"
	"time"
)

// TestPrepareRestoreOffline: every group that is active or owes a fence
// (online, failed with a failed stop, fencing with a failed stop) comes
// back offline, without owner, at its epoch, with a restored event; a
// failed group keeps its state; every group is suspended; the members and
// the event numbering are the running cluster's; the state's index is the
// restore's.
func TestPrepareRestoreOffline(t *testing.T) {
	st := NewState()
	st.Groups["a"] = &Group{Spec: GroupSpec{Name: "a", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 7, State: StateOnline}}
	st.Groups["b"] = &Group{Spec: GroupSpec{Name: "b", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 5, State: StateFailed, FailedOn: []string{"n1"}}}
	st.Groups["c"] = &Group{Spec: GroupSpec{Name: "c", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 6, State: StateFailed, StopFailed: true}}
	st.Groups["d"] = &Group{Spec: GroupSpec{Name: "d", Nodes: []string{"n1", "n2"}}, Status: GroupStatus{Owner: "n2", Epoch: 8, State: StateFencing, FenceNode: "n1", FenceInstance: "i-old", FenceInstances: []string{"i-old"}, FenceStopFailed: true}}
	st.Members["old"] = &Member{ID: "old", InstanceID: "i-old"}
	st.NextSeq = 3
	st.Index = 9
	cur := NewState()
	cur.Members["n1"] = &Member{ID: "n1", InstanceID: "i-n1"}
	cur.NextSeq = 40
	at := time.Unix(100, 0).UTC()
	got := PrepareRestore(st, cur, 1000009, at, "alice")
	if strings.Join(got, ",") != "a,c,d" {
		t.Fatalf("replaced groups %v; want [a c d]", got)
	}
	for _, name := range []string{"a", "c", "d"} {
		g := st.Groups[name].Status
		if g.State != StateOffline || g.Owner != "" || g.FenceNode != "" || g.StopFailed || g.FenceStopFailed || !g.Suspended || !g.Since.Equal(at) {
			t.Fatalf("%s after restore: %+v", name, g)
		}
	}
	if b := st.Groups["b"].Status; b.State != StateFailed || b.Owner != "n1" || b.Epoch != 5 || !b.Suspended {
		t.Fatalf("b after restore: %+v", b)
	}
	if len(st.Members) != 1 || st.Members["n1"] == nil || st.Members["n1"].InstanceID != "i-n1" {
		t.Fatalf("members after restore: %+v; want the running cluster's", st.Members)
	}
	if st.Index != 1000009 || len(st.Events) != 3 {
		t.Fatalf("index %d, events %+v", st.Index, st.Events)
	}
	if e := st.Events[0]; e.Kind != KindRestored || e.Group != "a" || e.From != "n1" || e.Epoch != 7 || e.Index != 1000009 || e.By != "alice" || e.Seq != 40 {
		t.Fatalf("event %+v; want restored a at seq 40 (numbering never goes back)", e)
	}
}

// TestRegrantForRecovery: a lost-quorum recovery gives every group that
// is active or owes a fence the recovery's epoch, keeping owner, state
// and fence target; offline and plainly failed groups are left alone.
func TestRegrantForRecovery(t *testing.T) {
	st := NewState()
	st.Groups["on"] = &Group{Spec: GroupSpec{Name: "on", Nodes: []string{"n3"}}, Status: GroupStatus{Owner: "n3", Epoch: 19, State: StateOnline}}
	st.Groups["fencing"] = &Group{Spec: GroupSpec{Name: "fencing", Nodes: []string{"n1", "n3"}}, Status: GroupStatus{Owner: "n3", Epoch: 20, State: StateFencing, FenceNode: "n1"}}
	st.Groups["stopfailed"] = &Group{Spec: GroupSpec{Name: "stopfailed", Nodes: []string{"n1"}}, Status: GroupStatus{Owner: "n1", Epoch: 12, State: StateFailed, StopFailed: true}}
	st.Groups["off"] = &Group{Spec: GroupSpec{Name: "off", Nodes: []string{"n3"}}, Status: GroupStatus{Epoch: 4, State: StateOffline}}
	st.Groups["failed"] = &Group{Spec: GroupSpec{Name: "failed", Nodes: []string{"n3"}}, Status: GroupStatus{Owner: "n3", Epoch: 5, State: StateFailed}}
	got := RegrantForRecovery(st, 1000022, time.Unix(5, 0))
	if strings.Join(got, ",") != "fencing,on,stopfailed" {
		t.Fatalf("regranted %v", got)
	}
	if g := st.Groups["on"].Status; g.Epoch != 1000022 || g.Owner != "n3" || g.State != StateOnline {
		t.Fatalf("on: %+v", g)
	}
	if g := st.Groups["fencing"].Status; g.Epoch != 1000022 || g.State != StateFencing || g.FenceNode != "n1" {
		t.Fatalf("fencing: %+v (the fence is still owed)", g)
	}
	if g := st.Groups["off"].Status; g.Epoch != 4 {
		t.Fatalf("off: %+v", g)
	}
	if g := st.Groups["failed"].Status; g.Epoch != 5 {
		t.Fatalf("failed: %+v", g)
	}
	// A Fenced report at the old epoch is stale now.
	r := st.Apply(1000030, &Fenced{Header: Header{At: time.Unix(6, 0)}, Group: "fencing", Node: "n3", Epoch: 20, Method: "aws-stop", Instances: []string{"i-1"}})
	if r.Err == nil {
		t.Fatalf("a fence at the pre-recovery epoch was accepted: %+v", st.Groups["fencing"].Status)
	}
}
