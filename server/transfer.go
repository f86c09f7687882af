package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
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
	return forward(ctx, s, transferCall, rpcwire.TransferArgs{Group: group, To: to, By: by, Caller: s.forwardedCaller(ctx, by)})
}

// transferCall is a planned move through the leader. A forwarded attempt
// carries the caller's remaining deadline, and waits for the leader's
// answer a little longer than that (transferAnswerGrace), so that a move
// the leader committed is never reported as a plain timeout of the call.
var transferCall = &leaderCall[rpcwire.TransferArgs, api.GroupStatus]{
	method: "Raftha.Transfer",
	retry:  true,
	lost:   "whether the move began is unknown; see raftha status",
	local: func(s *Server, ctx context.Context, a rpcwire.TransferArgs) (api.GroupStatus, error) {
		return s.transferLocal(ctx, a.Group, a.To, a.By)
	},
	authorize: func(s *Server, peer string, a *rpcwire.TransferArgs) (err error) {
		a.By, err = s.operatorOf(peer, a.Caller)
		return err
	},
	send: func(ctx context.Context, a rpcwire.TransferArgs) (context.Context, context.CancelFunc, rpcwire.TransferArgs, error) {
		a.Timeout = api.DefaultTransferTimeout
		if d, ok := ctx.Deadline(); ok {
			if a.Timeout = time.Until(d); a.Timeout <= 0 {
				return nil, nil, a, errDeadlinePassed(a.Group)
			}
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Timeout+transferAnswerGrace)
		return cctx, cancel, a, nil
	},
	admit: func(s *Server, a rpcwire.TransferArgs) (context.Context, context.CancelFunc, error) {
		if a.Timeout <= 0 { // a passed deadline is never replaced by a default
			return nil, nil, errDeadlinePassed(a.Group)
		}
		ctx, cancel := context.WithTimeout(s.ctx, min(a.Timeout, 30*time.Minute))
		return ctx, cancel, nil
	},
}

// Transfer runs a forwarded planned move on the leader.
func (e *rpcEndpoint) Transfer(a rpcwire.TransferArgs, r *rpcwire.Reply[api.GroupStatus]) error {
	return serve(e, transferCall, a, r)
}

// transferAnswerGrace is how much longer than the leader's deadline a
// forwarding member waits for the leader's answer.
const transferAnswerGrace = 5 * time.Second

// ErrInProgress means a planned move was committed (the group has a new
// epoch and is moving to the target) but did not finish before the
// caller's deadline. The move goes on; it is not an error of the move.
var ErrInProgress = errors.New("the move was committed and is still in progress")

// ErrMoveFailed means a planned move was committed (the group got a new
// epoch for the target) but the group did not come online there: it
// failed, went to another node, or the move was abandoned. It wraps
// ErrRefused; Status says where the group is.
var ErrMoveFailed = fmt.Errorf("%w: the move was committed but did not end online on the target", ErrRefused)

// errDeadlinePassed refuses a transfer whose deadline has passed before
// anything was committed.
func errDeadlinePassed(group string) error {
	return fmt.Errorf("%w: the deadline passed before the move of group %s began; nothing was committed", context.DeadlineExceeded, group)
}

// errWaitTimedOut is a wait for the log that ran out of time; the API
// answers it 504 timeout.
var errWaitTimedOut = fmt.Errorf("timed out%.0w", context.DeadlineExceeded)

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

// writeTransferResult answers POST /v1/groups/{name}/transfer: 200 with the
// group when it is online on the target; 202 with code in_progress and the
// group when the move was committed but did not finish in time (it goes
// on); otherwise the error as fail maps it.
func writeTransferResult(w http.ResponseWriter, g api.GroupStatus, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, g)
	case errors.Is(err, ErrInProgress):
		writeJSON(w, http.StatusAccepted, &api.TransferInProgress{Error: err.Error(), Code: api.CodeInProgress, Group: g})
	default:
		fail(w, err)
	}
}
