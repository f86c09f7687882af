package memtune

import (
	"runtime"

	"github.com/raftha/raftha/config"
)

// WitnessProcs is the GOMAXPROCS the agent sets for a witness when the
// operator did not set GOMAXPROCS. A witness runs no resources: it
// answers raft's heartbeats and its own lease, a few small messages each
// heartbeat interval. With more than one P, the Go runtime wakes an idle
// thread to look for work around each of them (a futex wake and a
// context switch that finds nothing), and at these rates that was about a
// tenth of an idle witness's CPU (docs/scale.md, "Idle footprint"). A
// node keeps Go's default: its takeover starts resources in parallel.
const WitnessProcs = 1

// Procs is what TuneProcs decided about GOMAXPROCS.
type Procs struct {
	// N is the GOMAXPROCS set, or 0 when TuneProcs left the runtime's.
	N int
	// Reason says why, for the agent's start-up log.
	Reason string
}

// TuneProcs sets GOMAXPROCS to WitnessProcs for a witness unless the
// operator set GOMAXPROCS (getenv is os.Getenv in the agent).
func TuneProcs(role config.Role, getenv func(string) string) Procs {
	switch {
	case getenv("GOMAXPROCS") != "":
		return Procs{Reason: "GOMAXPROCS set in the environment"}
	case role != config.RoleWitness:
		return Procs{Reason: "node: Go's default"}
	}
	runtime.GOMAXPROCS(WitnessProcs)
	return Procs{N: WitnessProcs, Reason: "witness"}
}
