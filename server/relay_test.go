package server

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// TestRelayedHeartbeatKeepsTheLease: only the link between the two nodes
// breaks; both still reach the witness. Whether the other node leads or
// the witness does (which hands leadership to n2 during the cut), the
// heartbeats that lost their direct path travel
// through the third member, so for four failover timeouts the group stays
// on n1 at the same epoch, n1's lease stays valid, no takeover is decided
// and nothing is fenced. Without the relay (SetRelay not called) the
// leader-n2 case fails within a lease: n1's lease lapses.
func TestRelayedHeartbeatKeepsTheLease(t *testing.T) {
	// The owner-leader case needs a cut the far end cannot see (n1 must
	// refuse n2's direct streams but serve the ones relayed by w1, which
	// the identity-based fault filter cannot tell apart): the namespace
	// scenario TestFaultNodeLinkPartition covers it with iptables.
	for _, leader := range []string{"n2", "w1"} {
		t.Run("leader "+leader, func(t *testing.T) {
			c := newTestCluster(t, "n1", "n2", "w1")
			dir, g := c.startMarker("n1", "n2")
			c.transferLeadership(leader)
			c.waitHealthy()
			n1 := c.member("n1")
			before := len(c.events("db"))

			// n1 refuses n2 both ways: the Raft and RPC streams between
			// them fail; the streams through w1 do not.
			n1.srv.mux.SetPeerFilter(func(peer string) bool { return peer != "n2" })
			hold := 4 * c.members[0].cfg.Timing.FailoverTimeout.D()
			end := time.Now().Add(hold)
			for time.Now().Before(end) {
				l := c.leaderNow()
				if l == nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				cur := l.srv.State().Groups["db"].Status
				if cur.Owner != "n1" || cur.Epoch != g.Status.Epoch || cur.State != fsm.StateOnline {
					t.Fatalf("the group moved while its owner was reachable through the witness: %+v\nevents: %s", cur, kinds(c.events("db")[before:]))
				}
				if !n1.srv.LeaseValid("db", g.Status.Epoch) {
					t.Fatalf("n1's lease lapsed although its heartbeats had a path through w1")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if evs := c.events("db")[before:]; len(evs) > 0 {
				t.Fatalf("events during the node-link partition: %s", kinds(evs))
			}
			if got := running(t, dir); len(got) != 1 || got["n1"] == "" {
				t.Fatalf("running %v, want only n1", got)
			}
			if !strings.Contains(n1.logs.String(), "the leader answered through a relay") {
				t.Fatal("n1 never logged a relayed answer: the test did not exercise the relay")
			}
			c.heal()
			n1.srv.mux.SetPeerFilter(nil)
			time.Sleep(c.members[0].cfg.Timing.FailoverTimeout.D())
			if cur := c.group("db").Status; cur.Owner != "n1" || cur.Epoch != g.Status.Epoch {
				t.Fatalf("after the link came back: %+v", cur)
			}
		})
	}
}

// TestIsolatedOwnerStillFailsOver: the relay does not hide a real
// isolation. Cut from both other members, the owner loses its lease and
// the group moves (lease-only here: after the lease-only wait).
func TestIsolatedOwnerStillFailsOver(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir, g := c.startMarker("n1", "n2")
	c.transferLeadership("n2")
	c.partition("n1")
	waitFor(t, 20*time.Second, "db on n2", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		cur := l.srv.State().Groups["db"].Status
		return cur.Owner == "n2" && cur.Epoch > g.Status.Epoch && cur.State == fsm.StateOnline
	})
	if r := running(t, dir); r["n1"] != "" {
		t.Fatalf("n1 still runs the group after the takeover: %v", r)
	}
}

// startMarker starts every member, applies markerGroup on nodes (in
// order of preference) and waits until it is online on the first; it
// returns the marker directory and the group.
func (c *testCluster) startMarker(nodes ...string) (string, fsm.Group) {
	c.t.Helper()
	dir := c.t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(c.t, 10*time.Second), []byte(markerGroup(dir, nodes...)), "test"); err != nil {
		c.t.Fatal(err)
	}
	return dir, c.waitOnline("db", nodes[0])
}
