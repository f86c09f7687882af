package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
)

// failedAll is when this leader first saw a group failed with no node
// left to recover it on, at one epoch.
type failedAll struct {
	epoch uint64
	since time.Time
}

// failedEverywhere returns when this leader first saw g failed with no
// node left, starting the clock now if it had not (the leader's own
// clock: a new leader starts it again, so a retry is never early).
func (ls *leaderState) failedEverywhere(g *fsm.Group) time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.failedAll == nil {
		ls.failedAll = map[string]failedAll{}
	}
	f, ok := ls.failedAll[g.Spec.Name]
	if !ok || f.epoch != g.Status.Epoch {
		f = failedAll{epoch: g.Status.Epoch, since: ls.c.Now()}
		ls.failedAll[g.Spec.Name] = f
	}
	return f.since
}

// nextRetry is when this leader will place g again automatically, or nil
// when no automatic retry is due: g is not failed with no node left, its
// stop failed (only a fence or an operator moves it), it is suspended, or
// its retry_failed_after is 0.
func (ls *leaderState) nextRetry(g *fsm.Group) *time.Time {
	gs := g.Status
	if !decide.Retryable(g) {
		return nil
	}
	ls.mu.Lock()
	f, ok := ls.failedAll[g.Spec.Name]
	ls.mu.Unlock()
	if !ok || f.epoch != gs.Epoch {
		return nil
	}
	at := f.since.Add(g.Spec.RetryFailedAfter)
	return &at
}

// retryPlan says, for the no-node event, what happens next to g.
func (ls *leaderState) retryPlan(g *fsm.Group) string {
	if at := ls.nextRetry(g); at != nil {
		return fmt.Sprintf("it stays stopped until %s (retry_failed_after %s), when the leader places it again, unless an operator moves or resumes it first", at.Format(time.RFC3339), g.Spec.RetryFailedAfter)
	}
	return "it stays stopped until an operator moves or resumes it"
}

// autoRetry commits decide.AutoRetry's decision: a group failed on every
// node where it could run goes, once its retry_failed_after has passed
// since this leader saw it so, to the first healthy node of its list at a
// new epoch (fsm.RetryFailed). It reports whether the group was placed.
func (s *Server) autoRetry(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) bool {
	gs := g.Status
	d := decide.AutoRetry(ls.input(st), g, func() time.Time { return ls.failedEverywhere(g) })
	if d.Action != decide.Retry {
		return false
	}
	epoch, err := s.commit(ctx, &fsm.RetryFailed{Header: s.header("leader"), Group: g.Spec.Name, To: d.To, ExpectEpoch: gs.Epoch, Reason: d.Reason})
	if err != nil {
		s.logLimit.Log(s.logger, hclog.Warn, "auto-retry/"+g.Spec.Name, "automatic retry of a failed group refused", "group", g.Spec.Name, "to", d.To, "error", err)
		return false
	}
	s.metrics.failovers.WithLabelValues(g.Spec.Name, string(fsm.CauseAutoRetry)).Inc()
	s.logger.Warn("group failed everywhere: retrying it automatically", "group", g.Spec.Name, "failed_on", gs.FailedOn, "to", d.To, "epoch", epoch, "retry_failed_after", g.Spec.RetryFailedAfter)
	return true
}

// retryStatus adds the retry policy and progress of g to its status: the
// start retries allowed and made at this epoch, and, from the leader, when
// a group failed everywhere is placed again.
func retryStatus(gs *api.GroupStatus, st *fsm.State, g *fsm.Group, ls *leaderState) {
	gs.StartRetries, gs.RetryFailedAfter = g.Spec.StartRetries, api.Duration(g.Spec.RetryFailedAfter)
	for _, e := range st.Events {
		if e.Group != g.Spec.Name || e.Epoch != g.Status.Epoch {
			continue
		}
		if e.Kind == fsm.KindStartRetry {
			gs.StartRetriesDone++
		}
	}
	if ls != nil {
		gs.NextRetry = ls.nextRetry(g)
	}
}
