package api

import (
	"runtime/debug"
	"time"

	"github.com/raftha/raftha/fsm"
)

// Version is the raftha version, set at build time (make: -ldflags -X);
// else the module version of a `go install ...@vX.Y.Z` build; else "dev".
var Version = "dev"

func init() {
	if bi, ok := debug.ReadBuildInfo(); ok && Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
}

// Status is the cluster as the leader sees it (or, when no leader answers,
// as this member last applied it, with Stale set).
type Status struct {
	// Leader is the leader's member id ("" when there is none).
	Leader string `json:"leader"`
	// Term is the leader's Raft term.
	Term uint64 `json:"term"`
	// Index is the last applied Raft index of the member that answered;
	// in a stale view, the index of the last entry of its log that the
	// view includes (see Unconfirmed).
	Index uint64 `json:"index"`
	// AnsweredBy is the member that produced this view.
	AnsweredBy string `json:"answered_by"`
	// Stale is true when the view did not come from a ready leader.
	Stale bool `json:"stale,omitempty"`
	// StaleReason says why the view is stale.
	StaleReason string `json:"stale_reason,omitempty"`
	// StaleSince is when a stale view was last known current: when the
	// member last heard from a leader or, when it has not since it
	// started, when the last entry of its log was written; nil when
	// unknown.
	StaleSince *time.Time `json:"stale_since,omitempty"`
	// StaleAgeMS is how old a stale view is (now - StaleSince on the
	// answering member's clock), in milliseconds.
	StaleAgeMS int64 `json:"stale_age_ms,omitempty"`
	// StaleBasis says what StaleSince is, for people.
	StaleBasis string `json:"stale_basis,omitempty"`
	// Unconfirmed counts the entries of a stale view that the member's
	// log holds but that it has not applied: they are not known to be
	// committed (a member restarted without quorum applies nothing).
	Unconfirmed uint64 `json:"unconfirmed_entries,omitempty"`
	// Members lists the members the log knows, by id, then any Raft
	// voter the log does not know yet.
	Members []MemberStatus `json:"members"`
	// Groups lists every group, by name.
	Groups []GroupStatus `json:"groups"`
	// Events holds the most recent events (up to 30), oldest first.
	Events []fsm.Event `json:"events,omitempty"`
	// DiskHeartbeats are the answering member's own disk heartbeats,
	// one per slot device (none on a witness or without lock_device).
	DiskHeartbeats []DiskHeartbeat `json:"disk_heartbeats,omitempty"`
}

// MemberStatus is one member in Status.
type MemberStatus struct {
	// ID is the member id.
	ID string `json:"id"`
	// Role is node or witness; "" for a Raft voter the log does not know.
	Role string `json:"role"`
	// Address is the member's mTLS (Raft and RPC) host:port.
	Address string `json:"address"`
	// API is the member's HTTPS API host:port; "" when unknown.
	API string `json:"api,omitempty"`
	// InstanceID is the member's EC2 instance id; "" when unknown.
	InstanceID string `json:"instance_id,omitempty"`
	// State is leader, follower, leaving, pending (a new leader has not
	// heard from it yet), down, or unknown (in a stale view).
	State string `json:"state"`
	// Healthy is true when the leader heard from the member within
	// failover_timeout; always false in a stale view.
	Healthy bool `json:"healthy"`
	// Voter is true when the member is a voter in the Raft configuration.
	Voter bool `json:"voter"`
	// LastContactMS is how long ago the leader heard from the member.
	LastContactMS int64 `json:"last_contact_ms"`
	// Standby is set while the member is on standby (`raftha members
	// standby`): who put it there and since when; nil otherwise.
	Standby *StandbyInfo `json:"standby,omitempty"`
	// DiskHeartbeatMS is how long ago, as the leader knows it, another
	// node last saw this member's disk heartbeat counter change on a
	// shared lock device (DiskSeenBy names that node); nil when no node
	// reported one. A "down" member with a recent disk heartbeat is alive
	// with its network link cut.
	DiskHeartbeatMS *int64 `json:"disk_heartbeat_ms,omitempty"`
	// DiskSeenBy is the node that saw the disk heartbeat DiskHeartbeatMS
	// refers to.
	DiskSeenBy string `json:"disk_seen_by,omitempty"`
}

