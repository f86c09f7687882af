package resources

import "context"

// FenceChecker is implemented by resources that guard shared storage with
// a fencing record of their own (the disk resource's lock_device): a
// record outside raftha that a newer owner overwrites with its higher
// epoch. While this node holds the group, the agent calls CheckFence
// every heartbeat, apart from the monitor (it needs no leader
// confirmation, so it still runs when this node is cut off from the
// leader).
//
// A non-nil error means this node must give the group up at once: the
// agent stops the group's resources through its self-fence path (and
// takes fencing.self_fence_action if the stop fails within
// fencing.stop_deadline), without waiting for its lease to run out. A
// resource that merely failed to read its record once must return nil
// until its own grace ends, then an error.
type FenceChecker interface {
	// CheckFence re-reads the fencing record for tok (bounded by ctx and
	// by the resource's own I/O deadline).
	CheckFence(ctx context.Context, tok Token) error
}
