package server

import (
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// checkStopTimeouts refuses resources whose own stop timeout is longer
// than the cluster's fencing.stop_deadline: a self-fencing owner could not
// stop them in time (it would cut the stop short and take its hard action
// instead). Types whose parameters do not implement
// resources.StopTimeouter are not checked.
func (s *Server) checkStopTimeouts(root *yaml.Node, specs []fsm.GroupSpec, deadline time.Duration) ErrorList {
	var errs ErrorList
	for i, g := range specs {
		for j, r := range g.Resources {
			t, err := s.registry.Lookup(r.Type)
			if err != nil {
				continue // ParseGroups reported it
			}
			p := t.NewParams()
			if len(r.Params) > 0 && json.Unmarshal(r.Params, p) != nil {
				continue
			}
			st, ok := p.(resources.StopTimeouter)
			if !ok || st.StopTimeout() <= deadline {
				continue
			}
			path := fmt.Sprintf("groups[%d].resources[%d]", i, j)
			errs = append(errs, &FieldError{Line: LineOf(root, path), Path: path, Msg: fmt.Sprintf("resource %s (%s) may take %s to stop, longer than fencing.stop_deadline %s: a self-fencing owner could not stop it in time; lower its timeout to at most %s or raise the cluster's stop_deadline", r.Name, r.Type, st.StopTimeout(), deadline, deadline)})
		}
	}
	return errs
}
