package api

import (
	"time"

	"github.com/raftha/raftha/fsm"
)

// HookEvent is the JSON body a `url:` hook POSTs (Content-Type
// application/json): the event that ran the hook, as the member that
// runs it saw it. The fields are those of a command hook's RAFTHA_*
// environment.
type HookEvent struct {
	// Hook is the hook's name (hooks[].name).
	Hook string `json:"hook"`
	// Kind is the event kind (assigned, takeover, online, failed, ...).
	Kind fsm.EventKind `json:"kind"`
	// Group is the group concerned.
	Group string `json:"group"`
	// Node is the member that runs the hook: the one the event concerns.
	Node string `json:"node"`
	// Epoch is the group's epoch the event belongs to.
	Epoch uint64 `json:"epoch"`
	// Cause is why ownership changed (placement, planned, node-lost, ...)
	// or, for fenced, the fencing mode; "" when the kind has none.
	Cause fsm.Cause `json:"cause"`
	// Reason is the event's free-text explanation.
	Reason string `json:"reason,omitempty"`
	// From is the previous owner (assigned, takeover, stopping, fenced).
	From string `json:"from,omitempty"`
	// To is the new owner or a move's target.
	To string `json:"to,omitempty"`
	// Seq numbers the event in the cluster's history (0 for a self-fence
	// noted before it reached the log).
	Seq uint64 `json:"seq"`
	// Time is when the event was recorded (the proposer's clock).
	Time time.Time `json:"time"`
}
