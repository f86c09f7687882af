package api

import "time"

// DiskHeartbeat is a member's last disk heartbeat on one slot device (a
// disk resource's lock_device): the slot it writes every heartbeat, and
// what it saw of its peers' slots. It is a second path between nodes: a
// peer whose counter keeps changing is alive on the disk even when its
// network link is down. It decides nothing.
type DiskHeartbeat struct {
	// Group is the group whose resource holds the device.
	Group string `json:"group"`
	// Device is the slot device (lock_device).
	Device string `json:"device"`
	// Slot is the member's slot index (-1: none) and Counter its
	// heartbeat counter after the write.
	Slot    int    `json:"slot"`
	Counter uint64 `json:"counter"`
	// At is when the heartbeat ran; Error what failed ("" when fine).
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
	// Peers are the other nodes' slots.
	Peers []DiskPeer `json:"peers,omitempty"`
}

// DiskPeer is a peer's slot as a member's disk heartbeat saw it.
type DiskPeer struct {
	// Node is the peer's node id; Slot its slot index.
	Node string `json:"node"`
	Slot int    `json:"slot"`
	// Counter is the peer's heartbeat counter.
	Counter uint64 `json:"counter"`
	// Changed is when the member last saw the counter change (nil: not
	// seen changing since the member started).
	Changed *time.Time `json:"changed,omitempty"`
}
