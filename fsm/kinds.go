package fsm

// Event kinds and causes of the fencing escapes and fence bookkeeping.
// They are part of the log and of the API: never rename.
const (
	// KindFenceInstanceAdded records that the node a group is fencing
	// reported a new instance id, added to the ids the winner must fence.
	KindFenceInstanceAdded = "fence-instance-added"
	// KindFenceTargetCheck records that the leader asked the node to
	// fence to prove, by a heartbeat sent after this event, that it runs
	// nothing for the group before it may take the group back.
	KindFenceTargetCheck = "fence-target-check"
	// KindFenceOverride records an operator's FenceOverride: who accepted
	// the risk and why.
	KindFenceOverride = "fence-override"
	// CauseFenceTargetIdle is the Assign cause of a takeover back to the
	// node being fenced, which proved by heartbeat that it runs nothing
	// for the group (Assign.TargetIdle).
	CauseFenceTargetIdle = "fence-target-idle"
	// CauseOperator is the cause of an operator's fence override.
	CauseOperator = "operator"
)
