package server

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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

// Found by review: paceRaft used to reload raft's timeouts only for the
// notification it was about to forward, with a blocking send. While
// leader.Monitor was busy (stop() waits for the leader loop to end) and
// s.notify full, a later "lost leadership" sat unread in raft's NotifyCh,
// so the member, a follower again, kept the leader's paced timeout and
// would notice the new leader's death later. The pace must follow raft's
// state whether or not Monitor keeps up.
func TestPaceFollowsLeadershipWhileMonitorIsBusy(t *testing.T) {
	hb, election := 200*time.Millisecond, 200*time.Millisecond
	s, cancel := paceServer(t, hb, election)
	defer cancel()
	r := s.raft

	in := make(chan bool, 16)
	out := make(chan bool, 16)
	for range cap(out) {
		out <- false // Monitor busy: notifications it has not read yet
	}
	done := make(chan struct{})
	go func() { defer close(done); s.paceRaft(in, out, hb, election) }()
	defer func() { cancel(); <-done }()

	in <- true // gained leadership: paced
	paced, _ := pacedTimeouts(hb, election, true)
	end := time.Now().Add(2 * time.Second)
	for r.ReloadableConfig().HeartbeatTimeout != paced {
		if time.Now().After(end) {
			t.Fatal("the leader's pace never set")
		}
		time.Sleep(time.Millisecond)
	}
	in <- false // lost it again: the follower's timeout back
	end = time.Now().Add(2 * time.Second)
	for r.ReloadableConfig().HeartbeatTimeout != hb {
		if time.Now().After(end) {
			t.Fatalf("a member that lost leadership still runs raft with heartbeat timeout %v (the leader's pace), want %v: the reload waits for Monitor",
				r.ReloadableConfig().HeartbeatTimeout, hb)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// paceRaft returns when in is closed (a closed channel would otherwise
// read false forever).
func TestPaceReturnsWhenInIsClosed(t *testing.T) {
	conf := raft.DefaultConfig()
	s, cancel := paceServer(t, conf.HeartbeatTimeout, conf.ElectionTimeout)
	defer cancel()
	in, out := make(chan bool), make(chan bool, 16)
	done := make(chan struct{})
	go func() { defer close(done); s.paceRaft(in, out, conf.HeartbeatTimeout, conf.ElectionTimeout) }()
	close(in)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("paceRaft did not return after in was closed; it forwarded %d spurious notifications", len(out))
	}
}

// raft v1.7.3's heartbeat goroutine (replication.go)
// backs off after failed heartbeats for up to HeartbeatTimeout/2 of the
// leader's config, and VerifyLeader cannot wake it during that sleep. The
// pace keeps that cap below a follower's shortest election timer, so a
// follower coming back after an outage (agent restart) hears from the
// leader before the timer runs out.
func TestPacedHeartbeatBackoffCapBelowFollowerTimeout(t *testing.T) {
	for _, tm := range []struct {
		name string
		hb   time.Duration
	}{{"default", 300 * time.Millisecond}, {"test", 100 * time.Millisecond}} {
		follower := 2 * tm.hb // config.RaftTimings
		paced, _ := pacedTimeouts(follower, follower, true)
		if paced/2 >= follower {
			t.Errorf("%s: the leader's heartbeat retry backoff caps at %v, not below a follower's shortest election timer %v", tm.name, paced/2, follower)
		}
	}
}

// paceServer is a Server holding only a single-member in-memory raft with
// the timeouts given (not bootstrapped: it never leads), for paceRaft.
func paceServer(t *testing.T, hb, election time.Duration) (*Server, context.CancelFunc) {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = "a"
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = hb, election, min(hb, conf.LeaderLeaseTimeout)
	conf.Logger = hclog.NewNullLogger()
	store := raft.NewInmemStore()
	_, trans := raft.NewInmemTransport("a")
	r, err := raft.NewRaft(conf, &raft.MockFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown().Error() })
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{raft: r, ctx: ctx, logger: hclog.NewNullLogger()}, cancel
}
