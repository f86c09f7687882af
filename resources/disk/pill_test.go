package disk

// Per-node slots, the poison pill and its acknowledgement (issue #13):
// unit tests of the block formats and of slot probing on an in-memory
// device, and tests on a loop device with a GPT partition table (the lock
// fixture of lock_test.go).

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/resources"
)

func TestSlotBlocksRoundTripAndCorruption(t *testing.T) {
	at := time.Unix(0, 1700000000123456789)
	own := ownRecord{Index: 9, Counter: 41, Written: at, Node: "node-a", Ack: ackRecord{Group: "g1", Epoch: 8, At: at, Instance: "i-0abc"}}
	got, zero, err := decodeOwn(own.encode(), 9)
	if err != nil || zero || got.Node != "node-a" || got.Counter != 41 || got.Ack.Group != "g1" || got.Ack.Epoch != 8 || got.Ack.Instance != "i-0abc" || !got.Ack.At.Equal(at) {
		t.Fatalf("own block round trip: %+v zero=%v err=%v", got, zero, err)
	}
	pill := pillRecord{Index: 3, Epoch: 8, Written: at, Target: "node-a", From: "node-b", Group: "g1"}
	gp, zero, err := decodePill(pill.encode(), 3)
	if err != nil || zero || gp.Target != "node-a" || gp.From != "node-b" || gp.Group != "g1" || gp.Epoch != 8 {
		t.Fatalf("pill round trip: %+v zero=%v err=%v", gp, zero, err)
	}
	if _, zero, err := decodeOwn(make([]byte, lockBlockSize), 0); !zero || err != nil {
		t.Fatalf("zero own block: zero=%v err=%v", zero, err)
	}
	bad := own.encode()
	bad[100] ^= 1
	for name, c := range map[string]struct {
		b   []byte
		idx int
		own bool
	}{
		"crc":         {bad, 9, true},
		"other index": {own.encode(), 10, true},
		"pill as own": {pill.encode(), 3, true},
		"own as pill": {own.encode(), 9, false},
		"short":       {own.encode()[:100], 9, true},
	} {
		var err error
		if c.own {
			_, _, err = decodeOwn(c.b, c.idx)
		} else {
			_, _, err = decodePill(c.b, c.idx)
		}
		if !errors.Is(err, ErrLockCorrupt) {
			t.Errorf("%s: %v; want ErrLockCorrupt", name, err)
		}
	}
}

// memDevice is an in-memory slot area for slotNode's I/O.
type memDevice struct {
	mu  sync.Mutex
	b   []byte
	err error
}

func newMemDevice() *memDevice { return &memDevice{b: make([]byte, slotAreaOffset+slotAreaSize)} }

func (d *memDevice) node(id string) *slotNode {
	n := &slotNode{path: "/dev/mem", node: id, index: -1, turn: make(chan struct{}, 1), ioTimeout: time.Second, peers: map[string]resources.PeerBeat{}}
	n.read = func(_ string, off int64, size int) ([]byte, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.err != nil {
			return nil, d.err
		}
		return append([]byte(nil), d.b[off:off+int64(size)]...), nil
	}
	n.write = func(_ string, off int64, b []byte) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.err != nil {
			return d.err
		}
		copy(d.b[off:], b)
		return nil
	}
	return n
}

