package groupfile

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// CheckStopTimeouts refuses resources whose explicit stop_timeout is
// longer than the cluster's fencing.stop_deadline: a self-fencing owner
// could not stop them in time (it would cut the stop short and take its
// hard action instead). A resource without stop_timeout needs no check:
// its stop is bounded by min(timeout, stop_deadline) (resources.Env's
// StopDeadline), so a long timeout for a slow start is fine. Types whose
// parameters do not implement resources.StopTimeouter are not checked.
func CheckStopTimeouts(root *yaml.Node, specs []fsm.GroupSpec, reg *resources.Registry, deadline time.Duration) yamlstrict.ErrorList {
	var errs yamlstrict.ErrorList
	eachParams(specs, reg, func(path string, _ fsm.GroupSpec, r fsm.ResourceSpec, p any) {
		st, ok := p.(resources.StopTimeouter)
		if !ok || st.ExplicitStopTimeout() <= deadline {
			return
		}
		errs = append(errs, &yamlstrict.FieldError{Line: yamlstrict.LineOf(root, path), Path: path, Msg: fmt.Sprintf(
			"resource %s (%s): stop_timeout %s is longer than the cluster's fencing.stop_deadline %s: a self-fencing owner could not stop it in time; lower stop_timeout to at most %s (or remove it: the stop is then bounded by min(timeout, stop_deadline)), or raise the stop_deadline with `raftha cluster settings set --stop-deadline`",
			r.Name, r.Type, st.ExplicitStopTimeout(), deadline, deadline)})
	})
	return errs
}
