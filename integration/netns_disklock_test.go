package integration

// The disk-lock scenario (issue #13): lease-only fencing, the group's
// disk resource on the shared loop disk with lock_device set. The disk
// is laid out as docs/scenarios.md lays out a Multi-Attach volume: a GPT
// table, partition 1 a small all-zero lock partition, partition 2 the
// ext4 file system (testbed.loopDisk with withLock).
//
//	sudo make build && sudo go test ./integration -count=1 -v -run '^TestFaultDiskLockLeaseOnly$'
//	sudo go test ./integration -count=1 -v -run '^TestFaultDiskLockLeaseOnly$/cut-alive'
//
// Each variant is its own row in the results table, with the failover
// time from the fault to the application answering on the other node:
// paused-start is the time without any acknowledgement from the loser
// (it is stopped), cut-alive the time when the loser runs and can
// acknowledge (the poison pill, where the build has it: it needs no
// config beyond lock_device).

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lockLayout is the sfdisk script of the shared disk with a lock
// partition (the docs' layout, with a smaller lock partition: the lock
// needs at least 1 MiB).
const lockLayout = "label: gpt\nsize=4MiB, name=raftha-lock\nname=data\n"

// partitionImage writes lockLayout's partition table into the image file.
func partitionImage(t *testing.T, img string) {
	t.Helper()
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Fatalf("the disk-lock scenario needs sfdisk on PATH (Debian: apt-get install fdisk): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sfdisk", "--quiet", img)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(lockLayout)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v: %s", img, err, strings.TrimSpace(string(out)))
	}
}

