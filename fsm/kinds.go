package fsm

// The protocol words of the log: event kinds, ownership causes and fencing
// modes. They are string types so that their JSON spelling is the word
// itself; the spellings are part of the log and of the API: never rename.

// EventKind is what an Event records (Event.Kind, Note.Kind).
type EventKind string

// Event kinds recorded by Apply.
const (
	// KindMemberAdded records a new member (UpsertMember).
	KindMemberAdded EventKind = "member-added"
	// KindMemberUpdated records a member's changed addresses.
	KindMemberUpdated EventKind = "member-updated"
	// KindMemberRemoved records RemoveMember.
	KindMemberRemoved EventKind = "member-removed"
	// KindGroupCreated records a group new in an ApplyGroups.
	KindGroupCreated EventKind = "group-created"
	// KindGroupUpdated records a group replaced by an ApplyGroups.
	KindGroupUpdated EventKind = "group-updated"
	// KindGroupDeleted records DeleteGroup.
	KindGroupDeleted EventKind = "group-deleted"
	// KindAssigned records a group given to a node without a fence.
	KindAssigned EventKind = "assigned"
	// KindTakeover records a group given to a node that must fence first
	// (or, with CauseFenceTargetIdle, returned to the node it fenced).
	KindTakeover EventKind = "takeover"
	// KindStopping records the start of a planned move or a stop.
	KindStopping EventKind = "stopping"
	// KindStopped records the owner's report that the group is stopped.
	KindStopped EventKind = "stopped"
	// KindOnline records the owner's report that the group is online.
	KindOnline EventKind = "online"
	// KindFailed records the owner's report that the group failed.
	KindFailed EventKind = "failed"
	// KindFenced records that the winner fenced the previous owner; the
	// event's Cause is the fencing mode.
	KindFenced EventKind = "fenced"
	// KindSuspended records SetSuspended(true).
	KindSuspended EventKind = "suspended"
	// KindResumed records SetSuspended(false).
	KindResumed EventKind = "resumed"
	// KindSettingsSeeded records the first cluster settings.
	KindSettingsSeeded EventKind = "settings-seeded"
	// KindSettingsChanged records an operator's change of the settings.
	KindSettingsChanged EventKind = "settings-changed"
	// KindFenceInstanceAdded records that the node a group is fencing
	// reported a new instance id, added to the ids the winner must fence.
	KindFenceInstanceAdded EventKind = "fence-instance-added"
	// KindFenceTargetCheck records that the leader asked the node to
	// fence to prove, by a heartbeat sent after this event, that it runs
	// nothing for the group before it may take the group back.
	KindFenceTargetCheck EventKind = "fence-target-check"
	// KindFenceOverride records an operator's FenceOverride: who accepted
	// the risk and why.
	KindFenceOverride EventKind = "fence-override"
)

// Event kinds of the Notes the members write. Apply records a Note of any
// non-empty kind and never branches on it.
const (
	// KindFenceFailed notes a failed fence attempt of the winner.
	KindFenceFailed EventKind = "fence-failed"
	// KindSelfFenced notes an owner's self-fence after its lease ran out.
	KindSelfFenced EventKind = "self-fenced"
	// KindSelfFenceAction notes the self-fence action an owner takes.
	KindSelfFenceAction EventKind = "self-fence-action"
	// KindResourceRestart notes a resource restarted by its monitor.
	KindResourceRestart EventKind = "resource-restart"
	// KindNoNode notes that no healthy node can take a group over.
	KindNoNode EventKind = "no-node"
	// KindTakeoverSkipped notes a takeover not made: the group is
	// suspended.
	KindTakeoverSkipped EventKind = "takeover-skipped"
	// KindFenceTargetBusy notes that the node being fenced cannot take
	// the group back yet: it reports the group built or running.
	KindFenceTargetBusy EventKind = "fence-target-busy"
	// KindSettingsMismatch notes a member whose settings differ from the
	// cluster's.
	KindSettingsMismatch EventKind = "settings-mismatch"
	// KindStartRetry notes an owner retrying a failed start on the same
	// node at the same epoch, after stopping what it had started
	// (GroupSpec.StartRetries).
	KindStartRetry EventKind = "start-retry"
)

// Cause is why a group changed hands or stopped (Assign.Cause,
// BeginTransfer.Cause, Event.Cause). Apply refuses an Assign or a
// BeginTransfer whose cause is not one of the move causes below
// (Cause.Moves). A new cause must therefore come with a new payload
// Version: an older replica must stop on it (Decode), never refuse it
// while newer ones apply it.
type Cause string

// Move causes: the causes an Assign or BeginTransfer may carry.
const (
	// CausePlacement is the leader placing an offline group on the first
	// healthy node of its list.
	CausePlacement Cause = "placement"
	// CausePlanned is an operator's transfer; it clears FailedOn. It is
	// also the cause of a BeginTransfer without one.
	CausePlanned Cause = "planned"
	// CauseFailback is the leader moving a group back to its preferred
	// node.
	CauseFailback Cause = "failback"
	// CauseShutdown is the leader moving a group off a leaving member.
	CauseShutdown Cause = "shutdown"
	// CauseNodesChanged is the leader moving a group off a node that is no
	// longer in its nodes.
	CauseNodesChanged Cause = "nodes-changed"
	// CauseNodeLost is a fenced takeover from an owner the leader lost.
	CauseNodeLost Cause = "node-lost"
	// CauseStopFailed is a fenced takeover from an owner that could not
	// stop the group.
	CauseStopFailed Cause = "stop-failed"
	// CauseFailure is a move away from a node where the group failed.
	CauseFailure Cause = "failure"
	// CauseFenceTargetIdle is the Assign cause of a takeover back to the
	// node being fenced, which proved by heartbeat that it runs nothing
	// for the group (Assign.TargetIdle).
	CauseFenceTargetIdle Cause = "fence-target-idle"
)

// Causes Apply records in events but that no command carries.
const (
	// CauseStop is the cause of the stopping event of a stop
	// (BeginTransfer without a destination).
	CauseStop Cause = "stop"
	// CauseOperator is the cause of an operator's fence override.
	CauseOperator Cause = "operator"
	// CauseAutoRetry is the cause of the assigned event of a RetryFailed:
	// the leader placing again a group that failed on every node, once
	// GroupSpec.RetryFailedAfter has passed. It is not a move cause: only
	// the RetryFailed command (a type older builds stop on) records it.
	CauseAutoRetry Cause = "auto-retry"
)

// Moves reports whether c is a move cause, one an Assign or BeginTransfer
// may carry.
func (c Cause) Moves() bool {
	switch c {
	case CausePlacement, CausePlanned, CauseFailback, CauseShutdown, CauseNodesChanged,
		CauseNodeLost, CauseStopFailed, CauseFailure, CauseFenceTargetIdle:
		return true
	}
	return false
}

// NeedsFence reports whether a move of cause c takes the group from an
// owner that may still run it, so the winner fences it first.
func (c Cause) NeedsFence() bool { return c == CauseNodeLost || c == CauseStopFailed }

// FencingMode is how a winner fences the previous owner
// (ClusterSettings.FencingMode, Fenced.Method, and the Cause of a fenced
// event).
type FencingMode string

const (
	// FencingAWSStop stops the previous owner's EC2 instances and
	// verifies they are stopped.
	FencingAWSStop FencingMode = "aws-stop"
	// FencingLeaseOnly waits until the previous owner's lease has run out
	// and it has self-fenced.
	FencingLeaseOnly FencingMode = "lease-only"
)
