package disk

import (
	"time"

	"github.com/raftha/raftha/resources"
)

// StopTimeout implements resources.StopTimeouter: Stop (unmount, killing
// the holders within kill_timeout) is bounded by timeout.
func (p *Params) StopTimeout() time.Duration { return resources.DurationOr(p.Timeout, 60*time.Second) }
