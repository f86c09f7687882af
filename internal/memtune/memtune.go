// Package memtune holds the agent's process-wide runtime settings: the Go
// runtime's garbage collector target and GOMAXPROCS chosen for the
// member's role, and the trim of the executable's pages touched only while
// the agent started. All are for the `raftha agent` process only (an
// embedding program keeps its own settings); see docs/scale.md, "Idle
// footprint".
package memtune

import (
	"runtime/debug"

	"github.com/raftha/raftha/config"
)

// WitnessGCPercent is the GOGC the agent sets for a witness when the
// operator set neither GOGC nor GOMEMLIMIT. A witness's live heap is about
// 2 MiB and it allocates little when idle, so collecting at 50 % growth
// instead of 100 % costs a collection every few tens of seconds and keeps
// about 1 MiB less heap resident. A node keeps Go's default: its takeover
// path allocates, and its failover time must not pay for more collections.
const WitnessGCPercent = 50

// GC is what Tune decided about the garbage collector.
type GC struct {
	// Percent is the GOGC set, or 0 when Tune left the runtime's setting.
	Percent int
	// Reason says why, for the agent's start-up log.
	Reason string
}

// Tune sets the collector's target for role unless the operator chose one:
// getenv (os.Getenv in the agent) is asked for GOGC and GOMEMLIMIT, and
// either being set leaves the runtime as the operator configured it.
func Tune(role config.Role, getenv func(string) string) GC {
	switch {
	case getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "":
		return GC{Reason: "GOGC or GOMEMLIMIT set in the environment"}
	case role != config.RoleWitness:
		return GC{Reason: "node: Go's default"}
	}
	debug.SetGCPercent(WitnessGCPercent)
	return GC{Percent: WitnessGCPercent, Reason: "witness"}
}
