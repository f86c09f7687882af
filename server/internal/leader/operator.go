package leader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// ValidateMember refuses (wrapping refused) a member to add that has no
// id, a role other than node or witness, or an address that is not
// host:port.
func ValidateMember(a rpcwire.MemberArgs, refused error) error {
	var probs []string
	if a.ID == "" {
		probs = append(probs, "id is required")
	}
	if a.Role != string(config.RoleNode) && a.Role != string(config.RoleWitness) {
		probs = append(probs, fmt.Sprintf("role %q must be node or witness", a.Role))
	}
	if _, port, err := net.SplitHostPort(a.Address); err != nil || port == "" {
		probs = append(probs, fmt.Sprintf("address %q must be host:port", a.Address))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", refused, strings.Join(probs, "; "))
	}
	return nil
}

// AddMember records a member in the log and adds it to the Raft
// configuration as a voter (the leader half of server.AddMember).
func (l *Leader) AddMember(ctx context.Context, a rpcwire.MemberArgs) error {
	if err := ValidateMember(a, errs.ErrRefused); err != nil {
		return err
	}
	if _, err := l.LinearizableRead(ctx); err != nil {
		return err
	}
	h := l.cfg.Host
	if err := h.CheckAddressFree(a.ID, a.Address); err != nil {
		return err
	}
	// CommitLocal: a leader deposed meanwhile answers NotLeader, which
	// the caller's forward retries on the next leader, instead of
	// forwarding its own command there without a caller (refused).
	if _, err := h.CommitLocal(&fsm.UpsertMember{Header: h.Header(a.By), Member: fsm.Member{ID: a.ID, Role: fsm.Role(a.Role), Address: a.Address, InstanceID: a.InstanceID}}); err != nil {
		return err
	}
	if err := l.cfg.Raft.AddVoter(raft.ServerID(a.ID), raft.ServerAddress(a.Address), l.timeoutOf(ctx)); err != nil {
		return fmt.Errorf("add %s to the raft configuration: %w", a.ID, err)
	}
	l.cfg.Logger.Info("member added", "id", a.ID, "role", a.Role, "address", a.Address, "by", a.By)
	return nil
}

// RemoveMember removes a member from the log and then from the Raft
// configuration (the leader half of server.RemoveMember).
func (l *Leader) RemoveMember(ctx context.Context, id, by string) error {
	if _, err := l.LinearizableRead(ctx); err != nil {
		return err
	}
	st := l.cfg.FSM.View()
	_, known := st.Members[id]
	inRaft := false
	if servers, err := l.cfg.Raft.Servers(); err == nil {
		for _, srv := range servers {
			inRaft = inRaft || string(srv.ID) == id
		}
	}
	if !known && !inRaft {
		return fmt.Errorf("%w: no member named %q (members: %s)", fsm.ErrNoMember, id, strings.Join(st.MemberIDs(), ", "))
	}
	// The log removes first: its RemoveMember re-checks, atomically with
	// placement and takeovers, that the member owns nothing active, no
	// stop-failed group and is no fence target. Only a member the log has
	// let go leaves the Raft configuration; checking a view and then
	// removing the voter would race with placement.
	if known {
		h := l.cfg.Host
		if _, err := h.CommitLocal(&fsm.RemoveMember{Header: h.Header(by), ID: id}); err != nil { // see AddMember
			return err
		}
	}
	if inRaft {
		if err := l.cfg.Raft.RemoveServer(raft.ServerID(id), l.timeoutOf(ctx)); err != nil {
			return fmt.Errorf("%s was removed from the log but not from the raft configuration (retry the removal): %w", id, err)
		}
	}
	l.cfg.Logger.Info("member removed", "id", id, "by", by)
	return nil
}

// timeoutOf is what is left of ctx's deadline, or the default transfer
// timeout. A context's deadline and raft's timeouts are real time, so this
// reads the real clock, never the leader's injected one.
func (l *Leader) timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return api.DefaultTransferTimeout
}

