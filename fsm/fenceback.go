package fsm

import "fmt"

// takeBack applies an Assign with TargetIdle: the group returns from
// fencing to the node it was fencing, which the leader saw prove, by a
// heartbeat sent after the decision, that it runs nothing for the group.
// Every winner since the takeover only fenced and never started anything,
// so the group starts at a new epoch without a fence.
func (s *State) takeBack(index uint64, g *Group, c *Assign) Result {
	st := &g.Status
	switch {
	case c.Cause != CauseFenceTargetIdle:
		return Result{Err: fmt.Errorf("%w: a takeover back to the fence target needs cause %s, not %q", ErrInvalid, CauseFenceTargetIdle, c.Cause)}
	case st.State != StateFencing || st.FenceNode != c.To:
		return Result{Err: fmt.Errorf("%w: group %s is %s fencing %q; only a fencing group returns to the node it fences", ErrInvalid, c.Group, st.State, st.FenceNode)}
	case st.FenceStopFailed:
		return Result{Err: fmt.Errorf("%w: group %s could not be stopped on %s, so its word that it runs nothing proves nothing; fence it, or `raftha group fence-override %s`", ErrBusy, c.Group, c.To, c.Group)}
	}
	from := st.Owner
	st.Owner, st.Epoch, st.State, st.Target, st.Reason, st.Since = c.To, index, StateStarting, "", c.Reason, c.At
	st.FenceNode, st.FenceInstance, st.FenceInstances, st.FenceWait, st.FenceSilence, st.FenceStopFailed, st.StopFailed = "", "", nil, 0, 0, false, false
	s.event(index, c.Header, Event{Kind: KindTakeover, Group: c.Group, From: from, To: c.To, Epoch: index, Cause: c.Cause, Reason: c.Reason})
	return Result{Epoch: index}
}

// fenceOverride applies an operator's FenceOverride.
func (s *State) fenceOverride(index uint64, c *FenceOverride) Result {
	if c.By == "" || c.Reason == "" {
		return Result{Err: fmt.Errorf("%w: a fence override needs the operator and the reason they accept the risk", ErrInvalid)}
	}
	g, err := s.group(c.Group, c.ExpectEpoch)
	if err != nil {
		return Result{Err: err}
	}
	st := &g.Status
	ev := Event{Kind: KindFenceOverride, Group: c.Group, Node: st.Owner, Epoch: st.Epoch, Cause: CauseOperator, Reason: c.Reason}
	switch {
	case st.State == StateFencing:
		ev.From = st.FenceNode
		st.State, st.FenceNode, st.FenceInstance, st.FenceInstances, st.FenceWait, st.FenceSilence, st.FenceStopFailed = StateStarting, "", "", nil, 0, 0, false
		st.Since, st.Reason = c.At, fmt.Sprintf("fence overridden by %s: %s", c.By, c.Reason)
	case st.State == StateFailed && st.StopFailed:
		ev.From = st.Owner
		st.StopFailed, st.Since, st.Reason = false, c.At, fmt.Sprintf("stop failure overridden by %s: %s", c.By, c.Reason)
	default:
		return Result{Err: fmt.Errorf("%w: group %s is %s: there is no fence or failed stop to override", ErrInvalid, c.Group, st.State)}
	}
	s.event(index, c.Header, ev)
	return Result{Epoch: st.Epoch}
}
