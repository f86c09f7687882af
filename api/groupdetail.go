package api

import (
	"context"
	"encoding/json"
)

// MaxGroupChanges is how many recent ownership changes GroupDetail
// carries.
const MaxGroupChanges = 10

// GroupDetail is GET /v1/groups/{name}: one group's applied spec, its
// status and its recent ownership changes.
type GroupDetail struct {
	// Status is the group's status as the leader sees it or, when no
	// leader answers, as the answering member's log has it (Stale).
	Status GroupStatus `json:"status"`
	// Spec is the applied group definition, from the answering member's
	// log.
	Spec GroupSpec `json:"spec"`
	// Changes are the group's last ownership changes (up to
	// MaxGroupChanges), oldest first: the tail of `raftha why`.
	Changes []OwnershipChange `json:"changes"`
	// AnsweredBy is the member that produced this view.
	AnsweredBy string `json:"answered_by"`
	// Stale is true when the status did not come from a ready leader.
	Stale bool `json:"stale,omitempty"`
	// StaleReason says why the view is stale.
	StaleReason string `json:"stale_reason,omitempty"`
}

// GroupSpec is a group's applied definition in GroupDetail.
type GroupSpec struct {
	// Nodes is the preference list; the first is the home node.
	Nodes []string `json:"nodes"`
	// Failback is true when the group moves back to its home node.
	Failback bool `json:"failback"`
	// Resources are in start order.
	Resources []ResourceSpec `json:"resources"`
}

// ResourceSpec is one resource of a GroupSpec.
type ResourceSpec struct {
	// Name is the resource's name in its group.
	Name string `json:"name"`
	// Type is the resource type (exec, disk, aws.route, ...).
	Type string `json:"type"`
	// Settings are the type's parameters as applied (a JSON object).
	Settings json.RawMessage `json:"settings,omitempty"`
	// Monitor is the check interval and recovery policy, as Go durations
	// and counts.
	Monitor MonitorSpec `json:"monitor"`
}

// MonitorSpec is a resource's check and recovery policy in ResourceSpec.
type MonitorSpec struct {
	// Interval between checks; 0 when the resource is not monitored.
	Interval Duration `json:"interval"`
	// Timeout of one check.
	Timeout Duration `json:"timeout"`
	// FailuresBeforeRestart is how many consecutive failed checks restart
	// the resource.
	FailuresBeforeRestart int `json:"failures_before_restart"`
	// RestartsBeforeFailover is how many restarts on one node come before
	// the group fails over.
	RestartsBeforeFailover int `json:"restarts_before_failover"`
}

// Group is GET /v1/groups/{name}: the group's spec, status and recent
// ownership changes. An unknown group gives an error wrapping
// ErrNotFound.
func (c *Client) Group(ctx context.Context, group string) (*GroupDetail, error) {
	var d GroupDetail
	return &d, c.get(ctx, groupPath(group), &d)
}

// LocalStatus is GET /v1/status/local: the answering member's own view,
// never forwarded. It is Stale unless that member is the ready leader.
func (c *Client) LocalStatus(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.get(ctx, "/v1/status/local", &st)
}
