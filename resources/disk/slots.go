package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/raftha/raftha/resources"
)

// Per-node slots on lock_device (layout: slotblock.go): the disk
// heartbeat, the poison pill and its acknowledgement.

// Errors of the slot area; each is wrapped with the device's name.
var (
	// ErrPoisoned: this node's mailbox holds a poison pill for the group
	// at a higher epoch than its own: a winner has taken the group over.
	// A holder gives the group up at once; Start refuses to mount.
	ErrPoisoned = errors.New("poisoned: a newer owner's pill is in this node's slot")
	// ErrNoSlot: the node has no slot on the device (it never wrote its
	// disk heartbeat there, or every slot is taken).
	ErrNoSlot = errors.New("no slot on the lock device")
)

// slotNode is one node's side of the slot area of one device: every
// write of its own block goes through it (disk heartbeat, ack), so the
// counter and the ack are not lost to a concurrent write. There is one
// per (device, node) in the process (slotNodeFor): the agent's heartbeat
// and the group's resources share it.
type slotNode struct {
	path, node string
	gate       ioGate
	// turn lets one I/O at a time through to the gate: the agent's
	// heartbeat, the holder and the worker share the device, and a second
	// caller waits its turn (at most lock_io_timeout) rather than fail.
	turn chan struct{}
	// read and write are the raw I/O (tests replace them, under mu:
	// the node is the process's, and an I/O left running reads them).
	read  func(path string, off int64, n int) ([]byte, error)
	write func(path string, off int64, b []byte) error

	wmu sync.Mutex // one read-modify-write of the own block at a time

	mu        sync.Mutex
	ioTimeout time.Duration
	index     int // -1: no slot claimed yet
	counter   uint64
	ack       ackRecord
	peers     map[string]resources.PeerBeat
}

var slotNodes = struct {
	sync.Mutex
	m map[[2]string]*slotNode
}{m: map[[2]string]*slotNode{}}

// slotNodeFor returns the process's slotNode of node on path.
func slotNodeFor(path, node string, ioTimeout time.Duration) *slotNode {
	slotNodes.Lock()
	defer slotNodes.Unlock()
	k := [2]string{path, node}
	n := slotNodes.m[k]
	if n == nil {
		n = &slotNode{path: path, node: node, index: -1, turn: make(chan struct{}, 1), read: readDirectAt, write: writeDirectAt, peers: map[string]resources.PeerBeat{}}
		slotNodes.m[k] = n
	}
	n.mu.Lock()
	n.ioTimeout = ioTimeout
	n.mu.Unlock()
	return n
}

// io runs one bounded I/O (ioGate.run) once it is this caller's turn.
func (n *slotNode) io(ctx context.Context, what string, fn func() error) error {
	n.mu.Lock()
	timeout := n.ioTimeout
	n.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case n.turn <- struct{}{}:
	case <-t.C:
		return fmt.Errorf("%w: %s: the device was busy with other slot I/O for lock_io_timeout %s", ErrLockIO, what, timeout)
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", ErrLockIO, what, ctx.Err())
	}
	defer func() { <-n.turn }()
	return n.gate.run(ctx, timeout, what, fn)
}

func (n *slotNode) rawRead() func(path string, off int64, n int) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.read
}

func (n *slotNode) rawWrite() func(path string, off int64, b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.write
}

