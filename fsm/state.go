// Package fsm is raftha's replicated state machine: members, failover groups
// with their owner and epoch, and a bounded event history.
//
// The package is pure: it imports no network, no AWS and no clock. Every
// timestamp arrives inside a command, so the same log always yields the same
// state. See DESIGN.md in this directory for the rules it enforces.
package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// Role is a member's role, mirrored from the member configuration.
type Role string

const (
	// RoleNode may own groups.
	RoleNode Role = "node"
	// RoleWitness votes but never owns a group.
	RoleWitness Role = "witness"
)

// Member is one member of the cluster as the log knows it.
type Member struct {
	// ID is the member's unique name (letters, digits, . _ -; up to 63),
	// also its Raft server ID.
	ID string `json:"id"`
	// Role is node or witness; it never changes once recorded.
	Role Role `json:"role"`
	// Address is the host:port of the member's mTLS port (Raft and
	// node-to-node RPC), also its Raft server address.
	Address string `json:"address"`
	// API is the host:port of the member's HTTPS API; "" when unknown.
	API string `json:"api,omitempty"`
	// InstanceID is the EC2 instance id a winner stops to fence this
	// member; "" when unknown (off EC2, or not yet reported).
	InstanceID string `json:"instance_id,omitempty"`
	// Standby is set while the member is on standby (SetStandby): nil
	// otherwise. UpsertMember never sets or clears it.
	Standby *Standby `json:"standby,omitempty"`
}

// ResourceSpec is one resource of a group. Params holds the type-specific
// settings as validated JSON; the FSM treats them as opaque.
type ResourceSpec struct {
	// Name identifies the resource within its group (letters, digits,
	// . _ -; up to 63; unique in the group).
	Name string `json:"name"`
	// Type is the resource type's registry name, e.g. "exec" or
	// "aws.route"; required.
	Type string `json:"type"`
	// Params is the type's parameters as a JSON object, validated by the
	// proposer; omitted when empty.
	Params json.RawMessage `json:"params,omitempty"`
	// Monitor is the resource's check and recovery policy.
	Monitor MonitorSpec `json:"monitor"`
}

// MonitorSpec is a resource's periodic check and recovery policy: after
// FailuresBeforeRestart consecutive failed checks the resource (and those
// started after it) is restarted on the same node; after
// RestartsBeforeFailover restarts the group fails over.
type MonitorSpec struct {
	// Interval between checks; 0 disables monitoring.
	Interval time.Duration `json:"interval"`
	// Timeout of one check.
	Timeout time.Duration `json:"timeout"`
	// FailuresBeforeRestart is how many consecutive failed checks trigger
	// a restart (at least 1 in a group file).
	FailuresBeforeRestart int `json:"failures_before_restart"`
	// RestartsBeforeFailover is how many restarts on the same node are
	// allowed before the group is stopped and reported failed so that it
	// fails over (0: fail over at the first restart trigger).
	RestartsBeforeFailover int `json:"restarts_before_failover"`
}

// GroupSpec is the operator-defined part of a failover group.
type GroupSpec struct {
	// Name is the group's unique name (letters, digits, . _ -; up to 63).
	Name string `json:"name"`
	// Nodes is the preference list: ids of members with role node, at
	// least one, no duplicates. Nodes[0] is the group's home node.
	Nodes []string `json:"nodes"`
	// Failback moves the group back to Nodes[0] once that node has been
	// healthy for a while.
	Failback bool `json:"failback,omitempty"`
	// Resources are started in this order and stopped in reverse.
	Resources []ResourceSpec `json:"resources"`
	// StartRetries is how many times a start that failed is retried on
	// the same node, at the same epoch, before the group is reported
	// failed and fails over (CLUSTERPRO's activation retry threshold).
	// Before each retry the owner stops what it started, the failed
	// resource included; a stop that fails ends the retries (stop-failed).
	// 0: fail over at the first failure (a spec from an older build).
	StartRetries int `json:"start_retries,omitempty"`
	// StartRetryBackoff is the wait before the first retry; it doubles at
	// each retry, up to MaxStartRetryBackoff.
	StartRetryBackoff time.Duration `json:"start_retry_backoff,omitempty"`
	// RetryFailedAfter is how long a group that failed on every node
	// (and whose resources were all stopped) stays failed before the
	// leader forgets FailedOn and places it again; 0 disables it (the
	// group then waits for an operator, as in older builds).
	RetryFailedAfter time.Duration `json:"retry_failed_after,omitempty"`
}

// MaxStartRetryBackoff caps the doubling wait between start retries.
const MaxStartRetryBackoff = time.Minute

