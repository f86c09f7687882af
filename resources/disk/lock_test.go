package disk

// Disk lock tests on a loop device with a real GPT partition table
// (sfdisk): partition 1 is the 2 MiB lock partition, partition 2 the ext4
// data partition. The fixture's cleanup unmounts what is mounted under its
// directory and detaches the loop device (its partitions go with it).

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftha/raftha/resources"
)

type lockFixture struct {
	*fixture
	lock, data string
}

func newLockFixture(t *testing.T) *lockFixture {
	t.Helper()
	needTools(t, "losetup", "sfdisk", "partx", "mkfs.ext4", "e2fsck")
	f := newLoop(t, "raftha-disklock-test-", "--partscan")
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sf := osexec.CommandContext(c, "sfdisk", "--quiet", f.dev)
	sf.Stdin = strings.NewReader("label: gpt\nsize=2MiB, name=raftha-lock\nname=data\n")
	if out, err := sf.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v: %s", f.dev, err, out)
	}
	// sfdisk's re-read does not always reach the loop device's partitions
	// (seen in containers): add them with partx.
	if out, err := osexec.CommandContext(c, "partx", "--add", f.dev).CombinedOutput(); err != nil {
		t.Logf("partx --add %s: %v: %s", f.dev, err, out)
	}
	lf := &lockFixture{fixture: f, lock: f.dev + "p1", data: f.dev + "p2"}
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, e1 := os.Stat(lf.lock)
		_, e2 := os.Stat(lf.data)
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Skipf("partition nodes %s, %s did not appear (no devtmpfs/udev?); skipping", lf.lock, lf.data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	run(t, "mkfs.ext4", "-q", "-F", lf.data)
	if err := os.Mkdir(f.other, 0o755); err != nil {
		t.Fatal(err)
	}
	return lf
}

// build builds a disk resource on the data partition with the lock.
func (f *lockFixture) build(t *testing.T, p Params) *Resource {
	t.Helper()
	p.Device, p.MountPoint, p.LockDevice = f.data, f.mnt, f.lock
	if p.LockSettle == "" {
		p.LockSettle = "20ms"
	}
	r, err := Type.Build(&p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	return r.(*Resource)
}

// writeLock writes rec as "another node" would: O_DIRECT, synced.
func (f *lockFixture) writeLock(t *testing.T, rec lockRecord) {
	t.Helper()
	if err := writeBlockDirect(f.lock, rec.encode()); err != nil {
		t.Fatal(err)
	}
}

func (f *lockFixture) readLock(t *testing.T) (lockRecord, bool) {
	t.Helper()
	b, err := readBlockDirect(f.lock)
	if err != nil {
		t.Fatal(err)
	}
	rec, zero, err := decodeLock(b)
	if err != nil {
		t.Fatal(err)
	}
	return rec, zero
}

func nodeB(epoch uint64) lockRecord {
	return lockRecord{Epoch: epoch, Written: time.Now(), Group: "g1", Owner: "node-b", SlotOffset: lockSlotOffset}
}

func TestDiskLockFreshIsInitialized(t *testing.T) {
	f := newLockFixture(t)
	if _, zero := f.readLock(t); !zero {
		t.Fatal("fresh lock partition is not all zeros")
	}
	r := f.build(t, Params{})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatalf("Start on a fresh lock: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != f.data {
		t.Fatalf("mounted at %s: %q, want %s", f.mnt, got, f.data)
	}
	rec, zero := f.readLock(t)
	if zero || rec.Group != "g1" || rec.Owner != "node-a" || rec.Epoch != 7 {
		t.Fatalf("lock after Start: zero=%v %s; want group g1 owner node-a epoch 7", zero, rec)
	}
	if err := r.CheckFence(ctx(t), tok()); err != nil {
		t.Fatalf("CheckFence while holding: %v", err)
	}
}

func TestDiskLockLowerEpochIsOverwritten(t *testing.T) {
	f := newLockFixture(t)
	f.writeLock(t, nodeB(5))
	r := f.build(t, Params{})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatalf("Start over a lower epoch: %v", err)
	}
	if rec, _ := f.readLock(t); rec.Owner != "node-a" || rec.Epoch != 7 {
		t.Fatalf("lock after Start: %s; want owner node-a epoch 7", rec)
	}
}

