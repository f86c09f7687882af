package integration

// Resource-level nemeses (issue #10), each in both fencing modes, on a
// cluster with the ctl resource (netns_resfaults_test.go) and checked by
// the same checkers as every scenario, plus checkSideLog:
//
//	go test ./integration -count=1 -v -run '^TestFaultResStopFail$/lease-only'
//	RAFTHA_FAULT_FENCING=aws-stop    # one mode only

import (
	"testing"
	"time"
)

var bothFencings = []string{"aws-stop", "lease-only"}

// TestFaultResStartFail (clause 7): a planned move to the other node,
// whose ctl start starts its sidecar and then fails. The failed start must
// be stopped (the sidecar with it) before the group runs anywhere else.
func TestFaultResStartFail(t *testing.T) {
	runFaultScenarioModes(t, "res-start-fail", "ctl start fails after its side effect (on a transfer) → db back on a node, effect undone", twoNodes, bothFencings, []func(*fcluster){withResFaults}, func(c *fcluster) {
		owner, _ := c.setup(false)
		other := c.otherNode(owner)
		c.setFault(other, faultStartFail)
		c.sleepRand(100*time.Millisecond, 800*time.Millisecond)
		err := <-c.transferAsync(other)
		c.note("transfer to %s: %v", other.id, err)
		c.setFault(other, "")
		if g2, ok := c.settleRes(); ok {
			c.note("db settled on %s at epoch %d", g2.Owner, g2.Epoch)
		}
		time.Sleep(time.Second) // a side effect left running shows on the disk meanwhile
		c.finish("")
	})
}

// TestFaultResStartHang (clauses 3 and 8): the other node's ctl start
// hangs (sidecar running) on a planned move, and the node is cut off from
// its peers meanwhile. Its lease runs out during the hung call: it must
// fence itself (stop what it started) although the call does not return,
// before the majority takes the group back.
func TestFaultResStartHang(t *testing.T) {
	runFaultScenarioModes(t, "res-start-hang", "ctl start hangs past the lease, node cut off meanwhile → db on the majority side", twoNodes, bothFencings, []func(*fcluster){withResFaults}, func(c *fcluster) {
		owner, _ := c.setup(false)
		other := c.otherNode(owner)
		c.setFault(other, faultStartHang)
		tr := c.transferAsync(other)
		if !c.waitHang(other, 20*time.Second) {
			return
		}
		c.setFault(other, "")
		c.sleepRand(0, 300*time.Millisecond)
		t0 := monoNow()
		c.partition(other, "DROP")
		c.note("fault: partitioned %s (its ctl start hangs) from its peers", other.id)
		g2, ok := c.waitOnline(30*time.Second, "db online on "+owner.id, func(x groupView) bool { return x.Owner == owner.id })
		c.note("transfer to %s: %v", other.id, <-tr)
		c.sleepRand(500*time.Millisecond, 1500*time.Millisecond)
		c.heal(other)
		c.finish("")
		if ok {
			c.note("db online on %s at epoch %d after the hang", g2.Owner, g2.Epoch)
		}
		if ep := c.epochOf(other, t0); ep != 0 {
			c.checkSelfFenced(other, ep, t0)
		}
	})
}

// TestFaultResStopFail (clause 7): on a planned move away from the owner,
// a process holds a file open on its real ext4 mount (umount is busy) and
// ctl's stop fails, leaving the sidecar writing. The group is stop-failed:
// only a takeover that really fences the owner may move it.
func TestFaultResStopFail(t *testing.T) {
	runFaultScenarioModes(t, "res-stop-fail", "mount held open + ctl stop fails on a transfer → only a fenced takeover moves db", twoNodes, bothFencings, []func(*fcluster){withResFaults}, func(c *fcluster) {
		owner, _ := c.setup(false)
		other := c.otherNode(owner)
		c.holdMount(owner)
		c.setFault(owner, faultStopFail)
		c.sleepRand(100*time.Millisecond, 800*time.Millisecond)
		err := <-c.transferAsync(other)
		c.note("transfer to %s: %v", other.id, err)
		if g2, ok := c.settleRes(); ok {
			c.note("db settled on %s at epoch %d", g2.Owner, g2.Epoch)
			if off, _ := owner.offSince(); g2.Owner != owner.id && off == 0 {
				c.violation("db moved from %s, whose stop failed, to %s without %s being powered off", owner.id, g2.Owner, owner.id)
			}
		}
		c.finish("")
	})
}

// TestFaultResStopHang (clauses 3 and 8): the owner is cut off from its
// peers; its lease runs out and self-fencing stops the group, but ctl's
// stop hangs. Past fencing.stop_deadline it must take the hard action
// (poweroff through sysrq here) before the majority takes over.
func TestFaultResStopHang(t *testing.T) {
	runFaultScenarioModes(t, "res-stop-hang", "owner cut off, its ctl stop hangs while self-fencing → hard action, db on the other node", twoNodes, bothFencings, []func(*fcluster){withResFaults}, func(c *fcluster) {
		owner, g := c.setup(false)
		other := c.otherNode(owner)
		c.setFault(owner, faultStopHang)
		c.sleepRand(100*time.Millisecond, 800*time.Millisecond)
		t0 := monoNow()
		c.partition(owner, "DROP")
		c.note("fault: partitioned %s (its ctl stop will hang) from its peers", owner.id)
		if g2, ok := c.waitOnline(30*time.Second, "db online on "+other.id, func(x groupView) bool { return x.Owner == other.id && x.Epoch > g.Epoch }); ok {
			c.measure(t0, g2, "owner cut off with a hanging stop → app on "+other.id)
		}
		c.sleepRand(0, time.Second)
		c.heal(owner)
		c.finish(other.id)
		c.checkSelfFenced(owner, g.Epoch, t0)
	})
}

