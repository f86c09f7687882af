package exec

import "time"

// StopTimeout implements resources.StopTimeouter: a stop command (or
// stopping a run command) is bounded by timeout.
func (p *Params) StopTimeout() time.Duration { return p.timeout() }
