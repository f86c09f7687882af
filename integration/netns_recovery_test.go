package integration

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// recoverFloorRE reads the epoch floor `raftha recover` prints.
var recoverFloorRE = regexp.MustCompile(`every epoch from now on is above (\d+)`)

// TestFaultLostQuorumRecovery: three nodes, two of them destroyed for good
// (powered off, links down), the owner of db among them. The survivor has
// no quorum and must not act. Its agent is stopped, `raftha recover
// --lost A --lost B` rewrites its membership to itself, and started again
// it leads alone, fences the lost owner (EC2 StopInstances) and takes db
// over at an epoch above the floor recover printed. The invariant checks
// of finish apply (no two writers, nothing acknowledged lost).
func TestFaultLostQuorumRecovery(t *testing.T) {
	runFaultScenario(t, "lost-quorum-recovery", "2 of 3 nodes destroyed (owner among them) → raftha recover on the survivor → app on it", threeNodes, func(c *fcluster) {
		owner, g := c.setup(c.rng.Intn(2) == 0)
		var survivor *member
		var lost []*member
		for _, i := range c.rng.Perm(3) {
			m := c.nodes()[i]
			if m != owner && survivor == nil {
				survivor = m
				continue
			}
			lost = append(lost, m)
		}
		c.sleepRand(200*time.Millisecond, 1500*time.Millisecond)
		for _, m := range lost {
			c.setLink(m, false)
			c.powerOff(m, "destroyed for good")
		}
		c.note("fault: destroyed %s and %s (owner %s); %s survives", lost[0].id, lost[1].id, owner.id, survivor.id)

		// Without quorum the survivor does not lead, and db does not move.
		time.Sleep(3 * c.timing.failover)
		if st, err := c.status(); err == nil && st.Leader == survivor.id {
			c.violation("%s leads alone without quorum", survivor.id)
		}
		c.terminate(survivor)
		if !c.waitExit(survivor, 20*time.Second) {
			c.crash(survivor)
		}
		out, err := c.cli(nil, 60*time.Second, "recover", "--config", survivor.cfgFile, "--lost", lost[0].id, "--lost", lost[1].id)
		if err != nil {
			c.failure("recover: %v", err)
			c.t.FailNow()
		}
		c.note("raftha recover on %s:\n%s", survivor.id, out)
		var floor uint64
		if m := recoverFloorRE.FindStringSubmatch(out); m != nil {
			floor, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if floor <= g.Epoch {
			c.failure("recover printed no epoch floor above %d", g.Epoch)
		}
		t0 := monoNow()
		c.start(survivor)
		if g2, ok := c.waitOnline(60*time.Second, "db online on "+survivor.id, func(x groupView) bool { return x.Owner == survivor.id }); ok {
			if g2.Epoch <= floor {
				c.violation("db online on %s at epoch %d, not above the recovery floor %d", survivor.id, g2.Epoch, floor)
			}
			c.measure(t0, g2, "recover + start → app on "+survivor.id)
		}
		c.finish(survivor.id)
	})
}
