package fsm

import "fmt"

// RetryFailed is the leader placing again a group that failed on every
// node, once the group's RetryFailedAfter has passed: FailedOn is
// forgotten and the group is assigned to To at a new epoch, without a
// fence. It applies only to a failed group whose resources were all
// stopped (not StopFailed: that one moves only by a fenced takeover or an
// operator's override) and that is not suspended. The assigned event's
// cause is CauseAutoRetry. Older builds stop on this command (Decode),
// since they do not know its type.
type RetryFailed struct {
	Header
	// Group is the group to place again.
	Group string `json:"group"`
	// To is the node to place it on: a member with role node listed in
	// the group's Nodes.
	To string `json:"to"`
	// ExpectEpoch is the epoch at which the group failed everywhere; any
	// other current epoch refuses the command (ErrStaleEpoch).
	ExpectEpoch uint64 `json:"expect_epoch"`
	// Reason is the explanation; it becomes the group's Reason.
	Reason string `json:"reason,omitempty"`
}

func (s *State) retryFailed(index uint64, c *RetryFailed) Result {
	g, err := s.group(c.Group, c.ExpectEpoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	switch {
	case st.State != StateFailed:
		return Result{Err: fmt.Errorf("%w: group %s is %s; only a failed group is retried", ErrBusy, c.Group, st.State)}
	case st.StopFailed:
		return Result{Err: fmt.Errorf("%w: group %s could not be stopped on %s; only a fenced takeover may move it", ErrBusy, c.Group, st.Owner)}
	case st.Suspended:
		return Result{Err: fmt.Errorf("%w: group %s is suspended: no automatic action", ErrBusy, c.Group)}
	}
	if err := s.Eligible(g, c.To); err != nil {
		return Result{Err: err}
	}
	st.FailedOn = nil
	return s.assignAny(index, &Assign{Header: c.Header, Group: c.Group, To: c.To, ExpectEpoch: c.ExpectEpoch, Cause: CauseAutoRetry, Reason: c.Reason})
}
