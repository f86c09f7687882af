package owner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/fsm"
)

// fenceRounds shares one fence of a lost owner's instance between the
// groups the winner takes over from it, so that an owner of 100 groups is
// stopped once, not 100 times (one StopInstances, one verifying
// DescribeInstances and one waiter per round, instead of per group).
//
// Clause 4 needs, for each group, a fence of its previous owner that
// began after the takeover was decided. A round records covers, this
// member's applied index when its fence began: every takeover decided at
// an index at most covers (a group's epoch is the index of the entry that
// decided its takeover) was committed before the fence began, so the
// round is a fence after that decision, exactly as if the group had
// fenced alone at that moment. A group decided later (epoch > covers)
// never shares it: it waits for the round in flight to end and starts the
// next one. Rounds are per node, instance id and address (what the fencer
// verifies and stops); a failed round is shared only by the groups that
// waited on it and is never reused.
type fenceRounds struct {
	mu   sync.Mutex
	last map[fenceKey]*fenceRound
}

// fenceKey is what one fence stops: the node, the instance id, and the
// address a verifying fencer accepts.
type fenceKey struct{ node, instance, address string }

// fenceRound is one fence of one instance.
type fenceRound struct {
	covers uint64        // applied index when the fence began
	done   chan struct{} // closed when proof and err are set
	proof  string
	err    error
}

// errFenceRoundOrder is returned (with cloud.ErrFenceFailed) if a group asks for
// a fence of a takeover this member has not applied yet; it cannot happen
// through the worker, which reads the epoch from the applied state.
var errFenceRoundOrder = errors.New("takeover not applied here yet")

// fenceShared fences target for the takeover decided at epoch, sharing a
// round with the other groups it covers (see fenceRounds). timeout bounds
// the fence itself; ctx bounds only this caller's wait.
func (s *agent) fenceShared(ctx context.Context, target fsm.Member, epoch uint64, timeout time.Duration) (string, error) {
	key := fenceKey{target.ID, target.InstanceID, target.Address}
	for {
		s.fences.mu.Lock()
		if s.fences.last == nil {
			s.fences.last = map[fenceKey]*fenceRound{}
		}
		r := s.fences.last[key]
		switch {
		case r != nil && r.covers >= epoch && (!closed(r.done) || r.err == nil):
			// In flight or succeeded, begun after this takeover: share it.
			s.fences.mu.Unlock()
			return r.wait(ctx)
		case r != nil && !closed(r.done):
			// Begun before this takeover was applied here: it proves
			// nothing for it. Wait it out, then start the next round.
			s.fences.mu.Unlock()
			select {
			case <-r.done:
				continue
			case <-ctx.Done():
				return "", fmt.Errorf("%w: %w", cloud.ErrFenceFailed, ctx.Err())
			}
		}
		covers := s.fsm.AppliedIndex()
		if covers < epoch {
			s.fences.mu.Unlock()
			return "", fmt.Errorf("%w: %w (epoch %d, applied %d)", cloud.ErrFenceFailed, errFenceRoundOrder, epoch, covers)
		}
		r = &fenceRound{covers: covers, done: make(chan struct{})}
		s.fences.last[key] = r
		s.fences.mu.Unlock()
		// If the member is shutting down goFn runs nothing: the waiters
		// end with their contexts, which shutdown ends too.
		s.goFn(func() {
			fctx, cancel := context.WithTimeout(s.ctx, timeout)
			defer cancel()
			r.proof, r.err = s.fenceNode(fctx, target)
			close(r.done)
		})
		return r.wait(ctx)
	}
}

// wait returns the round's outcome once it is known, or ctx's error.
func (r *fenceRound) wait(ctx context.Context) (string, error) {
	select {
	case <-r.done:
		return r.proof, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", cloud.ErrFenceFailed, ctx.Err())
	}
}

// closed reports whether ch is closed.
func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
