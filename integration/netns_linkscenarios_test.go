package integration

// The node-link partition (issue #17; the CLUSTERPRO forced-stop
// article's hardest case): only the link between the two nodes breaks,
// while both still reach the witness and AWS. keepalived split-brains
// here; Pacemaker and CLUSTERPRO fence the healthy active node. raftha
// relays the cut-off member's heartbeats through the witness (see
// server/internal/cluster/relay.go), so nothing moves:
//
//	go test ./integration -count=1 -v -run '^TestFaultNodeLinkPartition$'
//	RAFTHA_FAULT_LINK_HOLD=60s   # hold the cut longer (default 30s)

import (
	"os"
	"strings"
	"testing"
	"time"
)

// linkHold is how long the node link stays cut.
func linkHold() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("RAFTHA_FAULT_LINK_HOLD")); err == nil && d > 0 {
		return d
	}
	return 30 * time.Second
}

// TestFaultNodeLinkPartition: iptables in n1's namespace drops (or
// rejects) everything to and from n2 for linkHold, whichever node leads:
// the other node (owner follower) or the owner itself (owner leader). The
// witness-leader case is in-process (TestRelayedHeartbeatKeepsTheLease):
// the witness hands leadership to a node within failover_timeout, so it
// cannot be held here. For the whole cut and after it: 0 ownership
// changes (same owner, same epoch), 0 StopInstances, 0 self-fences, and
// the application keeps answering on the owner.
func TestFaultNodeLinkPartition(t *testing.T) {
	fiRequireRoot(t)
	for _, variant := range []string{"owner-follower", "owner-leader"} {
		name := "node-link-partition/" + variant
		scenarioInfo[name] = "only the n1–n2 link cut for " + linkHold().String() + " (" + variant + ") → nothing moves, nothing fenced"
		t.Run(variant, func(t *testing.T) {
			for i := 1; i <= faultRuns(); i++ {
				runFaultRun(t, name, i, faultRuns(), twoNodes, nil, func(c *fcluster) {
					c.nodeLinkPartition(variant == "owner-leader")
				})
			}
		})
	}
}

func (c *fcluster) nodeLinkPartition(ownerLeads bool) {
	owner, g := c.setup(ownerLeads)
	other := c.otherNode(owner)
	target := []string{"DROP", "REJECT"}[c.rng.Intn(2)]
	c.sleepRand(200*time.Millisecond, 1500*time.Millisecond)
	t0 := monoNow()
	if err := c.tb.partition(owner.id, []string{other.ip}, target); err != nil {
		c.t.Fatalf("cut %s–%s: %v", owner.id, other.id, err)
	}
	owner.cut.Store(true)
	c.note("fault: cut the link %s–%s (%s) for %s; both still reach w1", owner.id, other.id, target, linkHold())
	// Watch the cut and 5s after it: the group must not move at all, and
	// nothing may be fenced. (An availability failure, not a safety
	// violation: the checkers of finish look for the latter.)
	during := c.holdAndWatch(linkHold(), g)
	c.heal(owner)
	c.note("link healed after %.1fs", float64(monoNow()-t0)/1e9)
	after := c.holdAndWatch(5*time.Second, g) // its fence counts cover the whole run
	if during.moves+after.moves > 0 || after.selfFences > 0 || after.stops > 0 {
		c.failure("%s moved or was fenced although it was reachable through the witness: during the cut %s; after it %s", owner.id, during, after)
	}
	if d, ok := c.prober.recovery(t0, monoNow(), owner.id, g.Epoch); ok && d > 0 {
		c.addNote("the application paused %.3fs during the cut", d.Seconds())
	}
	for _, m := range []*member{owner, other} {
		if data, _ := os.ReadFile(m.logFile); strings.Contains(string(data), "the leader answered through a relay") {
			c.note("%s's lease calls went through a relay", m.id)
		}
	}
	c.finish(owner.id)
}