// StartRetryDelay is the wait before start retry n (1 for the first):
// StartRetryBackoff doubled n-1 times, at most MaxStartRetryBackoff (or
// StartRetryBackoff when that is longer); at least 1ms.
func (g GroupSpec) StartRetryDelay(n int) time.Duration {
	d := max(g.StartRetryBackoff, time.Millisecond)
	limit := max(MaxStartRetryBackoff, d)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// GroupState is the lifecycle state of a group.
type GroupState string

const (
	// StateOffline means no node is acting for the group.
	StateOffline GroupState = "offline"
	// StateStarting means the owner is confirming and starting resources.
	StateStarting GroupState = "starting"
	// StateOnline means every resource started on the owner.
	StateOnline GroupState = "online"
	// StateStopping means the owner is stopping resources (planned move).
	StateStopping GroupState = "stopping"
	// StateFencing means the owner (the takeover winner) must fence the
	// previous owner before it may start anything.
	StateFencing GroupState = "fencing"
	// StateFailed means the owner could not start the group and stopped
	// what it had started; nothing runs until an operator or policy acts.
	StateFailed GroupState = "failed"
)

// GroupStatus is the log-owned part of a group: who owns it, at which
// epoch, and what it is doing.
type GroupStatus struct {
	// Owner is the node that may act for the group at Epoch.
	Owner string `json:"owner,omitempty"`
	// Epoch is the Raft index of the entry that granted ownership to
	// Owner: the fencing token carried by every resource action.
	Epoch uint64 `json:"epoch"`
	// State is the group's lifecycle state; a new group starts offline.
	State GroupState `json:"state"`
	// Reason says why the group is in State (last error, cause of a move).
	Reason string `json:"reason,omitempty"`
	// Target is the destination of a planned move while State is stopping.
	Target string `json:"target,omitempty"`
	// FenceNode is the previous owner that must be fenced while State is
	// fencing.
	FenceNode string `json:"fence_node,omitempty"`
	// FenceInstance is FenceNode's EC2 instance id at decision time.
	FenceInstance string `json:"fence_instance,omitempty"`
	// FenceInstances lists every instance id FenceNode had since the
	// decision, FenceInstance first; an id FenceNode reports while the
	// group is fencing is appended, never substituted. The winner must
	// fence all of them (see InstancesToFence).
	FenceInstances []string `json:"fence_instances,omitempty"`
	// FenceStopFailed is set while fencing a node whose stop of the group
	// failed: its own word that it runs nothing proves nothing, so only a
	// fence or an operator override ends the fencing.
	FenceStopFailed bool `json:"fence_stop_failed,omitempty"`
	// FenceWait is how long a lease-only winner must wait, from when it
	// learns of the takeover, before it may treat FenceNode as fenced.
	FenceWait time.Duration `json:"fence_wait,omitempty"`
	// FenceSilence is how long the leader had not heard from FenceNode
	// when it decided the takeover: the part of the lease-only wait that
	// had already passed. A winner that recomputes the wait from its own
	// configuration subtracts it (and waits the longer of the two).
	FenceSilence time.Duration `json:"fence_silence,omitempty"`
	// Since is when State was entered (proposer's clock).
	Since time.Time `json:"since"`
	// FailedOn lists the nodes where the group failed (start or monitor)
	// since an operator last moved or resumed it; automatic recovery does
	// not place it there again.
	FailedOn []string `json:"failed_on,omitempty"`
	// StopFailed is set when the owner could not stop the group's
	// resources: only a fenced takeover may move it.
	StopFailed bool `json:"stop_failed,omitempty"`
	// Suspended pauses monitoring and automatic actions (maintenance).
	Suspended bool `json:"suspended,omitempty"`
}

// Group is a failover group.
type Group struct {
	// Spec is the operator-defined part, replaced by ApplyGroups.
	Spec GroupSpec `json:"spec"`
	// Status is the log-owned part, changed only by the group commands.
	Status GroupStatus `json:"status"`
}

// Event is one entry of the bounded history: who did what, when and why.
type Event struct {
	// Seq numbers the event (from State.NextSeq); numbers are never reused.
	Seq uint64 `json:"seq"`
	// Index is the Raft index of the entry that recorded the event; one
	// entry may record several events.
	Index uint64 `json:"index"`
	// At is the command's Header.At (proposer's clock, display only).
	At time.Time `json:"at"`
	// Kind is what happened: member-added, member-updated,
	// member-removed, group-created, group-updated, group-deleted,
	// assigned, takeover, stopping, stopped, online, failed, fenced,
	// suspended, resumed, settings-seeded, settings-changed, or a Note's
	// Kind.
	Kind EventKind `json:"kind"`
	// Group is the group concerned; "" for member events.
	Group string `json:"group,omitempty"`
	// Node is the member concerned: the member of a member event, the
	// reporting owner of online/failed/stopped, the winner of fenced, or
	// a Note's Node.
	Node string `json:"node,omitempty"`
	// From is the previous owner (assigned, takeover, stopping) or, for
	// fenced, the node that was fenced.
	From string `json:"from,omitempty"`
	// To is the new owner (assigned, takeover) or a move's target
	// (stopping).
	To string `json:"to,omitempty"`
	// Epoch is the group epoch the event belongs to; for assigned and
	// takeover, the new epoch. 0 for member events.
	Epoch uint64 `json:"epoch,omitempty"`
	// Cause is the Assign or BeginTransfer cause (placement, planned,
	// node-lost, ...) or, for fenced, the fencing mode (a FencingMode
	// spelled as a Cause).
	Cause Cause `json:"cause,omitempty"`
	// Reason is the free-text explanation; for fenced, how long the fence
	// took.
	Reason string `json:"reason,omitempty"`
	// By is the command's Header.By.
	By string `json:"by,omitempty"`
	// Timing is how long the steps took (takeover, fenced, online; see
	// Timing); nil when nothing was measured.
	Timing *Timing `json:"timing,omitempty"`
}

// ClusterSettings are the fencing settings the lease-only wait depends
// on. They are cluster-wide: every member must be configured with the
// same values (the leader refuses the heartbeats of a member whose
// configuration differs), and a takeover computes its wait from them,
// never from the deciding leader's own configuration.
type ClusterSettings struct {
	// FencingMode is aws-stop or lease-only.
	FencingMode FencingMode `json:"fencing_mode"`
	// Heartbeat is timing.heartbeat.
	Heartbeat time.Duration `json:"heartbeat"`
	// Lease is timing.lease.
	Lease time.Duration `json:"lease"`
	// StopDeadline is fencing.stop_deadline.
	StopDeadline time.Duration `json:"stop_deadline"`
}

// String formats the settings with their configuration keys.
func (cs ClusterSettings) String() string {
	return fmt.Sprintf("fencing.mode %s, timing.heartbeat %s, timing.lease %s, fencing.stop_deadline %s", cs.FencingMode, cs.Heartbeat, cs.Lease, cs.StopDeadline)
}

// MaxEvents bounds the event history; the oldest events are dropped first.
const MaxEvents = 1000

// State is the whole replicated state. It is mutated only by Apply.
type State struct {
	// Members holds every member, by ID.
	Members map[string]*Member `json:"members"`
	// Groups holds every group, by name.
	Groups map[string]*Group `json:"groups"`
	// Events is the bounded history, oldest first (at most MaxEvents).
	Events []Event `json:"events"`
	// NextSeq numbers events; it never goes back, even when old events
	// are dropped.
	NextSeq uint64 `json:"next_seq"`
	// Index is the Raft index of the last applied command.
	Index uint64 `json:"index"`
	// Settings are the cluster-wide fencing settings; nil until the
	// first ready leader seeds them.
	Settings *ClusterSettings `json:"settings,omitempty"`
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Members: map[string]*Member{}, Groups: map[string]*Group{}, NextSeq: 1}
}

