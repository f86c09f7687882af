package owner

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// instance is a group as it runs here: resources built at one epoch.
// started counts the resources that may have taken effect: a resource
// counts from the moment its Start is called, since a Start that fails or
// hangs may still have acted (safety clause 7). Fields the guard reads are
// written under the worker's mu.
type instance struct {
	epoch   uint64
	spec    []fsm.ResourceSpec // what res was built from (the run record)
	res     []built
	started int
	online  bool
	// recorded: the run record names this instance.
	recorded bool
	// leftover: loaded from a run record at start; stopped before
	// anything else, whatever the log says.
	leftover bool
	// born is when the instance was built or loaded.
	born time.Time
	// validUntil is the latest lease expiry the guard saw for it.
	validUntil time.Time
	// stopping: a stop has begun; the instance is only stopped from now
	// on. lastStop is the last stop attempt, stopErr its error, and
	// stopFailedAt when a stop of it first failed.
	stopping     bool
	lastStop     time.Time
	stopErr      error
	stopFailedAt time.Time
	// supersededAt: when a fence check found the group superseded
	// (fencewatch.go); the guard takes the hard action stop_deadline
	// later if the resources are still up, whatever the lease says.
	supersededAt time.Time
	// selfFenced: the lease ran out and the self-fence was recorded;
	// hardDone: the guard took the hard action for it.
	selfFenced, hardDone bool
}

type built struct {
	name string
	typ  string
	r    resources.Resource
	mon  fsm.MonitorSpec
	// monitor progress (worker goroutine only)
	next     time.Time
	failures int
	restarts int
}

type worker struct {
	r    *Runner
	name string
	kick chan struct{}
	log  hclog.Logger

	mu   sync.Mutex
	inst *instance
	// cleaned: first-sight cleanup tried (or not needed); cleanFailed:
	// it failed. Both under mu.
	cleaned, cleanFailed bool
	abandoned            bool

	// gaveUp is the failed report sent for an epoch (worker goroutine
	// only): the worker never starts the group again at that epoch and
	// re-sends the report until the log moves on, since a report whose
	// RPC failed may still commit later.
	gaveUp     *fsm.Report
	gaveUpSent time.Time

	// handedOff is the offline report sent after a planned stop at an
	// epoch stopped everything of the group here (worker goroutine only;
	// handedoff.go): until this member's log has passed the epoch, the
	// worker neither stops nor starts the group, and re-sends the report
	// unless the leader already took it (handedOffTaken).
	handedOff      *fsm.Report
	handedOffSent  time.Time
	handedOffTaken bool
	// handOffOnStop is the hand-off a stop under way ends with if it
	// succeeds (set around the call to stopLocal).
	handOffOnStop *fsm.Report

	// retry is the start retry under way (startretry.go; worker
	// goroutine only).
	retry startRetry

	// fencing progress of the current takeover (worker goroutine only)
	fenceEpoch uint64
	fenceSeen  time.Time
	fenceTries int
	fenceNext  time.Time

	// stepTimes: what the current change's steps took (overhead.go;
	// worker goroutine only).
	stepTimes stepTimes

	// fenceWatchNext: when the FenceCheckers are due again (fencewatch.go;
	// worker goroutine only).
	fenceWatchNext time.Time

	// res is what the resources did at the current epoch, for status
	// (resstate.go).
	res resTracker

	// pill: the poison pill of a takeover, both sides (pill.go; worker
	// goroutine only).
	pill pillState
}
