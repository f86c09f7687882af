package aws

import (
	"time"

	"github.com/raftha/raftha/resources"
)

// StopTimeout implements resources.StopTimeouter: a single-attach volume's
// Stop waits up to wait_timeout for the detach; a Multi-Attach volume's
// Stop does nothing.
func (p *EBSParams) StopTimeout() time.Duration {
	if p.MultiAttach {
		return 0
	}
	return resources.DurationOr(p.WaitTimeout, 2*time.Minute)
}

// StopTimeout implements resources.StopTimeouter: with delete_on_stop,
// Stop waits up to wait_timeout for Route 53 to apply the deletion;
// otherwise it does nothing.
func (p *DNSParams) StopTimeout() time.Duration {
	if !p.DeleteOnStop {
		return 0
	}
	return resources.DurationOr(p.WaitTimeout, 2*time.Minute)
}
