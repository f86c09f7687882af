package fsm

import (
	"fmt"
	"strings"
	"time"
)

// Standby is a node's maintenance mark (Pacemaker's `pcs node standby`,
// CLUSTERPRO's server suspend): the node keeps voting and heartbeating,
// but the leader places nothing new on it, moves each group it owns away
// by a planned move (StandbyMove) and never fails back to it. It is set
// and cleared only by SetStandby, never by UpsertMember. A recorded
// *Standby is never changed in place (SetStandby replaces the pointer), so
// State.Clone may share it.
type Standby struct {
	// By is who put the node on standby (SetStandby's Header.By).
	By string `json:"by,omitempty"`
	// Since is when (SetStandby's Header.At, proposer's clock, display
	// only).
	Since time.Time `json:"since"`
}

// SetStandby puts a node on standby (or takes it off). It is a command of
// its own, not a field of UpsertMember, so that an older replica stops on
// it (Decode) instead of ignoring the field and then deciding placements
// differently. A witness is refused (it owns no group: nothing to move),
// an unknown member too (ErrNoMember).
type SetStandby struct {
	Header
	// Node is the member to put on standby or take off it.
	Node string `json:"node"`
	// Standby is true for standby, false for unstandby.
	Standby bool `json:"standby"`
}

// StandbyMove is the leader starting a planned move of an active group off
// its owner, which is on standby, to To: the group goes to stopping with
// Target To, exactly as BeginTransfer does, and the owner's
// Report(offline) hands it over at a new epoch (stop confirmed before the
// target starts). The stopping event's cause is CauseStandby. It is a
// command of its own because CauseStandby is not a move cause: an older
// build must stop on it (Decode) rather than refuse a BeginTransfer that
// newer replicas apply. Refused unless the owner is on standby, To is not,
// To may own the group, and the group is online or starting at ExpectEpoch
// and not suspended.
type StandbyMove struct {
	Header
	// Group is the group to move.
	Group string `json:"group"`
	// To is the destination: a node of the group, not on standby.
	To string `json:"to"`
	// ExpectEpoch is the group's epoch the leader decided on.
	ExpectEpoch uint64 `json:"expect_epoch"`
}

// Type implements Command.
func (c *SetStandby) Type() CmdType { return CmdSetStandby }

// Type implements Command.
func (c *StandbyMove) Type() CmdType { return CmdStandbyMove }

// Event kinds of standby.
const (
	// KindStandby records SetStandby(true): Node, By and At say who put
	// the node on standby and when.
	KindStandby EventKind = "standby"
	// KindUnstandby records SetStandby(false).
	KindUnstandby EventKind = "unstandby"
	// KindStandbyStays notes (leader) that a group stays on its standby
	// owner: no other healthy node that is not on standby may own it.
	KindStandbyStays EventKind = "standby-stays"
)

// CauseStandby is the cause of the stopping event of a StandbyMove. It is
// not a move cause (Cause.Moves): only StandbyMove, a type older builds
// stop on, records it.
const CauseStandby Cause = "standby"

// OnStandby reports whether member id is on standby.
func (s *State) OnStandby(id string) bool {
	m, ok := s.Members[id]
	return ok && m.Standby != nil
}

func (s *State) setStandby(index uint64, c *SetStandby) Result {
	m, ok := s.Members[c.Node]
	if !ok {
		return Result{Err: fmt.Errorf("%w: %s (members: %s)", ErrNoMember, c.Node, strings.Join(s.MemberIDs(), ", "))}
	}
	if m.Role != RoleNode {
		return Result{Err: fmt.Errorf("%w: %s is a %s: it owns no group, so standby has nothing to move (it votes either way)", ErrInvalid, c.Node, m.Role)}
	}
	if (m.Standby != nil) == c.Standby {
		return Result{} // already so: the first event says who and when
	}
	if c.Standby {
		m.Standby = &Standby{By: c.By, Since: c.At}
		s.event(index, c.Header, Event{Kind: KindStandby, Node: c.Node, Reason: "no new placement and no failback here; its groups move away by planned moves; it keeps voting"})
		return Result{}
	}
	m.Standby = nil
	s.event(index, c.Header, Event{Kind: KindUnstandby, Node: c.Node, Reason: "eligible again for placement and failback"})
	return Result{}
}

func (s *State) standbyMove(index uint64, c *StandbyMove) Result {
	g, err := s.group(c.Group, c.ExpectEpoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	owner, ok := s.Members[st.Owner]
	switch {
	case !ok || owner.Standby == nil:
		return Result{Err: fmt.Errorf("%w: owner %q of group %s is not on standby", ErrInvalid, st.Owner, c.Group)}
	case st.State != StateOnline && st.State != StateStarting:
		return Result{Err: fmt.Errorf("%w: group %s is %s on %s; wait for it to settle", ErrBusy, c.Group, st.State, st.Owner)}
	case st.Suspended:
		return Result{Err: fmt.Errorf("%w: group %s is suspended: no automatic action", ErrBusy, c.Group)}
	case st.Owner == c.To:
		return Result{Err: fmt.Errorf("%w: group %s is already on %s", ErrInvalid, c.Group, c.To)}
	case s.OnStandby(c.To):
		return Result{Err: fmt.Errorf("%w: %s is on standby too", ErrNotEligible, c.To)}
	}
	if err := s.Eligible(g, c.To); err != nil {
		return Result{Err: err}
	}
	reason := fmt.Sprintf("%s on standby since %s", st.Owner, owner.Standby.Since.UTC().Format(time.RFC3339))
	if owner.Standby.By != "" {
		reason += " by " + owner.Standby.By
	}
	st.State, st.Target, st.Since, st.Reason = StateStopping, c.To, c.At, "standby move to "+c.To+": "+reason
	s.event(index, c.Header, Event{Kind: KindStopping, Group: c.Group, From: st.Owner, To: c.To, Epoch: st.Epoch, Cause: CauseStandby, Reason: reason})
	return Result{Epoch: st.Epoch}
}