// waitPartitions waits (bounded) for the partition devices of a loop
// device attached with -P and returns the data (p2) and lock (p1) ones.
func waitPartitions(t *testing.T, dev string) (data, lock string) {
	t.Helper()
	lock, data = dev+"p1", dev+"p2"
	isBlock := func(p string) bool {
		out, err := cmdOut(5*time.Second, "stat", "-L", "-c", "%F", p)
		return err == nil && strings.TrimSpace(out) == "block special file"
	}
	for i := 0; i < 100; i++ {
		if isBlock(lock) && isBlock(data) {
			return data, lock
		}
		if i == 20 {
			_, _ = cmdOut(10*time.Second, "partx", "-u", dev) // no udev, or a slow one
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the partitions %s and %s of %s did not appear", lock, data, dev)
	return "", ""
}

// withDiskLock is the newFCluster option of the disk-lock scenario.
func withDiskLock(c *fcluster) {
	c.diskLock = true
	c.fencing = "lease-only"
}

// TestFaultDiskLockLeaseOnly: lease-only fencing with the disk lock.
//
// paused-start: a planned move to the other node; that node's agent is
// SIGSTOPped while its disk resource takes the lock (writes it or
// settles it, a random time after it began; before the mount) and the
// node is cut off from its peers. The first node takes the group back
// after the lease-only wait, writing a higher epoch into the lock; then
// the stale owner resumes (still cut off) and is healed. It must never
// write: no line of its epoch on the disk, no answer at its epoch, and
// the lock block ends at the winner's epoch.
//
// cut-alive: the owner is cut off from its peers and keeps running: it
// fences itself when its lease runs out, and the other node takes over
// after the lease-only wait (or, with the poison pill, once the loser
// acknowledges it).
func TestFaultDiskLockLeaseOnly(t *testing.T) {
	if !diskRegistered() {
		t.Skip("the disk resource is not built in")
	}
	opts := []func(*fcluster){withDiskLock}
	runFaultVariants(t, "disklock-lease-only", twoNodes, []faultVariant{
		{name: "paused-start", opts: opts, body: diskLockPausedInStart,
			info: "lease-only + lock_device: new owner SIGSTOP+cut while taking the lock → app on the first, stale one never writes"},
		{name: "cut-alive", opts: opts, body: diskLockPartitionedAlive,
			info: "lease-only + lock_device: owner cut from peers, alive → app on the other node"},
	})
}

var (
	lockTakeRE = regexp.MustCompile(`taking the disk lock: .*\bepoch=(\d+)`)
	mountingRE = regexp.MustCompile(`: mounting: .*\bepoch=(\d+)`)
	logTimeRE  = regexp.MustCompile(`^\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) `)
)

// logTime is the time an agent log line begins with.
func logTime(line string) (time.Time, bool) {
	sm := logTimeRE.FindStringSubmatch(line)
	if sm == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, sm[1])
	return at, err == nil
}

// notePhases notes, from the winner's agent log, where its takeover at
// epoch spent its time: the wait for the lost owner (from its first
// lease-only wait line to its start: the lease-only wait, or less once a
// poison pill is acknowledged) and the disk lock's take (write,
// lock_settle, read) and fsck before the mount; and its poison pill
// lines, if any.
func (c *fcluster) notePhases(m *member, epoch uint64) {
	atEpoch := regexp.MustCompile(`\bepoch=` + strconv.FormatUint(epoch, 10) + `\b`)
	var waitAt, startAt, takeAt, mountAt time.Time
	var pill []string // the poison pill's lines, where the build has it
	for _, line := range strings.Split(c.logSince(m), "\n") {
		at, ok := logTime(line)
		if !ok {
			continue
		}
		switch {
		case strings.Contains(line, "lease-only fencing: waiting") && waitAt.IsZero():
			waitAt = at
		case (strings.Contains(line, "poison pill") || strings.Contains(line, "previous owner fenced")) && startAt.IsZero():
			pill = append(pill, line[strings.Index(line, "]")+1:])
		case !atEpoch.MatchString(line):
		case startAt.IsZero() && strings.Contains(line, "starting resource:") && strings.Contains(line, "resource=shared "):
			startAt = at
		case takeAt.IsZero() && strings.Contains(line, "taking the disk lock:"):
			takeAt = at
		case mountAt.IsZero() && strings.Contains(line, ": mounting:"):
			mountAt = at
		}
	}
	wait := "none logged"
	if !waitAt.IsZero() && !startAt.IsZero() {
		wait = startAt.Sub(waitAt).String()
	}
	lock := "not seen"
	if !takeAt.IsZero() && !mountAt.IsZero() {
		lock = mountAt.Sub(takeAt).String()
	}
	c.note("winner %s at epoch %d: waited %s for the lost owner before its start; disk lock taken and fsck done in %s before the mount", m.id, epoch, wait, lock)
	for _, l := range pill {
		c.note("winner %s: %s", m.id, strings.TrimSpace(l))
	}
}

// waitLockTake waits until m's agent logs that it takes the disk lock at
// an epoch above after, polling often: the caller pauses m inside the
// lock's settle window (2 heartbeats + lock_io_timeout). It returns that
// epoch (0 if it never came).
func (c *fcluster) waitLockTake(m *member, d time.Duration, after uint64) uint64 {
	deadline := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		for _, sm := range lockTakeRE.FindAllStringSubmatch(c.logSince(m), -1) {
			if ep, err := strconv.ParseUint(sm[1], 10, 64); err == nil && ep > after {
				return ep
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}

func diskLockPausedInStart(c *fcluster) {
	first, g := c.setup(c.rng.Intn(2) == 0)
	stale := c.otherNode(first)
	c.sleepRand(200*time.Millisecond, time.Second)
	tr := c.transferAsync(stale)
	ep := c.waitLockTake(stale, 30*time.Second, g.Epoch)
	if ep == 0 {
		c.failure("%s never took the disk lock after the transfer to it", stale.id)
		return
	}
	// Anywhere from its lock write to late in its settle (2 heartbeats +
	// lock_io_timeout: 2.2s here), never past the mount.
	delay := c.sleepRand(0, 1500*time.Millisecond)
	t0 := monoNow()
	c.pause(stale)
	c.partition(stale, "DROP")
	c.note("fault: SIGSTOP %s's agent %s after it began taking the disk lock at epoch %d (before its mount), and cut it from its peers", stale.id, delay.Round(time.Millisecond), ep)
	for _, sm := range mountingRE.FindAllStringSubmatch(c.logSince(stale), -1) {
		if sm[1] == strconv.FormatUint(ep, 10) {
			c.failure("the pause came too late: %s was already mounting at epoch %d", stale.id, ep)
			break
		}
	}
	g2, ok := c.waitOnline(40*time.Second, "db online on "+first.id, func(x groupView) bool { return x.Owner == first.id && x.Epoch > ep })
	if ok {
		c.measure(t0, g2, "pause+cut of the new owner in its start → app on "+first.id)
		c.notePhases(first, g2.Epoch)
	}
	c.sleepRand(0, time.Second)
	c.resume(stale)
	c.note("resumed %s (still cut off)", stale.id)
	c.sleepRand(time.Second, 2*time.Second)
	c.heal(stale)
	select {
	case err := <-tr:
		c.note("transfer to %s: %v", stale.id, err)
	case <-time.After(40 * time.Second):
		c.failure("the transfer CLI did not return")
	}
	c.finish(first.id)
	// From the disk: the stale owner wrote nothing at its epoch, and the
	// lock block holds the winner's.
	var n int
	var at int64
	for _, l := range c.finalLines {
		if l.node == stale.id && l.epoch == ep {
			if n == 0 {
				at = l.mono
			}
			n++
		}
	}
	if n > 0 {
		c.violation("disk: the stale owner %s@%d wrote %d line(s), the first at +%.3fs", stale.id, ep, n, float64(at-c.t0)/1e9)
	}
	for _, e := range c.prober.answeredBy(0, 0)[stale.id] {
		if e == ep {
			c.violation("probes: the stale owner %s answered at epoch %d", stale.id, ep)
		}
	}
	if ok {
		c.checkLockBlock(g2)
	}
}

func diskLockPartitionedAlive(c *fcluster) {
	if g2, ok := c.ownerCutOff("partition (lease-only, disk lock)", c.notePhases); ok {
		c.checkLockBlock(g2)
	}
}

// lockShow is the part of `raftha disk lock show --json` checked here.
type lockShow struct {
	Fresh bool   `json:"fresh"`
	Group string `json:"group"`
	Owner string `json:"owner"`
	Epoch uint64 `json:"epoch"`
}

// checkLockBlock: at the end (every agent stopped) the lock block holds
// the group's last owner and epoch, read from the lock partition with
// direct I/O.
func (c *fcluster) checkLockBlock(g groupView) {
	out, err := c.cli(nil, 15*time.Second, "disk", "lock", "show", "--json", c.lockDev)
	if err != nil {
		c.failure("read the lock block: %v", err)
		return
	}
	var l lockShow
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		c.failure("raftha disk lock show --json: %v: %q", err, out)
		return
	}
	c.note("lock block: %s", strings.TrimSpace(out))
	if l.Fresh || l.Group != "db" || l.Owner != g.Owner || l.Epoch != g.Epoch {
		c.violation("the lock block holds %s, but db ended on %s at epoch %d", describeLock(l), g.Owner, g.Epoch)
	}
}

func describeLock(l lockShow) string {
	if l.Fresh {
		return "nothing (fresh)"
	}
	return fmt.Sprintf("group %s owner %s epoch %d", l.Group, l.Owner, l.Epoch)
}
