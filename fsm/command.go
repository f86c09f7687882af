package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CmdType identifies a command in the log. The high bit (FlagIgnorable)
// marks a command that an older replica may skip if it does not know it;
// every other unknown type stops the replica (see Decode).
type CmdType uint8

// FlagIgnorable marks a command type as safe to skip when unknown.
const FlagIgnorable CmdType = 0x80

// Command types. Values are part of the log format: never renumber.
const (
	CmdUpsertMember  CmdType = 1
	CmdRemoveMember  CmdType = 2
	CmdApplyGroups   CmdType = 3
	CmdAssign        CmdType = 4
	CmdReport        CmdType = 5
	CmdBeginTransfer CmdType = 6
	CmdFenced        CmdType = 7
	CmdDeleteGroup   CmdType = 8
	CmdNote          CmdType = 9
	CmdSetSuspended  CmdType = 10
	// CmdSetClusterSettings records the cluster-wide fencing settings.
	CmdSetClusterSettings CmdType = 11
	// CmdFenceOverride marks a group fenced (or clears a failed stop) on
	// an operator's explicit acceptance of the risk.
	CmdFenceOverride CmdType = 12
	// CmdRetryFailed places again a group that failed on every node.
	CmdRetryFailed CmdType = 13
	// CmdSetStandby puts a node on standby or takes it off (standby.go).
	CmdSetStandby CmdType = 14
	// CmdStandbyMove moves a group off its standby owner (standby.go).
	CmdStandbyMove CmdType = 15
)

// Version is the payload version written by this build.
const Version uint8 = 1

// ErrUnknownCommand is returned by Decode for a command type this build
// does not know and that is not marked ignorable.
var ErrUnknownCommand = errors.New("unknown command type")

// Header is carried by every command: the proposer's wall clock (used only
// for display, never for decisions) and who asked for it.
type Header struct {
	// At is the proposer's wall clock when it proposed the command, used
	// for Event.At and GroupStatus.Since.
	At time.Time `json:"at"`
	// By is who asked: an API caller's identity, "leader" for the
	// leader's own decisions, or the proposing member's id. It becomes
	// Event.By.
	By string `json:"by,omitempty"`
}

// Command is one state transition. Apply runs it against a State.
type Command interface {
	// Type is the command's log type byte.
	Type() CmdType
	header() Header
}

// UpsertMember registers or updates a member. A member's role never changes.
type UpsertMember struct {
	Header
	// Member is the member to record. A known member must keep its Role;
	// its empty Address, API or InstanceID leave the recorded ones as
	// they are.
	Member Member `json:"member"`
	// UpdateOnly refuses the command (ErrNoMember) when the member is not
	// in the log: a leader records a heartbeat's new address or instance
	// id this way, so that a registration still queued when the member was
	// removed never adds it back (TestRemovedMemberRefused).
	UpdateOnly bool `json:"update_only,omitempty"`
}

// RemoveMember forgets a member that owns no active group.
type RemoveMember struct {
	Header
	// ID is the member to remove.
	ID string `json:"id"`
}

// ApplyGroups creates or updates all the given groups at once, or none.
type ApplyGroups struct {
	Header
	// Groups are the complete specs to create or replace; groups not
	// listed are left alone, and an existing group keeps its status.
	Groups []GroupSpec `json:"groups"`
}

// DeleteGroup removes a group nobody is acting for.
type DeleteGroup struct {
	Header
	// Name is the group to delete; it must be inactive.
	Name string `json:"name"`
}

// Assign gives a group to a node with a new epoch (the entry's index).
// It applies only if the group is still at ExpectEpoch. Without Fence the
// group must be inactive (offline or failed); with Fence the previous owner
// is recorded as the node the winner must fence first (state fencing).
type Assign struct {
	Header
	// Group is the group to assign.
	Group string `json:"group"`
	// To is the new owner: a member with role node listed in the group's
	// Nodes (and, with Fence, not the node to fence).
	To string `json:"to"`
	// ExpectEpoch is the group's epoch the proposer decided on; any other
	// current epoch refuses the command (ErrStaleEpoch).
	ExpectEpoch uint64 `json:"expect_epoch"`
	// Cause is why the group moves (placement, planned, failure,
	// node-lost, stop-failed, ...); planned also clears FailedOn. A cause
	// that is not a move cause (Cause.Moves) is refused (ErrInvalid).
	Cause Cause `json:"cause"`
	// Reason is the explanation; it becomes the group's Reason.
	Reason string `json:"reason,omitempty"`
	// Fence marks a takeover from an owner that may still be acting: the
	// group goes to fencing instead of starting.
	Fence bool `json:"fence,omitempty"`
	// FenceWait is the lease-only wait (see GroupStatus.FenceWait).
	FenceWait time.Duration `json:"fence_wait,omitempty"`
	// FenceSilence is how long the leader had not heard from the lost
	// owner when it decided (see GroupStatus.FenceSilence).
	FenceSilence time.Duration `json:"fence_silence,omitempty"`
	// TargetIdle returns a fencing group to the node it is fencing, which
	// proved by a heartbeat sent after the decision that it runs nothing
	// for the group (the winner is lost and nobody else can take over).
	// It needs Cause CauseFenceTargetIdle; the group starts at a new epoch
	// without a fence, since the fencing winner never started anything.
	TargetIdle bool `json:"target_idle,omitempty"`
}

