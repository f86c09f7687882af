package server

// The poison pill on the disk lock's slot area (issue #13), with real
// agents in process and a real disk resource: a loop device with a GPT
// partition table (a 2 MiB lock partition and an ext4 data partition),
// shared by the in-process members as a Multi-Attach volume is by hosts.

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/disk"
)

// pillDisk is the loop device: lock and data partitions, a mount point.
type pillDisk struct{ dir, dev, lock, data, mnt string }

// newPillDisk makes the loop device (skipping without root or loop
// support); its cleanup unmounts what is left on mnt and detaches it.
func newPillDisk(t *testing.T) *pillDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mount)")
	}
	for _, tool := range []string{"losetup", "sfdisk", "partx", "mkfs.ext4"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	dir, err := os.MkdirTemp("", "raftha-pill-test-")
	if err != nil {
		t.Fatal(err)
	}
	d := &pillDisk{dir: dir, mnt: filepath.Join(dir, "mnt")}
	img := filepath.Join(dir, "disk.img")
	t.Cleanup(func() {
		for i := 0; i < 20 && unix.Unmount(d.mnt, 0) == nil; i++ {
		}
		if d.dev != "" {
			if out, err := osexec.Command("losetup", "-d", d.dev).CombinedOutput(); err != nil {
				t.Logf("cleanup: losetup -d %s: %v: %s", d.dev, err, out)
			}
		}
		os.RemoveAll(dir)
	})
	sh := func(stdin string, name string, args ...string) string {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := osexec.CommandContext(c, name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil && name != "partx" {
			t.Skipf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	d.dev = sh("", "losetup", "--find", "--show", "--partscan", img)
	sh("label: gpt\nsize=2MiB, name=raftha-lock\nname=data\n", "sfdisk", "--quiet", d.dev)
	sh("", "partx", "--add", d.dev)
	waitFor(t, 10*time.Second, "partition nodes", func() bool { return exists(d.dev+"p1") && exists(d.dev+"p2") })
	sh("", "mkfs.ext4", "-q", "-F", d.dev+"p2")
	// The members use symlinks in dir, as with /dev/disk/by-id names: a
	// killed member's disk lock goroutine (a crash in a real process)
	// outlives this test, and must not reach the next test's loop device
	// once this one is detached and its number reused.
	d.lock, d.data = filepath.Join(dir, "lock"), filepath.Join(dir, "data")
	for link, target := range map[string]string{d.lock: d.dev + "p1", d.data: d.dev + "p2"} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// pillGroup: db on [n1, n2]: the disk with lock_device, then an exec
// resource that appends "start|stop NODE UNIXNANO" to dir/order (its stop
// fails while dir/fail-stop.NODE exists).
func pillGroup(d *pillDisk, dir string) string {
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: data
        type: disk
        device: %s
        mount_point: %s
        lock_device: %s
        lock_io_timeout: 300ms
        lock_settle: 700ms
        fsck: false
      - name: app
        type: exec
        start: 'echo "start $RAFTHA_NODE $(date +%%s%%N)" >> %[4]s/order'
        stop: 'if [ -e %[4]s/fail-stop.$RAFTHA_NODE ]; then exit 1; fi; echo "stop $RAFTHA_NODE $(date +%%s%%N)" >> %[4]s/order'
`, d.data, d.mnt, d.lock, dir)
}

// orderOf returns when node first did what ("start" or "stop") after
// since, from dir/order.
func orderOf(dir, what, node string, since time.Time) (time.Time, bool) {
	b, _ := os.ReadFile(filepath.Join(dir, "order"))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != what || f[1] != node {
			continue
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err == nil && time.Unix(0, ns).After(since) {
			return time.Unix(0, ns), true
		}
	}
	return time.Time{}, false
}

// pillCluster is faultCluster (lease-only, stop_deadline 3s so the
// lease-only wait is long) with db online on n1.
func pillCluster(t *testing.T) (*testCluster, *hardActions, *pillDisk, string, time.Duration) {
	d := newPillDisk(t)
	dir := t.TempDir()
	// Twice the test profile's timing: these tests share the box with
	// mkfs, mount and O_DIRECT I/O, and a leader that flaps stalls the
	// winner's confirmation, not the pill.
	c, h := faultCluster(t, dir, 3*time.Second, func(m *testMember) {
		m.cfg.Timing = config.TimingConfig{Heartbeat: config.Duration(200 * time.Millisecond), Lease: config.Duration(1200 * time.Millisecond), FailoverTimeout: config.Duration(2400 * time.Millisecond)}
	})
	t.Cleanup(func() { // the cluster's own tail is mostly raft noise
		if !t.Failed() {
			return
		}
		for _, m := range c.members {
			if m.logs == nil {
				continue
			}
			for _, l := range strings.Split(m.logs.String(), "\n") {
				if strings.Contains(l, "[WARN]") || strings.Contains(l, "[ERROR]") || strings.Contains(l, "pill") || strings.Contains(l, "confirm") || strings.Contains(l, "lease-only") {
					if !strings.Contains(l, "raftha.raft:") && !strings.Contains(l, "lease call") && !strings.Contains(l, "transport") {
						t.Log(l)
					}
				}
			}
		}
	})
	c.apply(t, pillGroup(d, dir))
	c.waitOnline("db", "n1")
	wait := c.member("n2").cfg.LeaseOnlyWait()
	return c, h, d, dir, wait
}

// fenceWaitOf waits for db's takeover by n2 and returns its lease-only
// wait, the one the winner waits without an acknowledgement.
func fenceWaitOf(t *testing.T, c *testCluster, within time.Duration) time.Duration {
	t.Helper()
	var d time.Duration
	waitFor(t, within, "db fencing for n2", func() bool {
		gs := c.group("db").Status
		if gs.State == fsm.StateFencing && gs.Owner == "n2" {
			d = gs.FenceWait
			return true
		}
		return false
	})
	return d
}

// pillLog logs what the members' logs say about the pill.
func pillLog(t *testing.T, c *testCluster) {
	for _, m := range c.members {
		if m.logs == nil {
			continue
		}
		for _, l := range strings.Split(m.logs.String(), "\n") {
			if strings.Contains(l, "pill") {
				t.Log(l)
			}
		}
	}
}

// fencedEvent returns the fenced event of db by n2 and the wait it took.
func fencedEvent(t *testing.T, c *testCluster) (fsm.Event, time.Duration) {
	t.Helper()
	for _, e := range c.events("db") {
		if e.Kind == fsm.KindFenced && e.Node == "n2" {
			took, err := time.ParseDuration(strings.SplitN(e.Reason, ";", 2)[0])
			if err != nil {
				t.Fatalf("fenced event reason %q: %v", e.Reason, err)
			}
			return e, took
		}
	}
	t.Fatalf("no fenced event by n2: %s", kinds(c.events("db")))
	return fsm.Event{}, 0
}

// TestPoisonPillAckLetsWinnerStartBeforeLeaseOnlyWait: lease-only, n1
// owns db and is cut off from n2 and the witness but alive. n2 wins the
// takeover, writes the pill into n1's mailbox; n1, which stops the group
// (its lease ran out, or the pill), acknowledges it only once everything
// stopped. n2 starts on the acknowledgement, well before the lease-only
// wait, and never before n1's resources stopped.
func TestPoisonPillAckLetsWinnerStartBeforeLeaseOnlyWait(t *testing.T) {
	c, _, _, dir, _ := pillCluster(t)
	cut := time.Now()
	c.partition("n1")
	fenceWait := fenceWaitOf(t, c, 30*time.Second)
	c.waitOnline("db", "n2")
	online := time.Since(cut)
	e, took := fencedEvent(t, c)
	t.Logf("n2 online %s after the partition; fence took %s (the takeover's lease-only wait %s): %s", online.Round(time.Millisecond), took, fenceWait, e.Reason)
	if !strings.Contains(e.Reason, "pill acknowledged by n1") {
		t.Fatalf("the fence was not ended by the pill's acknowledgement: %q", e.Reason)
	}
	if took >= fenceWait {
		t.Fatalf("fence took %s; with the acknowledgement it must end before the lease-only wait %s", took, fenceWait)
	}
	stopped, ok1 := orderOf(dir, "stop", "n1", cut)
	started, ok2 := orderOf(dir, "start", "n2", cut)
	if !ok1 || !ok2 || !stopped.Before(started) {
		t.Fatalf("n1 stopped at %v (%v), n2 started at %v (%v): the loser must stop first", stopped, ok1, started, ok2)
	}
}

// TestPoisonPillStopsLiveHolderWithinHeartbeats: n1 holds db with a good
// lease (nothing is cut) and a pill for a higher epoch lands in its
// mailbox: n1's disk lock reads it at its next heartbeat and the group
// is given up through the self-fence path at once.
func TestPoisonPillStopsLiveHolderWithinHeartbeats(t *testing.T) {
	c, h, d, dir, _ := pillCluster(t)
	g := c.group("db")
	hb := c.member("n1").cfg.Timing.Heartbeat.D()
	began := time.Now()
	sendPill(t, d, "n2", resources.Pill{Target: "n1", From: "n2", Group: "db", Epoch: g.Status.Epoch + 1})
	waitFor(t, 20*hb, "n1 stopping the poisoned group", func() bool { _, ok := orderOf(dir, "stop", "n1", began); return ok })
	at, _ := orderOf(dir, "stop", "n1", began)
	t.Logf("n1 stopped %s after the pill (heartbeat %s)", at.Sub(began).Round(time.Millisecond), hb)
	if at.Sub(began) > 5*hb {
		t.Fatalf("n1 stopped %s after the pill; want within a few heartbeats (%s)", at.Sub(began), hb)
	}
	if !strings.Contains(c.member("n1").logs.String(), "poisoned") {
		t.Fatal("n1's log does not show the pill")
	}
	if _, ok := h.when("n1"); ok {
		t.Fatal("n1 took its hard action although its stop succeeded")
	}
}

// sendPill writes p as node from would (a disk resource built for it).
func sendPill(t *testing.T, d *pillDisk, from string, p resources.Pill) {
	t.Helper()
	r, err := disk.Type.Build(&disk.Params{Device: d.data, MountPoint: d.mnt, LockDevice: d.lock}, resources.Env{NodeID: from})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.(resources.PillBox).SendPill(ctxT(t, 10*time.Second), p); err != nil {
		t.Fatal(err)
	}
}

// acked reports whether n1's slot acknowledges the pill of db at epoch.
func acked(t *testing.T, d *pillDisk, epoch uint64) bool {
	t.Helper()
	r, err := disk.Type.Build(&disk.Params{Device: d.data, MountPoint: d.mnt, LockDevice: d.lock}, resources.Env{NodeID: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	_, ok, err := r.(resources.PillBox).PillAcked(ctxT(t, 10*time.Second), resources.Pill{Target: "n1", Group: "db", Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestPoisonPillPausedLoserWinnerWaitsFullWait: n1 is gone without a
// word (its agent killed, as a paused host would be): no acknowledgement
// comes, and n2 waits the whole lease-only wait.
func TestPoisonPillPausedLoserWinnerWaitsFullWait(t *testing.T) {
	c, _, d, _, wait := pillCluster(t)
	c.kill("n1")
	// The paused host's mount is on its own host; here the members share
	// one, so it goes for n2 to be able to mount once fenced.
	waitFor(t, 10*time.Second, "test unmount", func() bool { return unix.Unmount(d.mnt, 0) == nil })
	waitFullFence(t, c, wait, "without an acknowledgement")
}

// waitFullFence waits for n2's fence of db and fails the test unless it
// waited the takeover's whole lease-only wait, with no pill (why says
// why it must).
func waitFullFence(t *testing.T, c *testCluster, wait time.Duration, why string) {
	t.Helper()
	fenceWait := fenceWaitOf(t, c, 30*time.Second)
	waitFor(t, 3*wait+20*time.Second, "n2's fence", func() bool {
		for _, e := range c.events("db") {
			if e.Kind == fsm.KindFenced && e.Node == "n2" {
				return true
			}
		}
		return false
	})
	e, took := fencedEvent(t, c)
	t.Logf("fence took %s (the takeover's lease-only wait %s): %s", took, fenceWait, e.Reason)
	pillLog(t, c)
	if strings.Contains(e.Reason, "pill") || took < fenceWait {
		t.Fatalf("fence %q took %s; %s it must wait the full %s", e.Reason, took, why, fenceWait)
	}
}

// TestPoisonPillNoAckWhenStopFails: n1's stop fails as it self-fences,
// so it takes its hard action and never acknowledges the pill; n2 waits
// the whole lease-only wait.
func TestPoisonPillNoAckWhenStopFails(t *testing.T) {
	c, h, d, dir, wait := pillCluster(t)
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	c.partition("n1")
	waitFullFence(t, c, wait, "after a failed stop")
	if _, ok := h.when("n1"); !ok {
		t.Fatal("n1 did not take its hard action after its stop failed")
	}
	if acked(t, d, c.group("db").Status.Epoch) {
		t.Fatal("n1 acknowledged the pill although its stop failed")
	}
}

// TestDiskHeartbeatSeesPeerAcrossPartition: both candidates write their
// slots every heartbeat whether or not they run the group; once n1 is cut
// off from the others, n2 still sees n1's disk heartbeat counter change
// (the second path: node link down, disk heartbeat alive).
func TestDiskHeartbeatSeesPeerAcrossPartition(t *testing.T) {
	c, _, d, _, _ := pillCluster(t)
	hb := c.member("n2").cfg.Timing.Heartbeat.D()
	peer := func(member, node string) (api.DiskPeer, bool) {
		for _, b := range c.member(member).srv.DiskHeartbeats() {
			if b.Device != d.lock || b.Error != "" {
				continue
			}
			for _, p := range b.Peers {
				if p.Node == node {
					return p, true
				}
			}
		}
		return api.DiskPeer{}, false
	}
	waitFor(t, 50*hb, "n2 seeing n1's disk heartbeat change", func() bool { p, ok := peer("n2", "n1"); return ok && p.Changed != nil })
	waitFor(t, 50*hb, "n1 seeing n2's disk heartbeat change", func() bool { p, ok := peer("n1", "n2"); return ok && p.Changed != nil })
	c.partition("n1")
	cut := time.Now()
	waitFor(t, 50*hb, "n2 seeing n1's disk heartbeat change after the partition", func() bool { p, ok := peer("n2", "n1"); return ok && p.Changed != nil && p.Changed.After(cut) })
	p, _ := peer("n2", "n1")
	t.Logf("n2 sees n1 in slot %d, counter %d, changed %s after the partition", p.Slot, p.Counter, p.Changed.Sub(cut).Round(time.Millisecond))
	// The cut-off member's own status view shows its disk heartbeat.
	v, err := c.member("n1").srv.Status(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.DiskHeartbeats) != 1 || v.DiskHeartbeats[0].Device != d.lock || len(v.DiskHeartbeats[0].Peers) != 1 || v.DiskHeartbeats[0].Peers[0].Node != "n2" {
		t.Fatalf("n1's status view: disk heartbeats %+v; want one on %s with peer n2", v.DiskHeartbeats, d.lock)
	}
}

// TestPoisonPillAckAfterAgentRestart: n1 is cut off and its agent dies
// with the group running (nothing stopped); it comes back still cut off.
// It stops what its run record names first, and only then acknowledges
// the pill; n2 starts on the acknowledgement, after n1's stop.
func TestPoisonPillAckAfterAgentRestart(t *testing.T) {
	c, _, _, dir, _ := pillCluster(t)
	cut := time.Now()
	c.partition("n1")
	c.kill("n1")
	c.start("n1")
	c.partition("n1")
	fenceWait := fenceWaitOf(t, c, 30*time.Second)
	c.waitOnline("db", "n2")
	e, took := fencedEvent(t, c)
	t.Logf("fence took %s (the takeover's lease-only wait %s): %s", took, fenceWait, e.Reason)
	if !strings.Contains(e.Reason, "pill acknowledged by n1") || took >= fenceWait {
		t.Fatalf("fence %q took %s; the restarted n1 should have acknowledged before the lease-only wait %s", e.Reason, took, fenceWait)
	}
	stopped, ok1 := orderOf(dir, "stop", "n1", cut)
	started, ok2 := orderOf(dir, "start", "n2", cut)
	if !ok1 || !ok2 || !stopped.Before(started) {
		t.Fatalf("n1 stopped at %v (%v), n2 started at %v (%v): the restarted loser must stop first", stopped, ok1, started, ok2)
	}
}