func TestSlotProbingAndPeers(t *testing.T) {
	d := newMemDevice()
	c := context.Background()
	a, b := d.node("node-a"), d.node("node-b")
	va, err := a.beat(c)
	if err != nil {
		t.Fatal(err)
	}
	if va.Slot != probeOrder("node-a")[0] || va.Counter != 1 {
		t.Fatalf("node-a's first beat: %+v; want its preferred slot %d, counter 1", va, probeOrder("node-a")[0])
	}
	// node-b prefers node-a's slot: it must probe past it.
	d.mu.Lock()
	copy(d.b[ownOffset(va.Slot)-0:], ownRecord{Index: va.Slot, Counter: 1, Written: time.Now(), Node: "node-a"}.encode())
	d.mu.Unlock()
	b.index = va.Slot // as if it had hashed there
	vb, err := b.beat(c)
	if err != nil {
		t.Fatal(err)
	}
	if vb.Slot == va.Slot {
		t.Fatalf("node-b took node-a's slot %d (the lower id keeps a slot claimed twice)", vb.Slot)
	}
	if len(vb.Peers) != 1 || vb.Peers[0].Node != "node-a" || vb.Peers[0].Slot != va.Slot {
		t.Fatalf("node-b's peers: %+v", vb.Peers)
	}
	if _, err := a.beat(c); err != nil {
		t.Fatal(err)
	}
	vb, _ = b.beat(c)
	if vb.Peers[0].Counter != 2 || vb.Peers[0].Changed.IsZero() {
		t.Fatalf("node-b did not see node-a's counter change: %+v", vb.Peers[0])
	}
	// A node that restarts finds its slot and keeps its acknowledgement.
	if err := a.acknowledge(c, ackRecord{Group: "g1", Epoch: 5, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a2 := d.node("node-a")
	if _, err := a2.beat(c); err != nil {
		t.Fatal(err)
	}
	if rec, ok, _ := b.ackOf(c, "node-a", "g1", 5); !ok || rec.Index != va.Slot {
		t.Fatalf("node-a's acknowledgement after a restart: ok=%v %+v", ok, rec)
	}
	// A corrupt mailbox holds no pill; a pill for another node neither.
	ia := a2.index
	d.mu.Lock()
	copy(d.b[mailOffset(ia):], []byte("garbage"))
	d.mu.Unlock()
	if p, ok, err := a2.mailbox(c); ok || err != nil {
		t.Fatalf("corrupt mailbox: %+v ok=%v err=%v; want no pill, no error", p, ok, err)
	}
	d.mu.Lock()
	copy(d.b[mailOffset(ia):], pillRecord{Index: ia, Epoch: 9, Target: "node-x", From: "node-b", Group: "g1"}.encode())
	d.mu.Unlock()
	if _, ok, _ := a2.mailbox(c); ok {
		t.Fatal("a pill addressed to node-x was taken for node-a's")
	}
	// A full area: a new node gets no slot (liveness only).
	d.mu.Lock()
	for i := 0; i < slotCount; i++ {
		if allZero(d.b[ownOffset(i) : ownOffset(i)+lockBlockSize]) {
			copy(d.b[ownOffset(i):], ownRecord{Index: i, Counter: 1, Written: time.Now(), Node: "filler"}.encode())
		}
	}
	d.mu.Unlock()
	if _, err := d.node("node-z").beat(c); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("beat on a full slot area: %v; want ErrNoSlot", err)
	}
	// A pill for a node without a slot cannot be delivered.
	if err := b.sendPill(c, pillRecord{Target: "node-z", From: "node-b", Group: "g1", Epoch: 9}); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("pill for a node without a slot: %v; want ErrNoSlot", err)
	}
}

