package disk

// Adversarial review of the disk lock (#13): the settle wait of a stale
// acquirer is only as good as the holder's re-assertion, which must not
// depend on the agent calling CheckFence on time.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiskLockHolderReassertsWithoutCheckFence: node-a holds the lock at
// epoch 7 and its agent is busy (starting the group's next resource, or
// in a monitor call) so it calls no CheckFence. A stale node-b at epoch 5,
// paused after a read that still showed epoch 4, resumes: it writes 5,
// reads it back, settles lock_settle (2 heartbeats + lock_io_timeout) and
// reads again. The holder must have put 7 back by then, so node-b
// refuses; otherwise both nodes mount the file system.
func TestDiskLockHolderReassertsWithoutCheckFence(t *testing.T) {
	f := newLockFixture(t)
	a := holderA(t, f)
	if err := a.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Stop(ctx(t), tok()) }()

	staleNodeB(t, f, "the holder did not re-assert while its agent was busy")
	if rec, _ := f.readLock(t); rec.Owner != "node-a" || rec.Epoch != 7 {
		t.Fatalf("lock after the stale acquire: %s", rec)
	}
}

// holderA builds node-a's disk resource (heartbeat 100ms, lock_io_timeout
// 500ms) on f; not started.
func holderA(t *testing.T, f *lockFixture) *Resource {
	t.Helper()
	env := testEnv()
	env.Heartbeat = 100 * time.Millisecond
	p := Params{Device: f.data, MountPoint: f.mnt, LockDevice: f.lock, LockIOTimeout: "500ms", LockSettle: "20ms"}
	r, err := Type.Build(&p, env)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Resource)
}

// staleNodeB is node-b at epoch 5, paused after a read that showed epoch
// 4, resuming now with the default settle for a 100ms heartbeat: it must
// find node-a's epoch 7 back (ErrSuperseded) after settling.
func staleNodeB(t *testing.T, f *lockFixture, why string) {
	t.Helper()
	envB := testEnv()
	envB.NodeID, envB.Heartbeat = "node-b", 100*time.Millisecond
	pb := Params{Device: f.data, MountPoint: f.mnt, LockDevice: f.lock, LockIOTimeout: "500ms"}
	b := newDiskLock(&pb, envB, envB.Logger)
	var reads atomic.Int32
	b.read = func(path string) ([]byte, error) {
		if reads.Add(1) == 1 {
			return nodeB(4).encode(), nil
		}
		return readBlockDirect(path)
	}
	dev, err := statBlockDevice(f.data)
	if err != nil {
		t.Fatal(err)
	}
	stale := tok()
	stale.Epoch, stale.Node = 5, "node-b"
	err = b.acquire(ctx(t), dev, stale)
	if err == nil {
		t.Fatalf("stale node-b (epoch 5) acquired the lock over holder node-a (epoch 7) after settling %s: %s", b.settle, why)
	}
	if !errors.Is(err, ErrSuperseded) {
		t.Fatalf("stale acquire: %v; want ErrSuperseded", err)
	}
}

// TestLockNoIOAfterContextEnded: Start's context is bounded by the lease.
// A node paused between its read and its write resumes with that context
// already ended; it must not write its (stale) record at all, rather
// than write it and only then report the context's end.
func TestLockNoIOAfterContextEnded(t *testing.T) {
	var writes atomic.Int32
	l := &diskLock{path: "/dev/lock", node: "node-a", ioTimeout: time.Second,
		write: func(string, []byte) error { writes.Add(1); return nil },
		read:  func(string) ([]byte, error) { return make([]byte, lockBlockSize), nil }}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 20; i++ {
		if _, err := l.writeVerified(c, l.mine(tok(), lockRecord{})); err == nil {
			t.Fatal("writeVerified with an ended context succeeded")
		}
		time.Sleep(time.Millisecond)
	}
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes of the lock block were issued after the (lease) context had ended", n)
	}
}
