package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// rpcEndpoint is the node-to-node RPC surface, served on the mTLS port.
// Every method but Propose is leader-only.
type rpcEndpoint struct{ s *Server }

// HeartbeatArgs is what a member reports to the leader every heartbeat.
type HeartbeatArgs struct {
	// Node is the sender's member id.
	Node string
	// Role is the sender's configured role, node or witness.
	Role string
	// Address is the sender's advertised mTLS (Raft and RPC) host:port.
	Address string
	// API is the sender's advertised HTTPS API host:port; "" when none.
	API string
	// InstanceID is the sender's EC2 instance id; "" when unknown.
	InstanceID string
	// Leaving is set while the member shuts down: the leader moves its
	// groups away and places nothing on it.
	Leaving bool
	// Settings are the sender's configured cluster settings; the leader
	// refuses the heartbeat when they differ from the log's.
	Settings *fsm.ClusterSettings
	// Applied is the sender's FSM applied index when it built Running:
	// Running describes the node after it applied that entry.
	Applied uint64
	// Running maps every group whose resources are built or running on
	// the sender (or that its runner has not taken charge of yet) to the
	// epoch it runs (0: unknown). A group not listed runs nothing there.
	// Nil from a witness.
	Running map[string]uint64
}

// HeartbeatReply confirms, linearizably, which groups the member owns and
// at which epoch. The member renews its lease from the time it sent the
// heartbeat.
type HeartbeatReply struct {
	// Leader is the answering leader's member id.
	Leader string
	// Owned maps every active group the member owns to its epoch; a group
	// not listed is not the member's.
	Owned map[string]uint64
}

// ConfirmArgs asks the leader whether Node owns Group at Epoch.
type ConfirmArgs struct {
	// Group is the group to act for.
	Group string
	// Node is the member that wants to act.
	Node string
	// Epoch is the epoch Node would act at.
	Epoch uint64
}

// ConfirmReply is empty: success is the confirmation.
type ConfirmReply struct{}

// ProposeArgs carries an encoded fsm.Command to the leader.
type ProposeArgs struct {
	// Cmd is the command as fsm.Encode wrote it.
	Cmd []byte
}

// ProposeReply is the FSM's result for a forwarded command.
type ProposeReply struct {
	// Epoch is the fsm.Result's epoch.
	Epoch uint64
	// Err is the FSM's refusal; "" when the command took effect.
	Err string
	// Code is Err's stable code (stale_epoch, busy, ...); "" when none.
	Code api.Code
	// NotLeader is set when the receiver is not the ready leader; nothing
	// was applied.
	NotLeader bool
}

// Heartbeat implements the member heartbeat (leader only).
func (e *rpcEndpoint) Heartbeat(a HeartbeatArgs, r *HeartbeatReply) error {
	ctx, cancel := e.s.callContext()
	defer cancel()
	owned, err := e.s.heartbeatLocal(ctx, a)
	if err != nil {
		return err
	}
	r.Leader, r.Owned = e.s.cfg.NodeID, owned
	return nil
}

// Confirm implements the leader-confirmed ownership check.
func (e *rpcEndpoint) Confirm(a ConfirmArgs, r *ConfirmReply) error {
	ctx, cancel := e.s.callContext()
	defer cancel()
	return e.s.confirmLocal(ctx, a.Group, a.Node, a.Epoch)
}

// callContext bounds a lease-path RPC on the leader: an answer later than
// a lease is of no use to the caller, and the member's shutdown ends it.
func (s *Server) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.cfg.Timing.Lease.D())
}

// Propose applies a forwarded command on the leader.
func (e *rpcEndpoint) Propose(a ProposeArgs, r *ProposeReply) error {
	if e.s.leader() == nil {
		r.NotLeader = true
		return nil
	}
	if _, err := fsm.Decode(a.Cmd); err != nil {
		return fmt.Errorf("refusing undecodable command: %w", err)
	}
	res, err := e.s.applyLocal(a.Cmd)
	if err != nil {
		if errors.Is(err, ErrNotLeader) {
			r.NotLeader = true
			return nil
		}
		return err
	}
	r.Epoch = res.Epoch
	if res.Err != nil {
		r.Err, r.Code = res.Err.Error(), errorCode(res.Err)
	}
	return nil
}

