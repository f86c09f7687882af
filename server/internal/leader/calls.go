package leader

import (
	"context"
	"fmt"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// applyWait bounds how long a read waits for the FSM to apply the index
// it needs, and applyPoll how often it looks at raft's applied index.
const (
	applyWait = 5 * time.Second
	applyPoll = 5 * time.Millisecond
)

// LinearizableRead waits until this leader's FSM reflects every entry
// committed before the call and the leader has confirmed, with a quorum,
// that it is still the leader (VerifyLeader). Only a ready leader (one
// whose post-election Barrier completed) may answer.
func (l *Leader) LinearizableRead(ctx context.Context) (*Term, error) {
	return l.linearizableRead(ctx, 0)
}

// linearizableRead is LinearizableRead whose VerifyLeader round may wait
// up to gather for other callers to share it (verifier).
func (l *Leader) linearizableRead(ctx context.Context, gather time.Duration) (*Term, error) {
	t := l.Ready()
	if t == nil {
		if l.cfg.Raft.IsLeader() {
			return nil, fmt.Errorf("%w: leader not ready yet", errs.ErrNotLeader)
		}
		return nil, errs.ErrNotLeader
	}
	ci := l.cfg.Raft.CommitIndex()
	// The round starts after this point (verifier), so it confirms
	// leadership after ci was read. A VerifyLeader queued as raft shuts
	// down is never answered: wait for it only as long as the caller and
	// this member last.
	r := l.verify.join(gather)
	select {
	case <-r.done:
		if r.err != nil {
			return nil, fmt.Errorf("%w: %v", errs.ErrNoQuorum, r.err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: leadership not verified in time: %w", errs.ErrNoQuorum, ctx.Err())
	case <-l.ctx.Done():
		return nil, fmt.Errorf("%w: member stopping", errs.ErrNoQuorum)
	}
	// The round proved leadership when it ran, in raft's term then. ci
	// and t are of t's term: the read holds only if raft is still in it
	// (terms only grow, and a member leads a term at most once), else
	// the member lost and won leadership meanwhile and ci may miss what
	// another leader committed in between.
	if l.Ready() != t || l.cfg.Raft.CurrentTerm() != t.raftTerm {
		return nil, fmt.Errorf("%w: leadership changed during the read", errs.ErrNotLeader)
	}
	if err := l.waitApplied(ctx, t, ci); err != nil {
		return nil, err
	}
	return t, nil
}

// waitApplied waits until every command up to index is in the FSM. Raft's
// applied index covers the Barrier entries too (readiness, nudge), which
// never reach the FSM and so never move its index or wake its waiters:
// raft applies in order, so its applied index at or past index means the
// FSM has every command up to it; a short poll notices that.
func (l *Leader) waitApplied(ctx context.Context, t *Term, index uint64) error {
	deadline := l.cfg.Clock.NewTimer(applyWait)
	defer deadline.Stop()
	poll := l.cfg.Clock.NewTimer(applyPoll)
	defer poll.Stop()
	for {
		ch := l.cfg.FSM.Changed()
		if l.cfg.FSM.AppliedIndex() >= index || l.cfg.Raft.AppliedIndex() >= index || index <= t.readyIndex {
			return nil
		}
		select {
		case <-poll.C():
			poll.Reset(applyPoll)
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C():
			return fmt.Errorf("%w waiting for the FSM to apply index %d", errs.ErrWaitTimedOut, index)
		}
	}
}

// Confirm is clause 2 of the safety argument, on the leader: node owns
// group at epoch, read linearizably, and the confirmation renews node's
// contact.
func (l *Leader) Confirm(ctx context.Context, group, node string, epoch uint64) error {
	t, err := l.LinearizableRead(ctx)
	if err != nil {
		return err
	}
	if err := l.refusedSettings(t, node); err != nil {
		return err
	}
	// A confirmation renews the owner's lease for the group, so it is
	// contact too, recorded with the log read it answers from (see
	// takeover).
	t.contactMu.Lock()
	defer t.contactMu.Unlock()
	t.c.Seen(node)
	notOwner := errs.ErrNotOwner
	l.cfg.FSM.Read(func(st *fsm.State) {
		g, ok := st.Groups[group]
		switch {
		case !ok:
			err = fmt.Errorf("%w: group %s does not exist", notOwner, group)
		case g.Status.Owner != node || g.Status.Epoch != epoch:
			err = fmt.Errorf("%w: group %s is owned by %q at epoch %d, not %s at %d", notOwner, group, g.Status.Owner, g.Status.Epoch, node, epoch)
		case !g.Status.Active():
			err = fmt.Errorf("%w: group %s is %s", notOwner, group, g.Status.State)
		}
	})
	return err
}

// refusedSettings is the refusal of a member refused for its settings
// (nil when it is not).
func (l *Leader) refusedSettings(t *Term, node string) error {
	why := l.cfg.Host.RefusedSettings(&t.refused, node)
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", errs.ErrSettingsMismatch, node, why)
}

// Heartbeat records a member's heartbeat on the leader and returns the
// groups it owns, confirmed linearizably. Its VerifyLeader round may wait
// Config.Gather for the other members' heartbeats to share it.
func (l *Leader) Heartbeat(ctx context.Context, a rpcwire.HeartbeatArgs) (map[string]uint64, error) {
	t, err := l.linearizableRead(ctx, l.cfg.Gather)
	if err != nil {
		return nil, err
	}
	if err := l.cfg.Host.CheckSettings(&t.refused, a.Node, a.Settings); err != nil {
		return nil, err
	}
	now := l.cfg.Clock.Now()
	// Status only (resstore.go, diskseen.go): they never fail and take no
	// lock of the lease path.
	t.res.report(&l.cfg, a.Node, a.Resources, now)
	t.disk.report(a.Node, a.DiskPeers, now)
	t.contactMu.Lock() // see takeover: contact and the log read together
	defer t.contactMu.Unlock()
	t.c.Seen(a.Node)
	t.c.SetRelayed(a.Node, a.Relayed)
	t.c.SetLeaving(a.Node, a.Leaving)
	t.fb.report(a, now)
	owned := map[string]uint64{}
	var stale bool
	l.cfg.FSM.Read(func(st *fsm.State) {
		for name, g := range st.Groups {
			if g.Status.Owner == a.Node && g.Status.Active() {
				owned[name] = g.Status.Epoch
			}
		}
		m, ok := st.Members[a.Node]
		// UpsertMember ignores empty fields, so only a non-empty value
		// that differs is news (otherwise every heartbeat would write).
		differs := func(have, got string) bool { return got != "" && have != got }
		stale = ok && (differs(m.API, a.API) || differs(m.Address, a.Address) || differs(m.InstanceID, a.InstanceID))
	})
	if stale && a.Address != "" {
		if err := l.cfg.Host.CheckAddressFree(a.Node, a.Address); err != nil {
			// Never recorded: a member may not take another's address
			// (the dialer would then refuse the other one).
			l.cfg.Logger.Warn("heartbeat names another member's address; not recorded", "member", a.Node, "error", err)
			stale = false
		}
	}
	if stale {
		t.register(a)
	}
	return owned, nil
}
