package server

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
)

// The leader paces raft's own heartbeats LeaderPaceFactor times slower
// than raft's default ratio (its heartbeat timeout scaled) while every
// follower keeps the timing-derived timeout it notices a dead leader by;
// a member that loses leadership takes the follower's timeout back.
func TestLeaderPacesRaftHeartbeatsFollowersKeepTheirTimeout(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	hbTimeout, election, _ := config.RaftTimings(testTiming())
	paced := time.Duration(float64(hbTimeout) * LeaderPaceFactor)
	pacedElection := time.Duration(float64(election) * LeaderPaceFactor)

	check := func(when string) (leader *testMember) {
		t.Helper()
		l := c.leader()
		waitFor(t, 10*time.Second, when+": the leader paced, the followers not", func() bool {
			for _, m := range c.members {
				rc := m.srv.raft.ReloadableConfig()
				want, wantE := hbTimeout, election
				if m == l {
					want, wantE = paced, pacedElection
				}
				if rc.HeartbeatTimeout != want || rc.ElectionTimeout != wantE {
					return false
				}
			}
			return true
		})
		for _, m := range c.members {
			rc := m.srv.raft.ReloadableConfig()
			t.Logf("%s: %s leader=%v heartbeat timeout %v election timeout %v", when, m.cfg.NodeID, m == l, rc.HeartbeatTimeout, rc.ElectionTimeout)
		}
		return l
	}
	l := check("after the first election")

	// Hand leadership to another member: the old leader is a follower
	// again and must notice a dead leader as fast as the others.
	var target *testMember
	for _, m := range c.members {
		if m != l {
			target = m
			break
		}
	}
	if err := l.srv.raft.LeadershipTransferToServer(raft.ServerID(target.cfg.NodeID), raft.ServerAddress(target.cfg.Bind)).Error(); err != nil {
		t.Fatalf("leadership transfer to %s: %v", target.cfg.NodeID, err)
	}
	waitFor(t, 10*time.Second, "the new leader", func() bool { return target.srv.IsLeader() })
	check("after a leadership transfer")
}
