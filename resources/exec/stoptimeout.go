package exec

import (
	"errors"
	"time"

	"github.com/raftha/raftha/resources"
)

// ExplicitStopTimeout implements resources.StopTimeouter: the stop command
// (or the SIGTERM-to-SIGKILL wait of a run command) is bounded by
// stop_timeout when set; otherwise by min(timeout, stop_deadline), which
// always fits a self-fence.
func (p *Params) ExplicitStopTimeout() time.Duration { return resources.DurationOr(p.StopTimeout, 0) }

func (p *Params) checkStopTimeout() error {
	if err := resources.CheckDuration("stop_timeout", p.StopTimeout, "10s"); err != nil {
		return err
	}
	if p.StopTimeout != "" && p.Stop == "" && p.Run == "" {
		return errors.New("stop_timeout: there is no stop or run command to bound")
	}
	return nil
}

// StartTimeout implements resources.StartTimeouter: the start command, or
// a run command's wait until it is up, is bounded by timeout. A run
// command's Start first stops a process an earlier agent recorded (the
// stop bound, then up to 5 s for SIGKILL to take), and stops the command
// again within the stop bound when it did not come up.
func (r *Resource) StartTimeout() time.Duration {
	if r.p.Run == "" {
		return r.p.timeout()
	}
	return r.p.timeout() + 2*r.stopTimeout + 5*time.Second
}
