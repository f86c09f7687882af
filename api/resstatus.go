package api

import "time"

// ResourceState is what one resource of a group is doing on the group's
// owner, as the owner last reported it.
type ResourceState string

// The states of a resource on its group's owner.
const (
	// ResourceStopped: not started at this epoch, or stopped cleanly.
	ResourceStopped ResourceState = "stopped"
	// ResourceStarting: its Start is under way.
	ResourceStarting ResourceState = "starting"
	// ResourceRunning: started, and its last check (if any) passed.
	ResourceRunning ResourceState = "running"
	// ResourceCheckFailing: started, and its last check failed.
	ResourceCheckFailing ResourceState = "check-failing"
	// ResourceStopping: its Stop is under way.
	ResourceStopping ResourceState = "stopping"
	// ResourceFailed: its last Start or Stop failed.
	ResourceFailed ResourceState = "failed"
)

// CheckResult is the outcome of one resource check.
type CheckResult string

// The outcomes of a resource check.
const (
	// CheckOK: the check passed.
	CheckOK CheckResult = "ok"
	// CheckFailed: the check failed or timed out.
	CheckFailed CheckResult = "failed"
)

// MaxResourceError bounds ResourceStatus.LastError, in bytes.
const MaxResourceError = 256

// ResourceStatus is one resource of a group as the group's owner runs it
// at the group's current epoch. The owner sends it to the leader with its
// heartbeats; the leader keeps it in memory only (never in the log) and
// forgets it when the group changes owner or epoch, so a view shows only
// what the current owner said, at most a heartbeat old while the owner is
// in contact.
type ResourceStatus struct {
	// Name is the resource's name in its group.
	Name string `json:"name"`
	// Type is the resource type (exec, disk, aws.route, ...).
	Type string `json:"type"`
	// Node is the member that runs it and reported this: the owner.
	Node string `json:"node"`
	// State is what the resource is doing there.
	State ResourceState `json:"state"`
	// LastCheck is when its last check ended; nil before the first
	// check at this epoch (or when it is not monitored).
	LastCheck *time.Time `json:"last_check,omitempty"`
	// LastCheckResult is the outcome of that check; "" before it.
	LastCheckResult CheckResult `json:"last_check_result,omitempty"`
	// ConsecutiveFailures counts the checks that failed in a row since
	// the last one that passed or the last start.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Restarts counts the monitor's restarts of it on Node at this epoch.
	Restarts int `json:"restarts"`
	// LastError is the last error of a check, start or stop of it at this
	// epoch, cut at MaxResourceError bytes; it stays after a recovery.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// LastStart is how long its last Start took; 0 before one ended.
	LastStart Duration `json:"last_start,omitempty"`
	// LastStop is how long its last Stop took; 0 before one ended.
	LastStop Duration `json:"last_stop,omitempty"`
}