// Transfer is the leader half of a planned move: decide.Planned checks
// the target, the move is committed at the group's epoch, and Transfer
// waits until the group is online on the target at a new epoch (or the
// move failed, or ctx ended: InProgress).
func (l *Leader) Transfer(ctx context.Context, group, to, by string) (api.GroupStatus, error) {
	t, err := l.LinearizableRead(ctx)
	if err != nil {
		return api.GroupStatus{}, err
	}
	st := l.cfg.FSM.View()
	g, ok := st.Groups[group]
	if !ok {
		return api.GroupStatus{}, fmt.Errorf("%w: no group named %q (groups: %s)", fsm.ErrNoGroup, group, strings.Join(st.GroupNames(), ", "))
	}
	d := decide.Planned(t.input(st), g, to)
	switch d.Action {
	case decide.Refuse:
		return api.GroupStatus{}, fmt.Errorf("%w: %s", errs.ErrRefused, d.Reason)
	case decide.None:
		return GroupStatus(g), nil
	}
	if ctx.Err() != nil { // never commit a move nobody waits for
		return api.GroupStatus{}, errs.DeadlinePassed(group)
	}
	// CommitLocal: if this leader was deposed since its read, NotLeader
	// (retried by the caller's forward on the next leader), not a forward
	// of its own command without a caller (refused there).
	h := l.cfg.Host
	if _, err := h.CommitLocal(&fsm.BeginTransfer{Header: h.Header(by), Group: group, To: d.To, ExpectEpoch: g.Status.Epoch, Cause: d.Cause}); err != nil {
		return api.GroupStatus{}, err
	}
	l.cfg.Logger.Info("planned move started", "group", group, "from", g.Status.Owner, "to", to, "by", by)
	gs, err := l.waitOnline(ctx, group, to, g.Status.Epoch)
	if err != nil && ctx.Err() != nil && errors.Is(err, errs.ErrWaitTimedOut) {
		err = fmt.Errorf("%w: %v; it goes on to %s (follow it with raftha status)", errs.ErrInProgress, err, to)
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	h.Transferred(result)
	return gs, err
}

// waitOnline waits until group is online on node at an epoch above after.
func (l *Leader) waitOnline(ctx context.Context, group, node string, after uint64) (api.GroupStatus, error) {
	for {
		ch := l.cfg.FSM.Changed()
		st := l.cfg.FSM.View()
		g, ok := st.Groups[group]
		if !ok {
			return api.GroupStatus{}, fmt.Errorf("%w: group %s was deleted", fsm.ErrNoGroup, group)
		}
		gs := g.Status
		switch {
		case gs.Owner == node && gs.State == fsm.StateOnline && gs.Epoch > after:
			return GroupStatus(g), nil
		case gs.State == fsm.StateFailed:
			return GroupStatus(g), fmt.Errorf("%w: group %s failed on %s at epoch %d: %s", errs.ErrMoveFailed, group, gs.Owner, gs.Epoch, gs.Reason)
		case gs.Epoch > after && gs.Owner != node:
			return GroupStatus(g), fmt.Errorf("%w: group %s went to %s instead (epoch %d, %s)", errs.ErrMoveFailed, group, gs.Owner, gs.Epoch, gs.Reason)
		case gs.State == fsm.StateOffline && gs.Epoch == after:
			return GroupStatus(g), fmt.Errorf("%w: the move was abandoned; group %s is offline: %s", errs.ErrMoveFailed, group, gs.Reason)
		}
		// Leadership may move during the move (a new owner that leads
		// hands it to an idle node): this member keeps applying the log as
		// a follower, so waiting on its FSM still sees the outcome.
		select {
		case <-ch:
		case <-ctx.Done():
			return GroupStatus(g), fmt.Errorf("%w: group %s is %s on %s at epoch %d (%s)", errs.ErrWaitTimedOut, group, gs.State, gs.Owner, gs.Epoch, gs.Reason)
		}
	}
}

// GroupStatus is the API's view of g from the log alone.
func GroupStatus(g *fsm.Group) api.GroupStatus {
	gs := api.GroupStatus{Name: g.Spec.Name, Owner: g.Status.Owner, Epoch: g.Status.Epoch, State: g.Status.State, Nodes: g.Spec.Nodes,
		Reason: g.Status.Reason, Target: g.Status.Target, FenceNode: g.Status.FenceNode, Failback: g.Spec.Failback, Since: g.Status.Since,
		Suspended: g.Status.Suspended, FailedOn: g.Status.FailedOn}
	for _, r := range g.Spec.Resources {
		gs.Resources = append(gs.Resources, r.Name+" ("+r.Type+")")
	}
	return gs
}
