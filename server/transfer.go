package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// Transfer moves group to node as a planned move: the owner stops the
// group (reverse order), the log records the new owner with a new epoch,
// and the new owner starts it. It may be called on any member.
//
// It returns nil when the group is online on node at the new epoch: every
// resource of the group has started there, and a `go` resource's
// OwnerFunc has been entered with the new epoch's token (TestTransfer-
// ReturnsWhenTheCallbackHasStarted). A transfer to the current owner of
// an online group returns at once. When it fails, the error says whether
// the move was committed:
//
//   - ErrInProgress: committed and still under way when ctx ended; it goes
//     on (follow it with Status).
//   - ErrMoveFailed: committed, but the group failed, went elsewhere or was
//     abandoned; Status says where it is.
//   - ErrOutcomeUnknown: the leader was lost while committing, or its
//     answer was lost; the move may have begun. Read Status.
//   - anything else (ErrRefused, fsm.ErrNoGroup, ErrNoLeader, a deadline
//     that passed first, ...): nothing was committed.
func (s *Server) Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error) {
	if err := s.checkRunning(); err != nil {
		return api.GroupStatus{}, err
	}
	return s.cluster.Transfer(ctx, rpcwire.TransferArgs{Group: group, To: to, By: by, Caller: s.forwardedCaller(ctx, by)})
}

// ErrInProgress means a planned move was committed (the group has a new
// epoch and is moving to the target) but did not finish before the
// caller's deadline. The move goes on; it is not an error of the move.
var ErrInProgress = errs.ErrInProgress

// ErrMoveFailed means a planned move was committed (the group got a new
// epoch for the target) but the group did not come online there: it
// failed, went to another node, or the move was abandoned. It wraps
// ErrRefused; Status says where the group is.
var ErrMoveFailed = errs.ErrMoveFailed

// errDeadlinePassed refuses a transfer whose deadline has passed before
// anything was committed.
func errDeadlinePassed(group string) error { return errs.DeadlinePassed(group) }

// errWaitTimedOut is a wait for the log that ran out of time; the API
// answers it 504 timeout.
var errWaitTimedOut = errs.ErrWaitTimedOut

// SetSuspended pauses (true) or resumes (false) a group's monitoring and
// automatic actions. Resuming also forgets the nodes where it failed, so
// automatic recovery may use them again.
func (s *Server) SetSuspended(ctx context.Context, group string, suspended bool, by string) error {
	if err := s.checkRunning(); err != nil {
		return err
	}
	_, err := s.operatorCommit(ctx, &fsm.SetSuspended{Header: s.header(by), Group: group, Suspended: suspended})
	return err
}

// StopGroup suspends a group (so nothing places it again) and stops it on
// its owner, waiting until it is offline. SetSuspended(false) (raftha
// group start) undoes it.
func (s *Server) StopGroup(ctx context.Context, group, by string) (api.GroupStatus, error) {
	if err := s.checkRunning(); err != nil {
		return api.GroupStatus{}, err
	}
	if err := s.SetSuspended(ctx, group, true, by); err != nil {
		return api.GroupStatus{}, err
	}
	var requested uint64
	for {
		ch := s.fsm.Changed()
		g, ok := s.fsm.View().Groups[group]
		if !ok {
			return api.GroupStatus{}, fmt.Errorf("%w: %s", fsm.ErrNoGroup, group)
		}
		switch g.Status.State {
		case fsm.StateOffline:
			return groupStatusOf(g), nil
		case fsm.StateFailed:
			if g.Status.StopFailed {
				return groupStatusOf(g), fmt.Errorf("%w: group %s could not be stopped on %s: %s", ErrRefused, group, g.Status.Owner, g.Status.Reason)
			}
			return groupStatusOf(g), nil
		case fsm.StateOnline, fsm.StateStarting:
			// This member's view may lag the leader's right after the
			// stop was committed: ask once per epoch, and take busy or
			// stale-epoch refusals as "already under way".
			if requested != g.Status.Epoch {
				requested = g.Status.Epoch
				if _, err := s.operatorCommit(ctx, &fsm.BeginTransfer{Header: s.header(by), Group: group, ExpectEpoch: g.Status.Epoch}); err != nil && !errors.Is(err, fsm.ErrStaleEpoch) && !errors.Is(err, fsm.ErrBusy) {
					return groupStatusOf(g), err
				}
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return groupStatusOf(g), fmt.Errorf("%w: group %s is %s on %s (%s)", errWaitTimedOut, group, g.Status.State, g.Status.Owner, g.Status.Reason)
		}
	}
}