// TestFaultResAgentKilledInStart: SIGKILL of the other node's agent (only
// the agent: its start script and daemons live on) while ctl's start
// sleeps during a planned move, then the agent restarts on the same host;
// once db settles it is moved to the other node (a planned stop there).
func TestFaultResAgentKilledInStart(t *testing.T) {
	runFaultScenarioModes(t, "res-agent-killed-in-start", "agent SIGKILLed while a start script sleeps, restarted → db online, one writer", twoNodes, bothFencings, []func(*fcluster){withResFaults}, func(c *fcluster) {
		owner, _ := c.setup(false)
		other := c.otherNode(owner)
		c.setFault(other, faultStartHang)
		tr := c.transferAsync(other)
		if !c.waitHang(other, 20*time.Second) {
			return
		}
		c.setFault(other, "")
		c.sleepRand(0, 500*time.Millisecond)
		pid := c.killAgent(other)
		c.note("fault: SIGKILL %s's agent (pid %d) in the middle of ctl's start; survivors %v", other.id, pid, c.tb.nsPids(other.id))
		c.sleepRand(200*time.Millisecond, 1500*time.Millisecond)
		c.restartAgent(other)
		c.note("transfer to %s: %v", other.id, <-tr)
		if g2, ok := c.settleRes(); ok {
			c.note("db settled on %s at epoch %d", g2.Owner, g2.Epoch)
			c.moveAway(g2)
		}
		c.finish("")
	})
}

// TestFaultResAgentCrashSnapshot (clauses 1 and 10): every agent
// snapshots its log within a second and keeps two entries after it; the
// owner's agent is SIGKILLed (its resources' processes live on) and
// restarted from the snapshot on the same host. It must restore the owner
// and epoch from the snapshot and keep the group, or move it safely; then
// db is moved to the other node (a planned stop on the restarted agent).
func TestFaultResAgentCrashSnapshot(t *testing.T) {
	runFaultScenarioModes(t, "res-agent-crash-snapshot", "owner's agent SIGKILLed after a snapshot, restarted from it → db online, one writer", twoNodes, bothFencings, []func(*fcluster){withResFaults, withSnapshots}, func(c *fcluster) {
		owner, g := c.setup(false)
		if !c.waitLog(owner, 15*time.Second, "snapshot complete up to") {
			c.failure("%s took no snapshot within 15s", owner.id)
			return
		}
		c.sleepRand(100*time.Millisecond, 800*time.Millisecond)
		pid := c.killAgent(owner)
		c.note("fault: SIGKILL %s's agent (pid %d) after a snapshot; survivors %v", owner.id, pid, c.tb.nsPids(owner.id))
		c.sleepRand(200*time.Millisecond, 1500*time.Millisecond)
		// The leader may declare the killed owner lost and fence it before
		// (or just after) the restart: a powered-off host runs no agent
		// that could restore, so the restore is required only of a host
		// that stayed on.
		if c.restartAgent(owner) && !c.waitLog(owner, 15*time.Second, "restored from snapshot") {
			if off, why := owner.offSince(); off != 0 {
				c.note("%s was powered off (%s) before its agent restored: no restore to check", owner.id, why)
			} else {
				c.failure("%s's agent did not restore from a snapshot at restart", owner.id)
			}
		}
		if g2, ok := c.settleRes(); ok {
			c.note("db settled on %s at epoch %d (was %s@%d)", g2.Owner, g2.Epoch, owner.id, g.Epoch)
			c.moveAway(g2)
		}
		c.finish("")
	})
}

// epochOf is the newest epoch at which m wrote the application log
// before mono time before (0 if none), from the disk log finish read.
func (c *fcluster) epochOf(m *member, before int64) uint64 {
	var ep uint64
	for _, l := range c.finalLines {
		if l.node == m.id && l.mono < before && l.epoch > ep {
			ep = l.epoch
		}
	}
	return ep
}

// settleRes waits up to 30s for db to settle; when it does not, finish
// waits only 5s more (the run has already failed).
func (c *fcluster) settleRes() (groupView, bool) {
	c.t.Helper()
	g, ok := c.settled(30 * time.Second)
	if !ok {
		c.finishSettle = 5 * time.Second
	}
	return g, ok
}

// moveAway transfers db from where it settled to the other node: the
// restarted agent must stop everything that runs for the group there,
// including what its predecessor started.
func (c *fcluster) moveAway(g groupView) {
	c.t.Helper()
	to := c.otherNode(c.member(g.Owner))
	c.sleepRand(200*time.Millisecond, 800*time.Millisecond)
	err := <-c.transferAsync(to)
	c.note("transfer back to %s: %v", to.id, err)
	if g2, ok := c.settleRes(); ok {
		c.note("db settled on %s at epoch %d", g2.Owner, g2.Epoch)
	}
}
