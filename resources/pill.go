package resources

import (
	"context"
	"time"
)

// Pill is a poison pill: the winner of a takeover tells the previous owner
// (Target) that it has lost Group, and that From holds it at Epoch.
type Pill struct {
	// Target is the node the pill is addressed to (the loser).
	Target string
	// From is the winner's node id.
	From string
	// Group is the failover group taken over.
	Group string
	// Epoch is the winner's epoch.
	Epoch uint64
	// Instance, in an acknowledgement, is the acknowledging node's
	// instance id (empty when unknown).
	Instance string
	// At is when the pill or its acknowledgement was written.
	At time.Time
}

// PillBox is implemented by resources whose shared storage has a per-node
// slot area (the disk resource with lock_device): a winner writes a pill
// into the loser's mailbox, and a loser that has stopped the group
// acknowledges it in its own slot. An acknowledgement is a statement about
// the whole group on that node: nothing of it runs or is starting there.
// The agent builds a resource for this (and for DiskHeartbeater) only when
// its type's parameters have a method SlotDevice() string naming a device.
type PillBox interface {
	// SlotDevice names the device holding the slots ("" when the
	// resource has none: every other method then does nothing).
	SlotDevice() string
	// SendPill writes p into p.Target's mailbox (the winner's side). It
	// fails when p.Target has no slot on the device.
	SendPill(ctx context.Context, p Pill) error
	// PillAcked reports the acknowledgement of p found in p.Target's own
	// slot (same group, same epoch), if any.
	PillAcked(ctx context.Context, p Pill) (ack Pill, ok bool, err error)
	// AckPill acknowledges a pill for tok.Group at an epoch above
	// tok.Epoch addressed to this node found in its mailbox, and returns
	// it. The agent calls it
	// only when nothing of the group runs or is starting on this node,
	// from the group's worker, so no start can follow at a lower epoch.
	AckPill(ctx context.Context, tok Token) (p Pill, ok bool, err error)
}

// PeerBeat is what a node's disk heartbeat saw of a peer's slot.
type PeerBeat struct {
	// Node is the peer's node id; Slot its slot index.
	Node string
	Slot int
	// Counter is the peer's heartbeat counter; Changed when this node
	// last saw it change (zero: never seen changing).
	Counter uint64
	Changed time.Time
}

// SlotView is one disk heartbeat of this node on a slot device.
type SlotView struct {
	// Device is the slot device; Slot this node's slot index (-1: none).
	Device string
	Slot   int
	// Counter is this node's heartbeat counter after the write.
	Counter uint64
	// Peers are the other nodes' slots.
	Peers []PeerBeat
}

// DiskHeartbeater is implemented by resources with a per-node slot area:
// DiskHeartbeat writes this node's slot once and reads its peers'. The
// agent calls it every heartbeat for each group this node is a candidate
// for, whether or not it runs the group.
type DiskHeartbeater interface {
	// SlotDevice names the slot device ("" when there is none).
	SlotDevice() string
	// DiskHeartbeat writes this node's slot and reads the peers'.
	DiskHeartbeat(ctx context.Context) (SlotView, error)
}