// Clone returns a deep copy of s, safe to read while s keeps changing.
func (s *State) Clone() *State {
	c := &State{
		Members: make(map[string]*Member, len(s.Members)),
		Groups:  make(map[string]*Group, len(s.Groups)),
		Events:  append([]Event(nil), s.Events...),
		NextSeq: s.NextSeq,
		Index:   s.Index,
	}
	if s.Settings != nil {
		cs := *s.Settings
		c.Settings = &cs
	}
	for k, m := range s.Members {
		mm := *m
		c.Members[k] = &mm
	}
	for k, g := range s.Groups {
		c.Groups[k] = g.Clone()
	}
	return c
}

// Clone returns a deep copy of g.
func (g *Group) Clone() *Group {
	c := &Group{Spec: g.Spec, Status: g.Status}
	c.Spec.Nodes = append([]string(nil), g.Spec.Nodes...)
	c.Status.FailedOn = append([]string(nil), g.Status.FailedOn...)
	c.Status.FenceInstances = append([]string(nil), g.Status.FenceInstances...)
	c.Spec.Resources = make([]ResourceSpec, len(g.Spec.Resources))
	for i, r := range g.Spec.Resources {
		c.Spec.Resources[i] = ResourceSpec{Name: r.Name, Type: r.Type, Params: append(json.RawMessage(nil), r.Params...), Monitor: r.Monitor}
	}
	return c
}

// HasNode reports whether node is in the group's preference list.
func (g *Group) HasNode(node string) bool {
	for _, n := range g.Spec.Nodes {
		if n == node {
			return true
		}
	}
	return false
}

// InstancesToFence returns the instance ids the winner must fence, in the
// order they were recorded, without duplicates or empty ids (a state from
// an older build has only FenceInstance).
func (st GroupStatus) InstancesToFence() []string {
	var out []string
	for _, id := range append([]string{st.FenceInstance}, st.FenceInstances...) {
		if id != "" && !containsString(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Active reports whether some node may be acting for the group: anything
// but offline and failed.
func (st GroupStatus) Active() bool {
	return st.State != StateOffline && st.State != StateFailed && st.State != ""
}
