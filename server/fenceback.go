package server

import (
	"context"
	"fmt"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// heartbeatRunning fills a heartbeat's Applied and Running (nodes only).
func (s *Server) heartbeatRunning(a *rpcwire.HeartbeatArgs) {
	if s.runner != nil {
		a.Applied, a.Running = s.runner.runningReport()
	}
}

// FenceOverride is an operator accepting, in the log, the risk that the
// node a group is fencing (or the owner whose stop failed) still runs it:
// a fencing group is marked fenced and starts on its owner; a stop-failed
// group may move again. by (the caller's identity) and reason are
// recorded in the event, so `raftha why` shows who accepted the risk.
func (s *Server) FenceOverride(ctx context.Context, group, reason, by string) (api.GroupStatus, error) {
	if err := s.checkRunning(); err != nil {
		return api.GroupStatus{}, err
	}
	if reason == "" {
		return api.GroupStatus{}, fmt.Errorf("%w: say why you accept the risk (--accept-risk REASON)", fsm.ErrInvalid)
	}
	g, ok := s.fsm.View().Groups[group]
	if !ok {
		return api.GroupStatus{}, fmt.Errorf("%w: no group named %q", fsm.ErrNoGroup, group)
	}
	if _, err := s.operatorCommit(ctx, &fsm.FenceOverride{Header: s.header(by), Group: group, ExpectEpoch: g.Status.Epoch, Reason: reason}); err != nil {
		return groupStatusOf(g), err
	}
	s.logger.Warn("fence overridden by an operator", "group", group, "by", by, "reason", reason)
	if g, ok := s.fsm.View().Groups[group]; ok {
		return groupStatusOf(g), nil
	}
	return api.GroupStatus{}, nil
}
