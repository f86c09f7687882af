package disk

import (
	"fmt"
	"time"

	"github.com/raftha/raftha/resources"
)

// ExplicitStopTimeout implements resources.StopTimeouter: Stop (unmount,
// killing the holders within kill_timeout) is bounded by stop_timeout when
// set; otherwise by min(timeout, stop_deadline), which always fits a
// self-fence.
func (p *Params) ExplicitStopTimeout() time.Duration { return resources.DurationOr(p.StopTimeout, 0) }

// checkKillTimeout refuses an explicit kill_timeout that does not fit in
// the explicit stop bound (stop_timeout, else timeout: the stop is never
// longer): the stop would end before the holders get SIGKILL.
func (p *Params) checkKillTimeout() error {
	k := resources.DurationOr(p.KillTimeout, 0)
	if k == 0 {
		return nil
	}
	for _, b := range []struct{ key, val string }{{"stop_timeout", p.StopTimeout}, {"timeout", p.Timeout}} {
		if d := resources.DurationOr(b.val, 0); d > 0 {
			if k >= d {
				return fmt.Errorf("kill_timeout: %s must be shorter than %s %s, or the stop ends before the holders get SIGKILL", p.KillTimeout, b.key, b.val)
			}
			return nil
		}
	}
	return nil
}

// stopTimeout is the stop bound: stop_timeout, else min(timeout,
// stop_deadline).
func (p *Params) stopTimeout(env resources.Env) time.Duration {
	return resources.StopTimeoutOr(p.StopTimeout, resources.DurationOr(p.Timeout, 60*time.Second), env.StopDeadline)
}

// killTimeout is the holders' SIGTERM-to-SIGKILL grace: kill_timeout, by
// default 5s but at most half the stop bound, so that the SIGKILL and the
// unmount still fit when stop_deadline is short. An explicit kill_timeout
// that does not fit (only possible against a stop_deadline: Validate
// refuses the rest) is cut to half the stop bound too, with a warning.
func (p *Params) killTimeout(env resources.Env) time.Duration {
	stop := p.stopTimeout(env)
	if p.KillTimeout == "" {
		return min(5*time.Second, stop/2)
	}
	kill := resources.DurationOr(p.KillTimeout, 5*time.Second)
	if kill >= stop {
		if env.Logger != nil {
			env.Logger.Warn("kill_timeout does not fit in the stop timeout (fencing.stop_deadline); using half of it", "kill_timeout", kill, "stop_timeout", stop, "using", stop/2)
		}
		kill = stop / 2
	}
	return kill
}
