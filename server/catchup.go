package server

import (
	"context"
	"fmt"
	"time"
)

// catchUpWait bounds how long a history read waits for this member to
// apply the leader's log.
const catchUpWait = 2 * time.Second

// catchUp brings this member's applied log up to the leader's before a
// read of the history (`raftha why`), which is served from the member's
// own FSM: it asks the leader for its applied index (the status read,
// linearizable on the leader) and waits, at most catchUpWait, until this
// member has applied as far. It returns why the answer may be behind:
// "" when it is current. A member that fell behind (healed from a
// partition, still a candidate) would otherwise answer its old history
// with nothing to say so.
func (s *Server) catchUp(ctx context.Context) string {
	v, err := s.Status(ctx)
	switch {
	case err != nil:
		return "the leader could not be asked for its log index: " + err.Error()
	case v.Stale:
		return fmt.Sprintf("answered from %s's own log: %s", s.cfg.NodeID, v.StaleReason)
	}
	wait := time.NewTimer(catchUpWait)
	defer wait.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		ch := s.fsm.Changed()
		if s.fsm.AppliedIndex() >= v.Index {
			return ""
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Sprintf("%s had applied index %d of the leader's %d when the request ended", s.cfg.NodeID, s.fsm.AppliedIndex(), v.Index)
		case <-wait.C:
			return fmt.Sprintf("%s had applied index %d of the leader's %d after waiting %s", s.cfg.NodeID, s.fsm.AppliedIndex(), v.Index, catchUpWait)
		}
	}
}