// errorCodes map sentinels to the API's stable wire codes and back, most
// specific first (an error may wrap more than one). Every timeout maps to
// api.CodeTimeout, so that it is recognised by its sentinel, never by its
// text.
var errorCodes = []struct {
	code api.Code
	err  error
}{
	{api.CodeInProgress, ErrInProgress},
	{api.CodeTimeout, context.DeadlineExceeded},
	{api.CodeTimeout, errWaitTimedOut},
	{api.CodeTimeout, raft.ErrEnqueueTimeout},
	{api.CodeStaleEpoch, fsm.ErrStaleEpoch},
	{api.CodeNotOwner, fsm.ErrNotOwner},
	{api.CodeNotEligible, fsm.ErrNotEligible},
	{api.CodeRoleMismatch, fsm.ErrRoleMismatch},
	{api.CodeNoGroup, fsm.ErrNoGroup},
	{api.CodeNoMember, fsm.ErrNoMember},
	{api.CodeBusy, fsm.ErrBusy},
	{api.CodeInvalid, fsm.ErrInvalid},
	{api.CodeNoQuorum, ErrNoQuorum},
	{api.CodeNoLeader, ErrNoLeader},
	{api.CodeNotLeader, ErrNotLeader},
	{api.CodeOwnership, ErrNotOwner},
	{api.CodeRefused, ErrRefused},
}

func errorCode(err error) api.Code {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

type codedError struct {
	sentinel error
	msg      string
}

// Error returns the remote message.
func (e *codedError) Error() string { return e.msg }

// Unwrap returns the sentinel error for the code, for errors.Is.
func (e *codedError) Unwrap() error { return e.sentinel }

func remoteError(code api.Code, msg string) error {
	for _, c := range errorCodes {
		if c.code == code {
			return &codedError{sentinel: c.err, msg: msg}
		}
	}
	return errors.New(msg)
}

// linearizableRead waits until this leader's FSM reflects every entry
// committed before the call and the leader has confirmed, with a quorum,
// that it is still the leader (VerifyLeader). Only a ready leader (one
// whose post-election Barrier completed) may answer.
func (s *Server) linearizableRead(ctx context.Context) (*leaderState, error) {
	ls := s.leader()
	if ls == nil {
		if s.raft.State() == raft.Leader {
			return nil, fmt.Errorf("%w: leader not ready yet", ErrNotLeader)
		}
		return nil, ErrNotLeader
	}
	ci := s.raft.CommitIndex()
	// A VerifyLeader queued as raft shuts down is never answered: wait
	// for it only as long as the caller and this member last.
	vf := s.raft.VerifyLeader()
	verified := make(chan error, 1)
	go func() { verified <- vf.Error() }()
	select {
	case err := <-verified:
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoQuorum, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: leadership not verified in time: %w", ErrNoQuorum, ctx.Err())
	case <-s.ctx.Done():
		return nil, fmt.Errorf("%w: member stopping", ErrNoQuorum)
	}
	if err := s.waitApplied(ctx, ls, ci); err != nil {
		return nil, err
	}
	return ls, nil
}

func (s *Server) waitApplied(ctx context.Context, ls *leaderState, index uint64) error {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		ch := s.fsm.Changed()
		if s.fsm.AppliedIndex() >= index || index <= ls.readyIndex {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%w waiting for the FSM to apply index %d", errWaitTimedOut, index)
		}
	}
}

// confirmLocal is clause 2 of the safety argument, on the leader.
func (s *Server) confirmLocal(ctx context.Context, group, node string, epoch uint64) error {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		return err
	}
	if why := ls.refusedSettings(node); why != "" {
		return fmt.Errorf("%w: %s: %s", ErrSettingsMismatch, node, why)
	}
	// A confirmation renews the owner's lease for the group, so it is
	// contact too, recorded with the log read it answers from (see
	// takeover).
	ls.contactMu.Lock()
	defer ls.contactMu.Unlock()
	ls.seen(node)
	s.fsm.Read(func(st *fsm.State) {
		g, ok := st.Groups[group]
		switch {
		case !ok:
			err = fmt.Errorf("%w: group %s does not exist", ErrNotOwner, group)
		case g.Status.Owner != node || g.Status.Epoch != epoch:
			err = fmt.Errorf("%w: group %s is owned by %q at epoch %d, not %s at %d", ErrNotOwner, group, g.Status.Owner, g.Status.Epoch, node, epoch)
		case !g.Status.Active():
			err = fmt.Errorf("%w: group %s is %s", ErrNotOwner, group, g.Status.State)
		}
	})
	return err
}

// heartbeatLocal records a member's heartbeat on the leader and returns
// the groups it owns, confirmed linearizably.
func (s *Server) heartbeatLocal(ctx context.Context, a HeartbeatArgs) (map[string]uint64, error) {
	ls, err := s.linearizableRead(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkMemberSettings(ls, a.Node, a.Settings); err != nil {
		return nil, err
	}
	ls.contactMu.Lock() // see takeover: contact and the log read together
	defer ls.contactMu.Unlock()
	ls.seen(a.Node)
	ls.setLeaving(a.Node, a.Leaving)
	ls.fb.report(a)
	owned := map[string]uint64{}
	var stale bool
	s.fsm.Read(func(st *fsm.State) {
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
	if stale {
		ls.register(a)
	}
	return owned, nil
}