// FenceOverride is an operator accepting the risk that a node may still
// run a group: a fencing group is marked fenced (it starts on its owner),
// a stop-failed group is marked stopped (it may move again). Header.By
// (the operator) and Reason are required and recorded in the event.
type FenceOverride struct {
	Header
	// Group is the group to override.
	Group string `json:"group"`
	// ExpectEpoch is the group's epoch the operator saw; any other current
	// epoch refuses the command (ErrStaleEpoch).
	ExpectEpoch uint64 `json:"expect_epoch"`
	// Reason is why the operator accepts the risk; required.
	Reason string `json:"reason"`
}

// Report is the owner telling the log what it did at its epoch:
// online, failed or offline (stopped).
type Report struct {
	Header
	// Group is the group reported on.
	Group string `json:"group"`
	// Node is the reporting member; it must be the group's owner.
	Node string `json:"node"`
	// Epoch is the epoch Node acted at; it must be the group's current
	// epoch (ErrStaleEpoch otherwise).
	Epoch uint64 `json:"epoch"`
	// State is online, failed or offline; any other value is invalid.
	State GroupState `json:"state"`
	// Reason is the explanation (the failure, for failed); it becomes the
	// group's Reason, except when offline hands a planned move over.
	Reason string `json:"reason,omitempty"`
	// StopFailed marks a failed report whose resources could not be
	// stopped: the group then needs a fenced takeover.
	StopFailed bool `json:"stop_failed,omitempty"`
	// Timing (online) is what starting the group took on the owner; it
	// goes to the online event.
	Timing *Timing `json:"timing,omitempty"`
}

// SetSuspended pauses (or resumes) monitoring and automatic actions for a
// group. Resuming also forgets where it failed.
type SetSuspended struct {
	Header
	// Group is the group to suspend or resume.
	Group string `json:"group"`
	// Suspended is true to suspend, false to resume.
	Suspended bool `json:"suspended"`
}

// BeginTransfer starts a planned move: an active group goes to stopping
// with Target set; an inactive one is assigned to To at once. With To
// empty it is a stop: the owner stops the group and it goes offline.
type BeginTransfer struct {
	Header
	// Group is the group to move or stop.
	Group string `json:"group"`
	// To is the destination node (role node, in the group's Nodes), or ""
	// to stop the group.
	To string `json:"to"`
	// ExpectEpoch is the group's epoch the proposer decided on; any other
	// current epoch refuses the command (ErrStaleEpoch).
	ExpectEpoch uint64 `json:"expect_epoch"`
	// Cause is why the group moves (planned, failback, shutdown); ""
	// means planned, any other non-move cause is refused (ErrInvalid).
	// A stop records the cause CauseStop instead.
	Cause Cause `json:"cause,omitempty"`
}

// Fenced records that the winner fenced the previous owner; the group
// moves from fencing to starting at the same epoch.
type Fenced struct {
	Header
	// Group is the group taken over.
	Group string `json:"group"`
	// Node is the winner that did the fencing (the group's owner), not
	// the fenced node.
	Node string `json:"node"`
	// Epoch is the takeover's epoch; it must be the group's current one.
	Epoch uint64 `json:"epoch"`
	// Method is how the previous owner was fenced: aws-stop or
	// lease-only. It becomes the event's Cause (spelled the same).
	Method FencingMode `json:"method"`
	// Took is how long the fence took, as a Go duration string ("1.234s");
	// it becomes the event's Reason.
	Took string `json:"took,omitempty"`
	// Verified says how each fenced instance was verified to be the
	// fenced node's ("i-123 verified by tag raftha:node=n1"); it is
	// appended to the event's Reason.
	Verified string `json:"verified,omitempty"`
	// Instances are the instance ids the winner stopped. When set, every
	// id in the group's InstancesToFence must be among them (one the node
	// reported while the winner was fencing makes it fence again).
	Instances []string `json:"instances,omitempty"`
	// Timing is what the fence took on the winner; it goes to the
	// fenced event.
	Timing *Timing `json:"timing,omitempty"`
}

