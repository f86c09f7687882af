package aws

import (
	"errors"
	"time"

	"github.com/raftha/raftha/resources"
)

// ExplicitStopTimeout implements resources.StopTimeouter: a single-attach
// volume's Stop (detach and wait) is bounded by stop_timeout when set;
// otherwise by min(wait_timeout, stop_deadline), which always fits a
// self-fence. A Multi-Attach volume's Stop does nothing.
func (p *EBSParams) ExplicitStopTimeout() time.Duration {
	return resources.DurationOr(p.StopTimeout, 0)
}

func (p *EBSParams) checkStopTimeout() error {
	if err := resources.CheckDuration("stop_timeout", p.StopTimeout, "10s"); err != nil {
		return err
	}
	if p.StopTimeout != "" && p.MultiAttach {
		return errors.New("stop_timeout cannot be set with multi_attach (a Multi-Attach volume is never detached)")
	}
	return nil
}

// ExplicitStopTimeout implements resources.StopTimeouter: with
// delete_on_stop, Stop (the deletion and the wait for INSYNC) is bounded
// by stop_timeout when set; otherwise by min(wait_timeout, stop_deadline).
// Without delete_on_stop, Stop does nothing.
func (p *DNSParams) ExplicitStopTimeout() time.Duration {
	return resources.DurationOr(p.StopTimeout, 0)
}

func (p *DNSParams) checkStopTimeout() error {
	if err := resources.CheckDuration("stop_timeout", p.StopTimeout, "10s"); err != nil {
		return err
	}
	if p.StopTimeout != "" && !p.DeleteOnStop {
		return errors.New("stop_timeout applies only with delete_on_stop (otherwise stop does nothing)")
	}
	return nil
}
