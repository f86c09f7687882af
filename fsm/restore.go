package fsm

import (
	"fmt"
	"time"
)

// KindRestored is the event a snapshot restore records for every group
// that was active in the snapshot: it is restored offline at its epoch
// and placed again at a new one.
const KindRestored EventKind = "restored"

// PrepareRestore turns st, a state read from a snapshot file, into the
// state a restore installs at Raft index index (which must exceed every
// epoch in st). It is pure; at is the restoring leader's clock, by who
// asked. It returns the groups that were active.
//
// Nothing may act for a group at an epoch a restore brought back: the
// cluster that wrote the snapshot may have moved the group since, at a
// higher epoch (a disk lock, a script holds it), and another node of this
// cluster may have run it. So a group that was active (starting, online,
// stopping, fencing) is restored offline, without owner, its epoch and
// history kept; the leader places it again at an epoch above index. A
// group that failed, or whose stop failed, keeps its state (a stop-failed
// group still moves only by a fenced takeover or an operator override;
// its owner acts, if at all, only by fencing first).
// st.Index becomes index: the restored state is the log's up to there.
func PrepareRestore(st *State, index uint64, at time.Time, by string) []string {
	var active []string
	h := Header{At: at, By: by}
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		gs := &g.Status
		if !gs.Active() || gs.StopFailed || gs.FenceStopFailed {
			continue // nothing runs, or only a fence or an override may move it
		}
		active = append(active, name)
		reason := fmt.Sprintf("restored from a snapshot: was %s on %s at epoch %d; placed again at a new epoch", gs.State, gs.Owner, gs.Epoch)
		st.event(index, h, Event{Kind: KindRestored, Group: name, From: gs.Owner, Epoch: gs.Epoch, Reason: reason})
		*gs = GroupStatus{Epoch: gs.Epoch, State: StateOffline, Reason: reason, Since: at, FailedOn: gs.FailedOn, Suspended: gs.Suspended}
	}
	st.Index = index
	return active
}