// sendPill writes pill into node-a's mailbox as node-b (the winner) does.
func (f *lockFixture) sendPill(t *testing.T, epoch uint64) {
	t.Helper()
	winner := Params{Device: f.data, MountPoint: f.other, LockDevice: f.lock}
	env := testEnv()
	env.NodeID = "node-b"
	r, err := Type.Build(&winner, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.(*Resource).SendPill(ctx(t), resources.Pill{Target: "node-a", From: "node-b", Group: "g1", Epoch: epoch}); err != nil {
		t.Fatalf("SendPill: %v", err)
	}
}

// TestPillRefusesStaleStart: node-a has a slot (its disk heartbeat ran),
// a winner's pill at epoch 8 is in its mailbox, and the lock block still
// shows node-a's old epoch 7 (the winner has not mounted yet). A stale
// Start of node-a at epoch 7 must read the pill and refuse.
func TestPillRefusesStaleStart(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	if _, err := r.DiskHeartbeat(ctx(t)); err != nil {
		t.Fatal(err)
	}
	f.writeLock(t, lockRecord{Epoch: 7, Written: time.Now(), Group: "g1", Owner: "node-a", SlotOffset: lockSlotOffset})
	f.sendPill(t, 8)
	err := r.Start(ctx(t), tok())
	if !errors.Is(err, ErrPoisoned) || !strings.Contains(err.Error(), f.lock) {
		t.Fatalf("Start at epoch 7 with a pill for epoch 8: %v; want ErrPoisoned naming %s", err, f.lock)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("a poisoned node mounted the disk: %q", got)
	}
	// A pill for an older epoch does not stop a newer owner.
	t9 := tok()
	t9.Epoch = 9
	if err := r.Start(ctx(t), t9); err != nil {
		t.Fatalf("Start at epoch 9 with a pill for epoch 8: %v", err)
	}
	if err := r.Stop(ctx(t), t9); err != nil { // ends the holder loop
		t.Fatal(err)
	}
}

// TestPillEndsHoldAndIsAcknowledged: node-a holds g1 at epoch 7; a
// winner writes a pill for epoch 8. The holder's next check (one
// heartbeat) fails with ErrPoisoned; after Stop, AckPill writes the
// acknowledgement the winner reads.
func TestPillEndsHoldAndIsAcknowledged(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	p := resources.Pill{Target: "node-a", From: "node-b", Group: "g1", Epoch: 8}
	if _, ok, err := r.PillAcked(ctx(t), p); ok || err != nil {
		t.Fatalf("acknowledged before any pill: ok=%v err=%v", ok, err)
	}
	f.sendPill(t, 8)
	err := r.CheckFence(ctx(t), tok())
	if !errors.Is(err, ErrPoisoned) {
		t.Fatalf("CheckFence after a pill for epoch 8: %v; want ErrPoisoned", err)
	}
	if err := r.Stop(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	got, ok, err := r.AckPill(ctx(t), tok())
	if err != nil || !ok || got.Epoch != 8 || got.Group != "g1" {
		t.Fatalf("AckPill: %+v ok=%v err=%v", got, ok, err)
	}
	ack, ok, err := r.PillAcked(ctx(t), p)
	if err != nil || !ok || ack.Target != "node-a" || ack.Epoch != 8 {
		t.Fatalf("the winner does not see the acknowledgement: %+v ok=%v err=%v", ack, ok, err)
	}
	// The disk heartbeat keeps the acknowledgement.
	if _, err := r.DiskHeartbeat(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.PillAcked(ctx(t), p); !ok {
		t.Fatal("the next disk heartbeat wiped the acknowledgement")
	}
}

// TestPillHolderLoopSeesPillWithinHeartbeat: the holder's own loop (not
// CheckFence) reads the pill within a heartbeat and its verdict is final.
func TestPillHolderLoopSeesPillWithinHeartbeat(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	r.lock.heartbeat = 50 * time.Millisecond
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx(t), tok())
	f.sendPill(t, 8)
	began := time.Now()
	for {
		r.lock.mu.Lock()
		err := r.lock.holdErr
		r.lock.mu.Unlock()
		if errors.Is(err, ErrPoisoned) {
			break
		}
		if time.Since(began) > 2*time.Second {
			t.Fatalf("holder loop verdict after 2s: %v; want ErrPoisoned within a heartbeat", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("holder loop poisoned after %s", time.Since(began).Round(time.Millisecond))
}

// TestSlotReadLostEndsHold: the holder's slot cannot be read (the lock
// block still can): it gives the group up after lock_lost_after, like a
// lost lock block.
func TestSlotReadLostEndsHold(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{LockLostAfter: "300ms", LockIOTimeout: "100ms"})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	r.lock.stopHolding() // CheckFence only, so the test controls the clock
	defer r.Stop(ctx(t), tok())
	n := r.lock.slots
	real := n.rawRead()
	n.setRead(func(path string, off int64, size int) ([]byte, error) {
		if off >= slotAreaOffset {
			return nil, errors.New("test: slot area unreadable")
		}
		return real(path, off, size)
	})
	defer n.setRead(real)
	if err := r.CheckFence(ctx(t), tok()); err != nil {
		t.Fatalf("first failed slot read: %v; want tolerated until lock_lost_after", err)
	}
	time.Sleep(350 * time.Millisecond)
	err := r.CheckFence(ctx(t), tok())
	if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "slot") {
		t.Fatalf("slot unreadable past lock_lost_after: %v; want ErrLockLost about the slot", err)
	}
}

// setRead replaces the node's raw read (the node may be shared with I/O
// still running).
func (n *slotNode) setRead(fn func(path string, off int64, size int) ([]byte, error)) {
	n.mu.Lock()
	n.read = fn
	n.mu.Unlock()
}
