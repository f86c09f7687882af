// Package owner owns what this node runs: the runner and its workers, the owner lease, self-fencing, the watchdog, monitors and the fence calls of a takeover's winner.
package owner

import "context"

// Host is what the owner role needs from the rest of the agent. The
// server implements it (server/role_owner.go); the calls that reach the
// leader are cluster RPCs made there, never here.
type Host interface {
	// Heartbeat sends one heartbeat of this member to the leader (on the
	// lease lane) and returns the groups, with their epochs, that the
	// leader confirmed this member owns, and the leader's id.
	Heartbeat(ctx context.Context) (owned map[string]uint64, leader string, err error)
}