// readArea reads the whole slot area (one bounded O_DIRECT read).
func (n *slotNode) readArea(ctx context.Context) ([]byte, error) {
	var b []byte
	err := n.io(ctx, "read of the slot area on "+n.path, func() (err error) {
		b, err = n.rawRead()(n.path, slotAreaOffset, slotAreaSize)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// writeVerified writes one block at off and reads it back.
func (n *slotNode) writeVerified(ctx context.Context, what string, off int64, want []byte) error {
	what = fmt.Sprintf("%s on %s", what, n.path)
	if err := n.io(ctx, "write of "+what, func() error { return n.rawWrite()(n.path, off, want) }); err != nil {
		return err
	}
	var got []byte
	if err := n.io(ctx, "read back of "+what, func() (err error) {
		got, err = n.rawRead()(n.path, off, lockBlockSize)
		return err
	}); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s: the block read back differs from the one just written", ErrLockIO, what)
	}
	return nil
}

func areaOwn(area []byte, i int) []byte {
	o := int(ownOffset(i) - slotAreaOffset)
	return area[o : o+lockBlockSize]
}

func areaMail(area []byte, i int) []byte {
	o := int(mailOffset(i) - slotAreaOffset)
	return area[o : o+lockBlockSize]
}

// probeOrder is node's slot preference: hash(node) mod slotCount first,
// then linear probing.
func probeOrder(node string) []int {
	h := fnv.New32a()
	h.Write([]byte(node))
	start := int(h.Sum32() % slotCount)
	order := make([]int, slotCount)
	for i := range order {
		order[i] = (start + i) % slotCount
	}
	return order
}

// slotsOf returns the valid own blocks of the area naming node, in
// node's probe order.
func slotsOf(area []byte, node string) []ownRecord {
	var out []ownRecord
	for _, i := range probeOrder(node) {
		if rec, zero, err := decodeOwn(areaOwn(area, i), i); err == nil && !zero && rec.Node == node {
			out = append(out, rec)
		}
	}
	return out
}

// claim picks this node's slot in area: the one it has while that still
// names it, is zero, or names a node with a higher id (two nodes that
// claimed one slot at once: the lower id keeps it, the other moves on);
// else the first slot in probe order that names it; else the first zero
// one. A slot found naming this node lends its counter and ack (an agent
// restart keeps its acknowledgement on disk).
func (n *slotNode) claim(area []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i := n.index; i >= 0 {
		rec, zero, err := decodeOwn(areaOwn(area, i), i)
		if err == nil && (zero || rec.Node == n.node || rec.Node > n.node) {
			return i, nil
		}
		n.index = -1
	}
	if mine := slotsOf(area, n.node); len(mine) > 0 {
		rec := mine[0]
		n.index, n.counter = rec.Index, max(n.counter, rec.Counter)
		if rec.Ack.Epoch > n.ack.Epoch {
			n.ack = rec.Ack
		}
		return n.index, nil
	}
	for _, i := range probeOrder(n.node) {
		if allZero(areaOwn(area, i)) {
			n.index, n.ack = i, ackRecord{} // an ack not on disk is not carried to a new slot
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: every one of the %d slots on %s is taken", ErrNoSlot, slotCount, n.path)
}

// writeOwn writes this node's own block (counter + 1, current ack) into
// slot i and reads it back. Called under wmu.
func (n *slotNode) writeOwn(ctx context.Context, i int) (uint64, error) {
	n.mu.Lock()
	rec := ownRecord{Index: i, Counter: n.counter + 1, Written: time.Now(), Node: n.node, Ack: n.ack}
	n.mu.Unlock()
	if err := n.writeVerified(ctx, fmt.Sprintf("slot %d", i), ownOffset(i), rec.encode()); err != nil {
		return 0, err
	}
	n.mu.Lock()
	n.counter = max(n.counter, rec.Counter)
	n.mu.Unlock()
	return rec.Counter, nil
}

// beat is one disk heartbeat: read the area, note the peers' counters,
// claim (or keep) this node's slot and write it.
func (n *slotNode) beat(ctx context.Context) (resources.SlotView, error) {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	view := resources.SlotView{Device: n.path, Slot: -1}
	area, err := n.readArea(ctx)
	if err != nil {
		return view, err
	}
	view.Peers = n.notePeers(area)
	i, err := n.claim(area)
	if err != nil {
		return view, err
	}
	view.Slot = i
	view.Counter, err = n.writeOwn(ctx, i)
	return view, err
}

// notePeers records the other nodes' counters and when each last changed.
func (n *slotNode) notePeers(area []byte) []resources.PeerBeat {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []resources.PeerBeat
	for i := 0; i < slotCount; i++ {
		rec, zero, err := decodeOwn(areaOwn(area, i), i)
		if err != nil || zero || rec.Node == n.node {
			continue
		}
		p, seen := n.peers[rec.Node]
		if !seen || p.Counter != rec.Counter {
			if seen {
				p.Changed = now
			}
			p.Counter = rec.Counter
		}
		p.Node, p.Slot = rec.Node, i
		n.peers[rec.Node] = p
		out = append(out, p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Node < out[b].Node })
	return out
}

// mailbox reads this node's slot and returns the pill in its mailbox, if
// any. Without a slot of its own yet it claims one (a pill cannot have
// reached it).
func (n *slotNode) mailbox(ctx context.Context) (pillRecord, bool, error) {
	area, err := n.readArea(ctx)
	if err != nil {
		return pillRecord{}, false, err
	}
	mine := slotsOf(area, n.node)
	if len(mine) == 0 {
		n.wmu.Lock()
		defer n.wmu.Unlock()
		i, err := n.claim(area)
		if err == nil {
			_, err = n.writeOwn(ctx, i)
		}
		return pillRecord{}, false, err
	}
	var best pillRecord
	var found bool
	for _, rec := range mine {
		// A mailbox that does not decode holds no pill: a pill torn by a
		// write under way is read whole a heartbeat later, and garbage
		// left on the partition must not make the holder give up.
		p, zero, err := decodePill(areaMail(area, rec.Index), rec.Index)
		if err == nil && !zero && p.Target == n.node && (!found || p.Epoch > best.Epoch) {
			best, found = p, true
		}
	}
	return best, found, nil
}

// acknowledge records ack in this node's own block (kept by every later
// heartbeat write) and writes it now.
func (n *slotNode) acknowledge(ctx context.Context, ack ackRecord) error {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	area, err := n.readArea(ctx)
	if err != nil {
		return err
	}
	i, err := n.claim(area)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.ack = ack
	n.mu.Unlock()
	_, err = n.writeOwn(ctx, i)
	return err
}

// sendPill writes p into the mailbox of every slot naming p.Target (the
// winner's side), unless it already holds a pill for that target and
// group at an epoch as high.
func (n *slotNode) sendPill(ctx context.Context, p pillRecord) error {
	area, err := n.readArea(ctx)
	if err != nil {
		return err
	}
	slots := slotsOf(area, p.Target)
	if len(slots) == 0 {
		return fmt.Errorf("%w: node %s has no slot on %s (is its agent writing its disk heartbeat?)", ErrNoSlot, p.Target, n.path)
	}
	var errs []error
	for _, s := range slots {
		old, zero, err := decodePill(areaMail(area, s.Index), s.Index)
		if err == nil && !zero && old.Target == p.Target && old.Group == p.Group && old.Epoch >= p.Epoch {
			continue
		}
		q := p
		q.Index = s.Index
		errs = append(errs, n.writeVerified(ctx, fmt.Sprintf("pill in the mailbox of slot %d", s.Index), mailOffset(s.Index), q.encode()))
	}
	return errors.Join(errs...)
}

// ackOf returns target's acknowledgement of the pill of group at epoch,
// if its own block holds one.
func (n *slotNode) ackOf(ctx context.Context, target, group string, epoch uint64) (ownRecord, bool, error) {
	area, err := n.readArea(ctx)
	if err != nil {
		return ownRecord{}, false, err
	}
	for _, rec := range slotsOf(area, target) {
		if rec.Ack.Group == group && rec.Ack.Epoch == epoch {
			return rec, true, nil
		}
	}
	return ownRecord{}, false, nil
}
