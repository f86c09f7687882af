package server

import (
	"context"
	"errors"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
)

// ApplyGroupSpecs is ApplyGroups for groups defined in Go: the same
// defaults and checks as the group file (groupfile.Specs), and the same
// whole-or-nothing commit. A problem is returned as a
// yamlstrict.ErrorList (errors.As) whose entries name the field at fault
// by its group-file path ("groups[0].resources[1].handler") and carry no
// line.
func (s *Server) ApplyGroupSpecs(ctx context.Context, groups []groupfile.Group, by string) ([]string, error) {
	if err := s.checkRunning(); err != nil {
		return nil, err
	}
	data, errs := groupfile.Marshal(groups)
	if len(errs) > 0 {
		return nil, errs
	}
	names, err := s.ApplyGroups(ctx, data, by)
	var list yamlstrict.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			e.Line = 0 // a line of the rendered file, which the caller never saw
		}
	}
	return names, err
}

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
	// The disk locks against the cluster's timings (warnings are config
	// check's to print) and against the groups already applied.
	if lerrs, _ := groupfile.CheckDiskLocks(root, specs, s.registry, s.settingsOf(st)); len(lerrs) > 0 {
		return nil, lerrs
	}
	applied := make([]fsm.GroupSpec, 0, len(st.Groups))
	for _, g := range st.Groups {
		applied = append(applied, g.Spec)
	}
	if derrs := groupfile.CheckLockDevicesAgainst(root, specs, applied, s.registry); len(derrs) > 0 {
		return nil, derrs
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