// GroupStatus is one group in Status.
type GroupStatus struct {
	// Name is the group's name.
	Name string `json:"name"`
	// Owner is the node that may act for the group at Epoch; "" before
	// the group was ever placed.
	Owner string `json:"owner"`
	// Epoch is the fencing token: the Raft index of the entry that gave
	// the group to Owner.
	Epoch uint64 `json:"epoch"`
	// State is the group's lifecycle state (offline, starting, online,
	// stopping, fencing or failed).
	State fsm.GroupState `json:"state"`
	// Nodes is the preference list; the first is the home node.
	Nodes []string `json:"nodes"`
	// Reason says why the group is in State.
	Reason string `json:"reason,omitempty"`
	// Target is the destination of a planned move while State is stopping.
	Target string `json:"target,omitempty"`
	// FenceNode is the previous owner to fence while State is fencing.
	FenceNode string `json:"fence_node,omitempty"`
	// Failback is true when the group moves back to its home node.
	Failback bool `json:"failback,omitempty"`
	// Since is when State was entered (proposer's wall clock).
	Since time.Time `json:"since"`
	// Resources lists the resources in start order as "name (type)".
	Resources []string `json:"resources"`
	// ResourceStatus is each resource as the owner runs it at Epoch, in
	// start order (see ResourceStatus); empty when the owner has not
	// reported since it got the group at Epoch (or the view is stale and
	// the answering member is not the owner).
	ResourceStatus []ResourceStatus `json:"resource_status,omitempty"`
	// Suspended is true while monitoring and automatic actions are paused.
	Suspended bool `json:"suspended,omitempty"`
	// FailedOn lists the nodes where the group failed since an operator
	// last moved or resumed it (or the leader retried it automatically).
	FailedOn []string `json:"failed_on,omitempty"`
	// StartRetries is how many times a failed start is retried on the
	// same node before the group fails over (the group's start_retries).
	StartRetries int `json:"start_retries,omitempty"`
	// StartRetriesDone is how many start retries the owner made at this
	// epoch (start-retry events in the history), at most StartRetries.
	StartRetriesDone int `json:"start_retries_done,omitempty"`
	// RetryFailedAfter is how long a group that failed on every node waits
	// before the leader retries it (the group's retry_failed_after; 0:
	// never, an operator must act).
	RetryFailedAfter Duration `json:"retry_failed_after,omitempty"`
	// NextRetry is when the leader will place again this group that failed
	// on every node; nil when no automatic retry is due (or the view is
	// not the leader's).
	NextRetry *time.Time `json:"next_retry,omitempty"`
}

// Health is GET /v1/health: this member's own view, never forwarded.
type Health struct {
	// ID is this member's id.
	ID string `json:"id"`
	// Role is this member's configured role, node or witness.
	Role string `json:"role"`
	// RaftState is this member's Raft state: follower, candidate, leader
	// or shutdown.
	RaftState string `json:"raft_state"`
	// Leader is the id of the leader this member knows; "" when none.
	Leader string `json:"leader"`
	// AppliedIndex is the index of the last entry this member's FSM
	// applied.
	AppliedIndex uint64 `json:"applied_index"`
	// LeaseLeftMS is how many milliseconds this member's lease, renewed by
	// each successful heartbeat, has left; 0 or negative when it expired
	// or was never renewed.
	LeaseLeftMS int64 `json:"lease_left_ms"`
	// LastContactMS is how many milliseconds ago this member last heard
	// from a leader (meaningful on a follower); 0 when it never did.
	LastContactMS int64 `json:"last_contact_ms"`
	// Version is the raftha version of this member.
	Version string `json:"version"`
	// AWSPermissions are this node's start-up DryRun checks of the EC2
	// calls it may need at a failover (empty off AWS and on a witness).
	AWSPermissions []AWSPermission `json:"aws_permissions,omitempty"`
}

// AWSPermission is one DryRun check of an EC2 action this node needs.
type AWSPermission struct {
	// Action is the IAM action, e.g. "ec2:StopInstances".
	Action string `json:"action"`
	// Target is what the check was made on (a peer's instance, a route
	// table, an allocation, a volume).
	Target string `json:"target"`
	// Result is allowed, denied, unknown (no verdict after the bounded
	// retries) or checking.
	Result string `json:"result"`
	// Code is EC2's error code of the last answer (DryRunOperation,
	// UnauthorizedOperation, RequestLimitExceeded...).
	Code string `json:"code,omitempty"`
	// Message is EC2's last answer in words.
	Message string `json:"message,omitempty"`
	// Checked is when the last answer came.
	Checked time.Time `json:"checked,omitempty"`
}
