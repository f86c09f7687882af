package rpcwire

import (
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// The argument and reply types of the member RPCs (net/rpc, gob). They are
// exported because net/rpc needs exported types, and live here so that an
// embedding service never sees them. Renaming a field changes the wire.

// HeartbeatArgs is what a member reports to the leader every heartbeat.
type HeartbeatArgs struct {
	// Node is the sender's member id.
	Node string
	// Role is the sender's configured role, node or witness.
	Role string
	// Address is the sender's advertised mTLS (Raft and RPC) host:port.
	Address string
	// API is the sender's advertised HTTPS API host:port; "" when none.
	API string
	// InstanceID is the sender's EC2 instance id; "" when unknown.
	InstanceID string
	// Leaving is set while the member shuts down: the leader moves its
	// groups away and places nothing on it.
	Leaving bool
	// Relayed is set on a heartbeat sent through another member because
	// the direct path to the leader failed: the leader does not hand its
	// leadership to a member it cannot reach directly.
	Relayed bool
	// Settings are the sender's configured cluster settings; the leader
	// refuses the heartbeat when they differ from the log's.
	Settings *fsm.ClusterSettings
	// Applied is the sender's FSM applied index when it built Running:
	// Running describes the node after it applied that entry.
	Applied uint64
	// Running maps every group whose resources are built or running on
	// the sender (or that its runner has not taken charge of yet) to the
	// epoch it runs (0: unknown). A group not listed runs nothing there.
	// Nil from a witness.
	Running map[string]uint64
	// Resources maps groups the sender owns in its log view to what each
	// of their resources does there (bounded; errors cut short), for the
	// leader's status view only: the leader never lets it affect the
	// lease. Nil from a witness and from members that do not send it.
	Resources map[string]GroupResources
	// DiskPeers maps each peer node whose disk heartbeat the sender reads
	// (server/diskslots.go) to how long ago, when the heartbeat was sent,
	// the sender last saw that peer's counter change: a second path
	// between nodes, for the leader's status view and takeover reasons
	// only (never the lease, never a decision). An age, not a time, so
	// the two members' clocks do not matter. Nil from a witness.
	DiskPeers map[string]time.Duration
}

// GroupResources is one group's resources as its owner runs them at
// Epoch, in start order.
type GroupResources struct {
	// Epoch is the epoch the owner runs the group at.
	Epoch uint64
	// Resources are the group's resources, in start order.
	Resources []api.ResourceStatus
}

// HeartbeatReply confirms, linearizably, which groups the member owns and
// at which epoch. The member renews its lease from the time it sent the
// heartbeat.
type HeartbeatReply struct {
	// Leader is the answering leader's member id.
	Leader string
	// Owned maps every active group the member owns to its epoch; a group
	// not listed is not the member's.
	Owned map[string]uint64
}

// ConfirmArgs asks the leader whether Node owns Group at Epoch.
type ConfirmArgs struct {
	// Group is the group to act for.
	Group string
	// Node is the member that wants to act.
	Node string
	// Epoch is the epoch Node would act at.
	Epoch uint64
}

// ConfirmReply is empty: success is the confirmation.
type ConfirmReply struct{}

// MemberArgs describes a member to add.
type MemberArgs struct {
	// ID is the new member's id; required.
	ID string `json:"id"`
	// Address is the host:port of the member's mTLS (Raft and RPC) port;
	// required.
	Address string `json:"address"`
	// Role is node or witness.
	Role string `json:"role"`
	// InstanceID is the member's EC2 instance id, used to fence it;
	// optional.
	InstanceID string `json:"instance_id,omitempty"`
	// By is who asked. It is never read from JSON: the API sets it from
	// the caller's identity. The leader records Caller's identity for a
	// forwarded call, never By.
	By string `json:"-"`
	// Caller is the API caller a member forwards the call for; the
	// leader refuses a forwarded call without one or whose role may not
	// change the cluster. Never read from JSON.
	Caller *Caller `json:"-"`
}

// Caller is the authenticated API caller of an operator call that a member
// forwards to the leader: who it is and the role the forwarding member's
// API gave it (or, for a Go caller of an embedding member, the member's
// own word). The leader checks the role and records the identity as the
// command's author.
type Caller struct {
	// Identity is the certificate name or "token:NAME".
	Identity string
	// Role is read or operate, as the forwarding member's API judged it;
	// the leader works the role out again from its own access settings.
	Role string
	// Kind is the kind of certificate the caller presented (member,
	// operator, legacy), "" for a token.
	Kind string
	// Local marks a Go call of the forwarding member's own process (an
	// embedding service); only a node may forward one.
	Local bool
}

// ProbeArgs asks a member what it holds, for the no-amnesia check of a
// member that starts with an empty data_dir.
type ProbeArgs struct {
	// Node is the asking member's id.
	Node string
}

// ProbeReply is what a member holds.
type ProbeReply struct {
	// LastIndex is the member's last Raft log (or snapshot) index: 0 with
	// no state, 1 with only the bootstrap configuration entry.
	LastIndex uint64
	// InConfig is set when Node is a voter in the member's latest Raft
	// configuration.
	InConfig bool
	// Registered is set when the member's log records that Node has run
	// (a member registers its API address once it has joined), so Node
	// once held Raft state.
	Registered bool
}

// ProposeArgs carries an encoded fsm.Command to the leader.
type ProposeArgs struct {
	// Cmd is the command as fsm.Encode wrote it.
	Cmd []byte
	// Caller is the API caller of an operator's command; nil for what a
	// member proposes for itself (its reports, its fence, its notes).
	Caller *Caller
}

// StatusArgs is the Status RPC's (empty) argument.
type StatusArgs struct{}

// TransferArgs is a forwarded transfer.
type TransferArgs struct {
	// Group is the group to move, To the node to move it to, and By who
	// asked (the leader records Caller's identity instead).
	Group, To, By string
	// Caller is the API caller the member forwards the transfer for.
	Caller *Caller
	// Timeout is the caller's remaining deadline, set for each forwarded
	// attempt. The leader refuses, committing nothing, when it is <= 0
	// (the deadline passed), and caps it at 30m.
	Timeout time.Duration
}
