package systemd

import (
	"time"

	"github.com/raftha/raftha/resources"
)

// StopTimeout implements resources.StopTimeouter: Stop, including the
// wait for the unit to settle, is bounded by timeout.
func (p *Params) StopTimeout() time.Duration { return resources.DurationOr(p.Timeout, 90*time.Second) }
