// Package fsm is raftha's replicated state machine: members, failover groups
// with their owner and epoch, and a bounded event history.
//
// The package is pure: it imports no network, no AWS and no clock. Every
// timestamp arrives inside a command, so the same log always yields the same
// state. See DESIGN.md in this directory for the rules it enforces.
package fsm

import (
	"encoding/json"
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
	ID         string `json:"id"`
	Role       Role   `json:"role"`
	Address    string `json:"address"`
	API        string `json:"api,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
}

// ResourceSpec is one resource of a group. Params holds the type-specific
// settings as validated JSON; the FSM treats them as opaque.
type ResourceSpec struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Params  json.RawMessage `json:"params,omitempty"`
	Monitor MonitorSpec     `json:"monitor"`
}

// MonitorSpec is a resource's periodic check and recovery policy: after
// FailuresBeforeRestart consecutive failed checks the resource (and those
// started after it) is restarted on the same node; after
// RestartsBeforeFailover restarts the group fails over.
type MonitorSpec struct {
	// Interval between checks; 0 disables monitoring.
	Interval time.Duration `json:"interval"`
	// Timeout of one check.
	Timeout                time.Duration `json:"timeout"`
	FailuresBeforeRestart  int           `json:"failures_before_restart"`
	RestartsBeforeFailover int           `json:"restarts_before_failover"`
}

// GroupSpec is the operator-defined part of a failover group.
type GroupSpec struct {
	Name      string         `json:"name"`
	Nodes     []string       `json:"nodes"`
	Failback  bool           `json:"failback,omitempty"`
	Resources []ResourceSpec `json:"resources"`
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
	Epoch uint64     `json:"epoch"`
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
	// FenceWait is how long a lease-only winner must wait, from when it
	// learns of the takeover, before it may treat FenceNode as fenced.
	FenceWait time.Duration `json:"fence_wait,omitempty"`
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
	Spec   GroupSpec   `json:"spec"`
	Status GroupStatus `json:"status"`
}

// Event is one entry of the bounded history: who did what, when and why.
type Event struct {
	Seq    uint64    `json:"seq"`
	Index  uint64    `json:"index"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Group  string    `json:"group,omitempty"`
	Node   string    `json:"node,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Epoch  uint64    `json:"epoch,omitempty"`
	Cause  string    `json:"cause,omitempty"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
}

// MaxEvents bounds the event history; the oldest events are dropped first.
const MaxEvents = 1000

// State is the whole replicated state. It is mutated only by Apply.
type State struct {
	Members map[string]*Member `json:"members"`
	Groups  map[string]*Group  `json:"groups"`
	Events  []Event            `json:"events"`
	// NextSeq numbers events; it never goes back, even when old events
	// are dropped.
	NextSeq uint64 `json:"next_seq"`
	// Index is the Raft index of the last applied command.
	Index uint64 `json:"index"`
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

// Active reports whether some node may be acting for the group: anything
// but offline and failed.
func (st GroupStatus) Active() bool {
	return st.State != StateOffline && st.State != StateFailed && st.State != ""
}
