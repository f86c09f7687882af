package server

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/internal/testsupport"
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

// raft v1.7.3 sends a leader's idle heartbeats every HeartbeatTimeout/10
// to /5 of its (paced) config, restarting that timer on every heartbeat a
// leadership round sends. The pace keeps the longest idle gap within 0.8
// × a follower's shortest election timer, so a leader whose rounds stop
// is still heard in time, and the shortest at a heartbeat interval or
// more, so that rounds on time leave raft little to add.
func TestPacedIdleHeartbeatsWithinFollowerTimeout(t *testing.T) {
	for _, tm := range []struct {
		name string
		hb   time.Duration
	}{{"default", 300 * time.Millisecond}, {"fast", 100 * time.Millisecond}} {
		follower := 2 * tm.hb // config.RaftTimings
		paced, _ := pacedTimeouts(follower, follower, true)
		if longest := paced / 5; longest > follower*8/10 {
			t.Errorf("%s: the leader's idle heartbeats may wait %v, more than 0.8 × a follower's shortest election timer %v", tm.name, longest, follower)
		}
		if shortest := paced / 10; shortest < tm.hb*8/10 {
			t.Errorf("%s: the leader's idle heartbeats come every %v or more, far under the rounds' interval %v: the pace saves little", tm.name, shortest, tm.hb)
		}
	}
}

// A leader whose heartbeats to a follower failed for a while retries them
// up to the paced HeartbeatTimeout/2 apart, longer than a follower's
// shortest election timer. A follower that comes back may time out first;
// pre-vote is what keeps it from deposing the leader, so it must stay on.
func TestPreVoteStaysOn(t *testing.T) {
	rc := raftConfig(testTiming())
	if rc.PreVoteDisabled {
		t.Fatal("raft's pre-vote is off: a follower that times out while the paced leader backs off would start real elections")
	}
	// raft also runs without pre-vote when the transport cannot carry it
	// (api.go: trans.(WithPreVote)); setupRaft gives it this one.
	var trans raft.Transport = &raft.NetworkTransport{}
	if _, ok := trans.(raft.WithPreVote); !ok {
		t.Fatal("raft.NetworkTransport does not implement raft.WithPreVote: raft would run without pre-vote")
	}
}

// A leadership transfer runs with the follower's timeouts (raft gives up
// on a failed one after ElectionTimeout and refuses commands meanwhile);
// the pace comes back afterwards while the member still leads, and not
// when it lost leadership during the transfer.
func TestTransferRunsUnpaced(t *testing.T) {
	hb, election := 200*time.Millisecond, 200*time.Millisecond
	s, cancel := paceServer(t, hb, election)
	s.pace = pacer{transfer: make(chan paceTransfer), done: make(chan struct{})}
	r := s.raft
	in, out := make(chan bool, 16), make(chan bool, 16)
	go func() { defer close(s.pace.done); s.paceRaft(in, out, hb, election) }()
	defer func() { cancel(); <-s.pace.done }()
	paced, _ := pacedTimeouts(hb, election, true)
	waitHB := func(want time.Duration, what string) {
		t.Helper()
		testsupport.Eventually(t, what, func() bool { return r.ReloadableConfig().HeartbeatTimeout == want })
	}

	in <- true
	waitHB(paced, "the leader's pace")
	var during raft.ReloadableConfig
	if err := s.transferLeadership(func() raft.Future { during = r.ReloadableConfig(); return doneFuture{} }); err != nil {
		t.Fatal(err)
	}
	if during.HeartbeatTimeout != hb || during.ElectionTimeout != election {
		t.Fatalf("transfer ran with heartbeat timeout %v, election timeout %v; want the follower's %v, %v", during.HeartbeatTimeout, during.ElectionTimeout, hb, election)
	}
	if got := r.ReloadableConfig().HeartbeatTimeout; got != paced {
		t.Fatalf("after a failed transfer the leader runs with heartbeat timeout %v, want its pace %v back", got, paced)
	}

	// Leadership lost while the transfer ran: the follower's values stay.
	_ = s.transferLeadership(func() raft.Future {
		in <- false
		waitHB(hb, "the follower's timeout while the transfer runs")
		return doneFuture{}
	})
	if got := r.ReloadableConfig().HeartbeatTimeout; got != hb {
		t.Fatalf("a member that lost leadership during a transfer runs with heartbeat timeout %v, want the follower's %v", got, hb)
	}
}

// doneFuture is a raft.Future that has completed without error.
type doneFuture struct{}

func (doneFuture) Error() error { return nil }

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
