package fsm

import (
	"fmt"
	"time"
)

// KindRestored is the event a snapshot restore records for every group
// that was active in the snapshot: it is restored offline at its epoch
// and placed again at a new one.
const KindRestored EventKind = "restored"

// KindRecovered is the event a lost-quorum recovery records for every
// group it gives a new epoch (RegrantForRecovery).
const KindRecovered EventKind = "recovered"

// PrepareRestore turns st, a state read from a snapshot file, into the
// state a restore installs at Raft index index (which must exceed every
// epoch in st) in the running cluster whose state is cur. It is pure; at
// is the restoring leader's clock, by who asked. It returns the groups
// that were active.
//
// Nothing may act for a group at an epoch a restore brought back: the
// cluster that wrote the snapshot may have moved the group since, at a
// higher epoch (a disk lock, a script holds it), and another node of this
// cluster may have run it. The restore runs only while every group of the
// running cluster is stopped, so nothing runs here and no fence the
// snapshot recorded is owed here. So every group is restored offline,
// without owner and suspended (as the operator left the running cluster),
// its epoch and history kept; `raftha group start` places it again at an
// epoch above index. Suspension also closes the window between the
// leader's check that every group is stopped and the restore itself: a
// group that a concurrent command started in it is stopped by its owner
// when the restored state reaches it (its heartbeat reply no longer gives
// it the group, or its lease runs out), and nobody else starts it until
// an operator does.
//
// The members and the event numbering stay the running cluster's: the
// Raft membership is not restored, fences must name the instances of the
// members that run now, and event numbers never go back (hooks follow
// them).
// st.Index becomes index: the restored state is the log's up to there.
func PrepareRestore(st, cur *State, index uint64, at time.Time, by string) []string {
	var active []string
	h := Header{At: at, By: by}
	if cur != nil {
		st.Members = make(map[string]*Member, len(cur.Members))
		for id, m := range cur.Members {
			mm := *m
			st.Members[id] = &mm
		}
		st.NextSeq = max(st.NextSeq, cur.NextSeq)
	}
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		gs := &g.Status
		if gs.Active() || gs.StopFailed || gs.FenceStopFailed {
			active = append(active, name)
			reason := fmt.Sprintf("restored from a snapshot: was %s on %s at epoch %d; start it to place it again at a new epoch", gs.State, gs.Owner, gs.Epoch)
			st.event(index, h, Event{Kind: KindRestored, Group: name, From: gs.Owner, Epoch: gs.Epoch, Reason: reason})
			*gs = GroupStatus{Epoch: gs.Epoch, State: StateOffline, Reason: reason, Since: at, FailedOn: gs.FailedOn}
		}
		gs.Suspended = true
	}
	st.Index = index
	return active
}

// RegrantForRecovery gives every group that is active or owes a fence
// (starting, online, stopping, fencing, or failed with a stop that
// failed) the epoch index, the index of a lost-quorum recovery's
// snapshot, above every epoch the lost members could have granted. Owner,
// state and fence target are kept: a survivor that owns a group acts for
// it again only at the new epoch (a disk lock then refuses the lost
// members' lower ones), a winner still fencing fences before it starts,
// and a group owned by a lost member is taken over with a fence as
// before. Without it a survivor could run a group again at an epoch
// below one a lost member already used. It returns the groups changed.
func RegrantForRecovery(st *State, index uint64, at time.Time) []string {
	var changed []string
	h := Header{At: at, By: "recover"}
	for _, name := range st.GroupNames() {
		gs := &st.Groups[name].Status
		if !gs.Active() && !gs.StopFailed {
			continue
		}
		changed = append(changed, name)
		st.event(index, h, Event{Kind: KindRecovered, Group: name, From: gs.Owner, To: gs.Owner, Epoch: index,
			Reason: fmt.Sprintf("lost-quorum recovery: %s on %s moved from epoch %d to %d", gs.State, gs.Owner, gs.Epoch, index)})
		gs.Epoch = index
	}
	return changed
}
