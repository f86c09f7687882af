package fsm

import "time"

// Timing is how long the steps of an ownership change took, each measured
// by the member that took it, on its own clock. It rides on the commands
// that end a step (Fenced, an online Report) and is copied to their event
// (and, for a takeover, filled from the Assign's FenceSilence), so that
// `raftha why` can split a failover's time into detection, fence, resource
// starts and the agent's own overhead. A zero field was not measured; a
// member from before Timing records none. Display only: nothing in the
// state depends on it.
type Timing struct {
	// Silence (takeover event) is how long the leader had not heard from
	// the lost owner when it declared it lost: the detection time.
	Silence time.Duration `json:"silence,omitempty"`
	// SeenBefore (Fenced) is how long before it proposed the Fenced the
	// winner first saw the takeover (its worker's first fencing pass).
	SeenBefore time.Duration `json:"seen_before,omitempty"`
	// Confirm is the time spent in leader confirmations of ownership:
	// before fencing (Fenced), before each resource start (online
	// Report).
	Confirm time.Duration `json:"confirm,omitempty"`
	// Fence (Fenced) is the fence, from the first attempt at the epoch
	// to the last one's success (failed attempts and their backoff
	// included); for lease-only, the wait since the takeover was seen.
	Fence time.Duration `json:"fence,omitempty"`
	// FenceCommit (online Report) is how long the commit of the winner's
	// Fenced took (the Raft round trip through the leader).
	FenceCommit time.Duration `json:"fence_commit,omitempty"`
	// BeganBefore (online Report) is how long before it proposed the
	// online report the owner began starting the group at this epoch.
	BeganBefore time.Duration `json:"began_before,omitempty"`
	// Start (online Report) is the time spent in the resources' Start
	// calls at this epoch (every attempt).
	Start time.Duration `json:"start,omitempty"`
	// Record (online Report) is the time spent writing the run record
	// (durably) before the first start.
	Record time.Duration `json:"record,omitempty"`
	// SlotWait (online Report) is how long the start waited for one of
	// the node's start slots (owner.MaxConcurrentStarts): when many
	// groups start at once, the later ones queue.
	SlotWait time.Duration `json:"slot_wait,omitempty"`
}