func TestDiskLockStaleOwnerIsRefused(t *testing.T) {
	f := newLockFixture(t)
	f.writeLock(t, nodeB(9))
	r := f.build(t, Params{})
	err := r.Start(ctx(t), tok()) // epoch 7 < 9
	if !errors.Is(err, ErrSuperseded) {
		t.Fatalf("Start of a stale owner (epoch 7, lock holds 9): %v; want ErrSuperseded", err)
	}
	if !strings.Contains(err.Error(), f.lock) {
		t.Errorf("error does not name the lock device %s: %v", f.lock, err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("a stale owner mounted the disk: %q", got)
	}
	if rec, _ := f.readLock(t); rec.Owner != "node-b" || rec.Epoch != 9 {
		t.Fatalf("the stale owner wrote the lock: %s", rec)
	}
}

func TestDiskLockCorruptIsRefused(t *testing.T) {
	f := newLockFixture(t)
	b := nodeB(5).encode()
	b[200] ^= 0xff // bad CRC
	if err := writeBlockDirect(f.lock, b); err != nil {
		t.Fatal(err)
	}
	r := f.build(t, Params{})
	err := r.Start(ctx(t), tok())
	if !errors.Is(err, ErrLockCorrupt) || !strings.Contains(err.Error(), f.lock) {
		t.Fatalf("Start on a corrupt lock block: %v; want ErrLockCorrupt naming %s", err, f.lock)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("mounted over a corrupt lock: %q", got)
	}
	// A non-raftha block (e.g. a file system) is refused too, not overwritten.
	f.writeLock(t, nodeB(5))
	b, _ = readBlockDirect(f.lock)
	copy(b[0:8], "XFSB\x00\x00\x10\x00")
	_ = writeBlockDirect(f.lock, b)
	if err := r.Start(ctx(t), tok()); !errors.Is(err, ErrLockCorrupt) {
		t.Fatalf("Start on a foreign block: %v; want ErrLockCorrupt", err)
	}
}

func TestDiskLockSupersededWhileHolding(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	f.writeLock(t, nodeB(8)) // the new owner took the disk
	err := r.CheckFence(ctx(t), tok())
	if !errors.Is(err, ErrSuperseded) {
		t.Fatalf("CheckFence after a higher epoch was written: %v; want ErrSuperseded", err)
	}
	// The runner-facing contract: a FenceChecker's error means give up now.
	var _ resources.FenceChecker = r
}

func TestDiskLockStaleWriterIsOverwrittenByHolder(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	f.writeLock(t, nodeB(5)) // a stale owner wrote after its read
	if err := r.CheckFence(ctx(t), tok()); err != nil {
		t.Fatalf("CheckFence over a lower epoch: %v", err)
	}
	if rec, _ := f.readLock(t); rec.Owner != "node-a" || rec.Epoch != 7 {
		t.Fatalf("the holder did not re-assert its epoch: %s", rec)
	}
}

// A stale owner paused between its read and its write puts its lower
// epoch back while the winner settles: the winner re-asserts and mounts;
// a higher epoch appearing while settling makes Start refuse.
func TestDiskLockSettleRace(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{})
	var reads atomic.Int32
	r.lock.read = func(path string) ([]byte, error) {
		if reads.Add(1) == 3 { // 1: initial, 2: read-back, 3: after settling
			f.writeLock(t, nodeB(5))
		}
		return readBlockDirect(path)
	}
	if err := r.Start(ctx(t), tok()); err != nil {
		t.Fatalf("Start with a stale writer while settling: %v", err)
	}
	if rec, _ := f.readLock(t); rec.Owner != "node-a" || rec.Epoch != 7 {
		t.Fatalf("lock after Start: %s", rec)
	}
	if err := r.Stop(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}

	reads.Store(0)
	r.lock.read = func(path string) ([]byte, error) {
		if reads.Add(1) == 3 {
			f.writeLock(t, nodeB(9))
		}
		return readBlockDirect(path)
	}
	tok8 := tok()
	tok8.Epoch = 8
	if err := r.Start(ctx(t), tok8); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("Start with a newer owner appearing while settling: %v; want ErrSuperseded", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("mounted although superseded while settling: %q", got)
	}
}

// No device here can be made to hang (no device-mapper): the read is
// injected. Start gives up after lock_io_timeout without mounting.
func TestDiskLockHungReadAtStart(t *testing.T) {
	f := newLockFixture(t)
	r := f.build(t, Params{LockIOTimeout: "200ms", LockLostAfter: "1s"})
	release := make(chan struct{})
	defer close(release)
	r.lock.read = func(string) ([]byte, error) { <-release; return nil, errors.New("released") }
	began := time.Now()
	err := r.Start(ctx(t), tok())
	if !errors.Is(err, ErrLockIO) {
		t.Fatalf("Start with a hung lock read: %v; want ErrLockIO", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Start took %s with lock_io_timeout 200ms", took)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("mounted although the lock could not be read: %q", got)
	}
}

// raftha disk lock show/init: ReadLock and InitLock.
func TestDiskLockAdmin(t *testing.T) {
	f := newLockFixture(t)
	if info, err := ReadLock(f.lock, 0); err != nil || !info.Fresh {
		t.Fatalf("ReadLock of a fresh lock: %+v, %v", info, err)
	}
	f.writeLock(t, nodeB(9))
	if info, err := ReadLock(f.lock, 0); err != nil || info.Fresh || info.Owner != "node-b" || info.Epoch != 9 || info.Group != "g1" {
		t.Fatalf("ReadLock: %+v, %v", info, err)
	}
	if err := InitLock(f.lock, 0, false); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("InitLock of a held lock without force: %v; want ErrLockHeld", err)
	}
	b := nodeB(9).encode()
	b[300] ^= 1
	if err := writeBlockDirect(f.lock, b); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLock(f.lock, 0); !errors.Is(err, ErrLockCorrupt) {
		t.Fatalf("ReadLock of a corrupt block: %v", err)
	}
	if err := InitLock(f.lock, 0, false); err != nil {
		t.Fatalf("InitLock of a corrupt block: %v", err)
	}
	if _, zero := f.readLock(t); !zero {
		t.Fatal("not zero after InitLock")
	}
	f.writeLock(t, nodeB(9))
	if err := InitLock(f.lock, 0, true); err != nil {
		t.Fatalf("InitLock with force: %v", err)
	}
	if _, zero := f.readLock(t); !zero {
		t.Fatal("not zero after InitLock with force")
	}
}
