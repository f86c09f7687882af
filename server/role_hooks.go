package server

import (
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/hooks"
)

// This file is the server's side of the hooks (internal/hooks): it builds
// the runner from plain values and keeps the unexported names other
// files call.

// newHooks registers the hook metrics; nothing runs until startHooks.
func newHooks(s *Server) (*hooks.Runner, error) {
	return hooks.New(hooks.Deps{NodeID: s.cfg.NodeID, Hooks: s.cfg.Hooks, FSM: s.fsm, Logger: s.logger, Registerer: s.metrics.reg})
}

// startHooks starts the hooks, when any is configured: Start calls it once
// raft is open (events at or below its last index are history).
func (s *Server) startHooks() {
	s.hooks.Start(s.ctx, s.raft.LastIndex(), s.goFn)
}

// hookNote queues the hooks of a note this member records about itself
// (self-fenced, self-fence-action) at once, before it reaches the log.
func (s *Server) hookNote(n *fsm.Note) {
	if s.hooks == nil {
		return
	}
	s.hooks.Note(n)
}
