package leader

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
func (t *Term) failedEverywhere(g *fsm.Group) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failedAll == nil {
		t.failedAll = map[string]failedAll{}
	}
	f, ok := t.failedAll[g.Spec.Name]
	if !ok || f.epoch != g.Status.Epoch {
		f = failedAll{epoch: g.Status.Epoch, since: t.c.Now()}
		t.failedAll[g.Spec.Name] = f
	}
	return f.since
}

// nextRetry is when this leader will place g again automatically, or nil
// when no automatic retry is due: g is not failed with no node left, its
// stop failed (only a fence or an operator moves it), it is suspended, or
// its retry_failed_after is 0.
func (t *Term) nextRetry(g *fsm.Group) *time.Time {
	gs := g.Status
	if !decide.Retryable(g) {
		return nil
	}
	t.mu.Lock()
	f, ok := t.failedAll[g.Spec.Name]
	t.mu.Unlock()
	if !ok || f.epoch != gs.Epoch {
		return nil
	}
	at := f.since.Add(g.Spec.RetryFailedAfter)
	return &at
}

// retryPlan says, for the no-node event, what happens next to g.
func (t *Term) retryPlan(g *fsm.Group) string {
	if at := t.nextRetry(g); at != nil {
		return fmt.Sprintf("it stays stopped until %s (retry_failed_after %s), when the leader places it again, unless an operator moves or resumes it first", at.Format(time.RFC3339), g.Spec.RetryFailedAfter)
	}
	return "it stays stopped until an operator moves or resumes it"
}

// autoRetry commits decide.AutoRetry's decision: a group failed on every
// node where it could run goes, once its retry_failed_after has passed
// since this leader saw it so, to the first healthy node of its list at a
// new epoch (fsm.RetryFailed). It reports whether the group was placed.
func (t *Term) autoRetry(ctx context.Context, st *fsm.State, g *fsm.Group) bool {
	gs, l := g.Status, t.l
	d := decide.AutoRetry(t.input(st), g, func() time.Time { return t.failedEverywhere(g) })
	if d.Action != decide.Retry {
		return false
	}
	epoch, err := l.cfg.Host.Commit(ctx, &fsm.RetryFailed{Header: l.cfg.Host.Header("leader"), Group: g.Spec.Name, To: d.To, ExpectEpoch: gs.Epoch, Reason: d.Reason})
	if err != nil {
		l.cfg.LogLimit.Log(l.cfg.Logger, hclog.Warn, "auto-retry/"+g.Spec.Name, "automatic retry of a failed group refused", "group", g.Spec.Name, "to", d.To, "error", err)
		return false
	}
	l.cfg.Host.Failover(g.Spec.Name, fsm.CauseAutoRetry)
	l.cfg.Logger.Warn("group failed everywhere: retrying it automatically", "group", g.Spec.Name, "failed_on", gs.FailedOn, "to", d.To, "epoch", epoch, "retry_failed_after", g.Spec.RetryFailedAfter)
	return true
}

// RetryStatus adds the retry policy and progress of g to its status: the
// start retries allowed and made at this epoch, and, from the leader (t
// set), when a group failed everywhere is placed again.
func RetryStatus(gs *api.GroupStatus, st *fsm.State, g *fsm.Group, t *Term) {
	gs.StartRetries, gs.RetryFailedAfter = g.Spec.StartRetries, api.Duration(g.Spec.RetryFailedAfter)
	for _, e := range st.Events {
		if e.Group != g.Spec.Name || e.Epoch != g.Status.Epoch {
			continue
		}
		if e.Kind == fsm.KindStartRetry {
			gs.StartRetriesDone++
		}
	}
	if t != nil {
		gs.NextRetry = t.nextRetry(g)
	}
}
