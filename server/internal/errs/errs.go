// Package errs holds the values of the server's sentinel errors, so that
// the role packages under server/internal match them with errors.Is
// without importing server. Package server re-exports each one under its
// old name (var ErrNotOwner = errs.ErrNotOwner): one value, one identity.
package errs

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrNoLeader means no leader is known: the cluster has no quorum or
	// an election is under way.
	ErrNoLeader = errors.New("no leader (the cluster has no quorum or is electing one)")
	// ErrNotLeader means a leader-only call reached a follower.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoQuorum means the leader could not confirm its leadership with a
	// majority.
	ErrNoQuorum = errors.New("no quorum: the leader cannot reach a majority of members")
	// ErrNotOwner means this node does not own the group at that epoch.
	ErrNotOwner = errors.New("not the owner at this epoch")
	// ErrRefused means a request was understood and refused (see message).
	ErrRefused = errors.New("refused")
	// ErrForbidden means the caller's identity does not allow the call: a
	// member asking for another member, a member proposing what only the
	// leader may originate, or an operator call without a caller whose role
	// may change the cluster. Nothing was applied.
	ErrForbidden = errors.New("forbidden")
	// ErrOutcomeUnknown means a change was sent and may or may not have
	// taken effect: the leader was lost while applying it, or the
	// connection to the leader broke before its answer came.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrLeadershipLost means the leader lost its leadership while applying
	// a command: the entry may or may not commit, so it is never retried.
	ErrLeadershipLost = fmt.Errorf("%w: leadership lost while applying; %w: the command may still commit (see raftha status)", ErrNotLeader, ErrOutcomeUnknown)
	// ErrInProgress means a planned move was committed but did not finish
	// before the caller's deadline; the move goes on.
	ErrInProgress = errors.New("the move was committed and is still in progress")
	// ErrMoveFailed means a planned move was committed but the group did
	// not come online on the target. It wraps ErrRefused.
	ErrMoveFailed = fmt.Errorf("%w: the move was committed but did not end online on the target", ErrRefused)
	// ErrSettingsMismatch is wrapped when a member's configured fencing
	// settings differ from the cluster's (the ones in the log).
	ErrSettingsMismatch = errors.New("member settings differ from the cluster's")
	// ErrNotMemberCert means tls.cert is not this member's member
	// certificate: the other members would refuse it on the member port.
	ErrNotMemberCert = errors.New("tls.cert is not this member's member certificate")
	// ErrWaitTimedOut is a wait for the log that ran out of time; the API
	// answers it 504 timeout. It wraps context.DeadlineExceeded.
	ErrWaitTimedOut = fmt.Errorf("timed out%.0w", context.DeadlineExceeded)
)

// DeadlinePassed refuses a transfer of group whose deadline has passed
// before anything was committed.
func DeadlinePassed(group string) error {
	return fmt.Errorf("%w: the deadline passed before the move of group %s began; nothing was committed", context.DeadlineExceeded, group)
}
