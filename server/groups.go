package server

import (
	"context"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
)

// ApplyGroups validates a group file against the registry and the cluster
// state and commits it whole, or commits nothing and returns every problem
// with its line.
func (s *Server) ApplyGroups(ctx context.Context, data []byte, by string) ([]string, error) {
	if err := s.checkRunning(); err != nil {
		return nil, err
	}
	specs, root, errs := groupfile.ParseContext(ctx, data, s.registry)
	if len(errs) > 0 {
		return nil, errs
	}
	st := s.fsm.View()
	if verrs := st.ValidateGroups(specs); len(verrs) > 0 {
		return nil, groupfile.PathErrors(root, verrs)
	}
	if serrs := groupfile.CheckStopTimeouts(root, specs, s.registry, s.settingsOf(st).StopDeadline); len(serrs) > 0 {
		return nil, serrs
	}
	_, err := s.operatorCommit(ctx, &fsm.ApplyGroups{Header: s.header(by), Groups: specs})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(specs))
	for i, g := range specs {
		names[i] = g.Name
	}
	return names, nil
}
