// Package owner owns what this node runs: the runner and its workers, the owner lease, self-fencing, the watchdog, monitors and the fence calls of a takeover's winner.
package owner

import (
	"context"

	"github.com/raftha/raftha/fsm"
)

// Host is what the owner role needs from the rest of the agent. The
// server implements it (server/role_owner.go); the calls that reach the
// leader are cluster RPCs made there, never here.
type Host interface {
	// Heartbeat sends one heartbeat of this member to the leader (on the
	// lease lane) and returns the groups, with their epochs, that the
	// leader confirmed this member owns, and the leader's id.
	Heartbeat(ctx context.Context) (owned map[string]uint64, leader string, err error)
	// Confirm asks the leader, linearizably, whether this node owns group
	// at epoch (on the lease lane).
	Confirm(ctx context.Context, group string, epoch uint64) error
	// Commit proposes c through the leader and returns its log index.
	Commit(ctx context.Context, c fsm.Command) (uint64, error)
	// Header is the header of a command this member proposes itself.
	Header() fsm.Header
	// RecordEventually queues n's hooks and commits n in the background,
	// retrying until it lands or the member stops (a cut-off member
	// cannot commit it now).
	RecordEventually(n *fsm.Note)
	// Go runs fn on a goroutine the member waits for when it stops
	// (nothing once it is stopping).
	Go(fn func())
	// Exit ends the process (self_fence_action exit, or when the sysrq
	// trigger fails).
	Exit(code int)
}
