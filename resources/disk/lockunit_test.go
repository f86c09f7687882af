package disk

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
)

func TestLockBlockRoundTrip(t *testing.T) {
	rec := lockRecord{Epoch: 42, Written: time.Unix(0, 1700000000123456789), SlotOffset: lockSlotOffset, SlotSize: 512, SlotCnt: 8,
		Cluster: "c1", Group: strings.Repeat("g", 63), Owner: strings.Repeat("n", 63)}
	b := rec.encode()
	if len(b) != lockBlockSize {
		t.Fatalf("block is %d bytes", len(b))
	}
	got, zero, err := decodeLock(b)
	if err != nil || zero || got.Epoch != 42 || got.Group != rec.Group || got.Owner != rec.Owner || got.Cluster != "c1" ||
		!got.Written.Equal(rec.Written) || got.SlotSize != 512 || got.SlotCnt != 8 {
		t.Fatalf("decode: %+v zero=%v err=%v", got, zero, err)
	}
	if _, zero, err := decodeLock(make([]byte, lockBlockSize)); !zero || err != nil {
		t.Fatalf("all zeros: zero=%v err=%v", zero, err)
	}
	for _, off := range []int{0, 8, 12, 20, 130, 3000, lockCRCOffset} {
		c := append([]byte(nil), b...)
		c[off] ^= 1
		if _, _, err := decodeLock(c); !errors.Is(err, ErrLockCorrupt) {
			t.Errorf("byte %d flipped: %v; want ErrLockCorrupt", off, err)
		}
	}
	// A version-1 write carries a later format's slot fields over.
	l := &diskLock{node: "node-a"}
	if m := l.mine(tok(), got); m.SlotSize != 512 || m.SlotCnt != 8 || m.SlotOffset != lockSlotOffset {
		t.Fatalf("slot fields not carried over: %+v", m)
	}
}

func TestLockJudge(t *testing.T) {
	l := &diskLock{path: "/dev/lock", node: "node-a"}
	tk := tok() // g1, epoch 7
	for _, c := range []struct {
		rec  lockRecord
		want error
	}{
		{lockRecord{Group: "g1", Owner: "node-b", Epoch: 6}, nil},
		{lockRecord{Group: "g1", Owner: "node-a", Epoch: 7}, nil},
		{lockRecord{Group: "g1", Owner: "node-b", Epoch: 8}, ErrSuperseded},
		{lockRecord{Group: "g1", Owner: "node-b", Epoch: 7}, ErrLockConflict},
		{lockRecord{Group: "g2", Owner: "node-a", Epoch: 1}, ErrLockConflict},
	} {
		if err := l.judge(c.rec, tk); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v; want %v", c.rec, err, c.want)
		}
	}
}

// While holding, a lock read that hangs is bounded by lock_io_timeout and
// tolerated until lock_lost_after, then ends the hold (ErrLockLost).
func TestLockHungReadWhileHoldingEndsInLockLost(t *testing.T) {
	p := Params{Device: "/dev/data", MountPoint: "/mnt/x", LockDevice: "/dev/lock", LockIOTimeout: "50ms", LockLostAfter: "300ms"}
	res, err := Type.Build(&p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	r := res.(*Resource)
	release := make(chan struct{})
	defer close(release)
	r.lock.read = func(string) ([]byte, error) { <-release; return nil, errors.New("released") }
	r.lock.held, r.lock.lastGood = 7, time.Now()
	c := ctx(t)
	var lost error
	began := time.Now()
	for i := 0; i < 40 && lost == nil; i++ {
		t0 := time.Now()
		lost = r.CheckFence(c, tok())
		if took := time.Since(t0); took > time.Second {
			t.Fatalf("CheckFence took %s with lock_io_timeout 50ms", took)
		}
		if lost == nil && time.Since(began) > 400*time.Millisecond {
			t.Fatalf("still holding %s after the reads began to hang (lock_lost_after 300ms)", time.Since(began))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !errors.Is(lost, ErrLockLost) || !errors.Is(lost, ErrLockIO) {
		t.Fatalf("CheckFence with a hung device: %v; want ErrLockLost wrapping ErrLockIO", lost)
	}
	if since := time.Since(began); since < 250*time.Millisecond {
		t.Fatalf("gave up after %s, before lock_lost_after 300ms", since)
	}
}

func TestLockParamsValidate(t *testing.T) {
	base := Params{Device: "/dev/nvme1n1p2", MountPoint: "/srv/data"}
	for _, c := range []struct {
		p    func(*Params)
		want string
	}{
		{func(p *Params) { p.LockDevice = "/dev/nvme1n1p1" }, ""},
		{func(p *Params) { p.LockDevice = "nvme1n1p1" }, "lock_device: expected an absolute path"},
		{func(p *Params) { p.LockDevice = "/dev/nvme1n1p2" }, "lock_device: must be its own small partition"},
		{func(p *Params) { p.LockIOTimeout = "1s" }, "need lock_device"},
		{func(p *Params) { p.LockDevice = "/dev/x1"; p.LockLostAfter = "soon" }, "lock_lost_after: expected a positive duration"},
		{func(p *Params) { p.LockDevice = "/dev/x1"; p.LockIOTimeout = "20s" }, "lock_io_timeout 20s is longer than lock_lost_after 10s"},
	} {
		p := base
		c.p(&p)
		err := p.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v; want %q", p, err, c.want)
		}
	}
	var _ resources.FenceChecker = (*Resource)(nil)
}

// The lock keys' errors carry the group file's line, like every key's.
func TestLockKeysInAGroupFile(t *testing.T) {
	reg := resources.NewRegistry()
	if err := reg.Register(Type); err != nil {
		t.Fatal(err)
	}
	src := "groups:\n  - name: g\n    nodes: [n1]\n    resources:\n      - name: data\n        type: disk\n        device: /dev/nvme1n1p2\n        mount_point: /srv/data\n        lock_device: nvme1n1p1\n        lock_io_timeout: 30s\n"
	_, _, errs := groupfile.Parse([]byte(src), reg)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
		if e.Line != 5 {
			t.Errorf("error at line %d, want 5 (the resource): %v", e.Line, e)
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"lock_device: expected an absolute path", "lock_io_timeout 30s is longer than lock_lost_after 10s"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors %q lack %q", all, want)
		}
	}
	src = strings.Replace(strings.Replace(src, "lock_device: nvme1n1p1", "lock_device: /dev/nvme1n1p1", 1), "30s", "1s", 1)
	if _, _, errs := groupfile.Parse([]byte(src), reg); len(errs) > 0 {
		t.Fatalf("valid lock keys refused: %v", errs)
	}
}

// A newer owner's write that lands between ours and the read-back is
// reported as superseded, not as an I/O error.
func TestLockReadBackShowsNewerOwner(t *testing.T) {
	var mem []byte
	l := &diskLock{path: "/dev/lock", node: "node-a", ioTimeout: time.Second,
		write: func(string, []byte) error { mem = nodeB(9).encode(); return nil }, // "node-b" wrote right after us
		read:  func(string) ([]byte, error) { return mem, nil }}
	if _, err := l.writeVerified(ctx(t), l.mine(tok(), lockRecord{})); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("read-back of a newer owner's block: %v; want ErrSuperseded", err)
	}
}
