package fsm

import (
	"bytes"
	"testing"
	"time"
)

// TestRestoreFencingStopFailedNotStartedAtOldEpoch: a snapshot group
// mid-takeover whose previous owner's stop had failed (fencing +
// FenceStopFailed) must not be fenced and started by its winner at the
// snapshot's epoch, below the restore index (found by an adversarial
// review: PrepareRestore kept such groups as they were).
func TestRestoreFencingStopFailedNotStartedAtOldEpoch(t *testing.T) {
	st := NewState()
	st.Groups["g"] = &Group{Spec: GroupSpec{Name: "g", Nodes: []string{"n1", "n2"}}, Status: GroupStatus{Owner: "n2", Epoch: 40, State: StateFencing, FenceNode: "n1", FenceInstance: "i-old", FenceInstances: []string{"i-old"}, FenceStopFailed: true}}
	st.Index = 50
	idx := uint64(1_000_050)
	active := PrepareRestore(st, nil, idx, time.Unix(1, 0), "op")
	t.Logf("active (placed again) %v", active)
	r := st.Apply(idx+5, &Fenced{Header: Header{At: time.Unix(2, 0)}, Group: "g", Node: "n2", Epoch: 40, Method: "aws-stop", Instances: []string{"i-old"}})
	gs := st.Groups["g"].Status
	t.Logf("after Fenced at index %d: result %+v status owner=%s state=%s epoch=%d", idx+5, r, gs.Owner, gs.State, gs.Epoch)
	if gs.Active() && gs.Epoch < idx {
		t.Errorf("group g is %s on %s at epoch %d < restore index %d", gs.State, gs.Owner, gs.Epoch, idx)
	}
}

// TestRestoreRefusesNullMember: a snapshot payload with a null member
// (valid checksum, forged content) is refused when read, instead of
// panicking every later View of every member that installs it.
func TestRestoreRefusesNullMember(t *testing.T) {
	for _, payload := range []string{`{"members":{"n9":null},"groups":{}}`, `{"members":{},"groups":{"g":null}}`} {
		if _, err := ReadSnapshot(bytes.NewReader(append([]byte{1}, payload...))); err == nil {
			t.Errorf("ReadSnapshot(%s) accepted a null entry", payload)
		}
	}
}
