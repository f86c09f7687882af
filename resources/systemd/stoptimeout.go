package systemd

import (
	"time"

	"github.com/raftha/raftha/resources"
)

// ExplicitStopTimeout implements resources.StopTimeouter: Stop, including
// the wait for the unit to settle, is bounded by stop_timeout when set;
// otherwise by min(timeout, stop_deadline), which always fits a
// self-fence.
func (p *Params) ExplicitStopTimeout() time.Duration { return resources.DurationOr(p.StopTimeout, 0) }

// StartTimeout implements resources.StartTimeouter: Start, including the
// wait for the unit to settle, is bounded by timeout (default 90 s).
func (r *Resource) StartTimeout() time.Duration { return r.timeout }