// Note records an event (fence failure, self-fence, ...). When Group and
// Epoch match the group's current epoch, Reason also becomes the group's
// reason.
type Note struct {
	Header
	// Kind is the event kind (fence-failed, self-fenced, no-node, ...);
	// required.
	Kind EventKind `json:"kind"`
	// Group is the group the note is about; "" for none.
	Group string `json:"group,omitempty"`
	// Node is the member the note is about or that wrote it; "" for none.
	Node string `json:"node,omitempty"`
	// Epoch is the group epoch the note belongs to; 0 for none.
	Epoch uint64 `json:"epoch,omitempty"`
	// Reason is the explanation.
	Reason string `json:"reason"`
}

// SetClusterSettings records the fencing settings every member must
// share (ClusterSettings). With Seed it applies only while none are
// recorded (the first ready leader seeds them from its configuration);
// without it, it replaces them (an operator's explicit change).
type SetClusterSettings struct {
	Header
	// Settings are the new settings; every field is required.
	Settings ClusterSettings `json:"settings"`
	// Seed refuses the command (ErrBusy) when settings are already
	// recorded.
	Seed bool `json:"seed,omitempty"`
}

// Type implements Command.
func (c *SetClusterSettings) Type() CmdType { return CmdSetClusterSettings }

// Type implements Command.
func (c *UpsertMember) Type() CmdType { return CmdUpsertMember }

// Type implements Command.
func (c *RemoveMember) Type() CmdType { return CmdRemoveMember }

// Type implements Command.
func (c *ApplyGroups) Type() CmdType { return CmdApplyGroups }

// Type implements Command.
func (c *DeleteGroup) Type() CmdType { return CmdDeleteGroup }

// Type implements Command.
func (c *Assign) Type() CmdType { return CmdAssign }

// Type implements Command.
func (c *Report) Type() CmdType { return CmdReport }

// Type implements Command.
func (c *BeginTransfer) Type() CmdType { return CmdBeginTransfer }

// Type implements Command.
func (c *Fenced) Type() CmdType { return CmdFenced }

// Type implements Command.
func (c *Note) Type() CmdType { return CmdNote }

// Type implements Command.
func (c *SetSuspended) Type() CmdType { return CmdSetSuspended }

// Type implements Command.
func (c *FenceOverride) Type() CmdType { return CmdFenceOverride }

// Type implements Command.
func (c *RetryFailed) Type() CmdType { return CmdRetryFailed }

func (h Header) header() Header { return h }

// HeaderOf is c's header.
func HeaderOf(c Command) Header { return c.header() }

// Encode serializes a command as [type][version][JSON payload].
func Encode(c Command) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %T: %w", c, err)
	}
	return append([]byte{byte(c.Type()), Version}, payload...), nil
}

// MustEncode is Encode for commands that cannot fail to marshal.
func MustEncode(c Command) []byte {
	b, err := Encode(c)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode parses an encoded command. It returns (nil, nil) for an unknown
// command marked FlagIgnorable, and ErrUnknownCommand (wrapped) for any
// other unknown type or a newer payload version.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("fsm: entry of %d bytes is too short", len(b))
	}
	t, v := CmdType(b[0]), b[1]
	var c Command
	switch t {
	case CmdUpsertMember:
		c = &UpsertMember{}
	case CmdRemoveMember:
		c = &RemoveMember{}
	case CmdApplyGroups:
		c = &ApplyGroups{}
	case CmdDeleteGroup:
		c = &DeleteGroup{}
	case CmdAssign:
		c = &Assign{}
	case CmdReport:
		c = &Report{}
	case CmdBeginTransfer:
		c = &BeginTransfer{}
	case CmdFenced:
		c = &Fenced{}
	case CmdNote:
		c = &Note{}
	case CmdSetSuspended:
		c = &SetSuspended{}
	case CmdSetClusterSettings:
		c = &SetClusterSettings{}
	case CmdFenceOverride:
		c = &FenceOverride{}
	case CmdRetryFailed:
		c = &RetryFailed{}
	case CmdSetStandby:
		c = &SetStandby{}
	case CmdStandbyMove:
		c = &StandbyMove{}
	default:
		if t&FlagIgnorable != 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("fsm: %w %d (this build knows 1-15)", ErrUnknownCommand, t)
	}
	if v > Version {
		if t&FlagIgnorable != 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("fsm: %w: command %d has payload version %d, this build reads up to %d", ErrUnknownCommand, t, v, Version)
	}
	if err := json.Unmarshal(b[2:], c); err != nil {
		return nil, fmt.Errorf("fsm: decode command %d: %w", t, err)
	}
	return c, nil
}
