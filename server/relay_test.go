package server

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
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
			// Twice the test profile: the relayed path adds a TLS
			// handshake through a third process, and a loaded 2-core
			// machine must not turn that into a lapsed 600ms lease.
			c.configure(func(m *testMember) {
				m.cfg.Timing = config.TimingConfig{Heartbeat: config.Duration(200 * time.Millisecond), Lease: config.Duration(1200 * time.Millisecond), FailoverTimeout: config.Duration(2 * time.Second)}
			})
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

// blackhole is a voter address that accepts TCP and never answers, as a
// paused member (SIGSTOP) or a host whose kernel still accepts does: a
// dial to it hangs until its context ends. Closed at cleanup.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestHungRelayDoesNotHoldTheBeat: one voter hangs (paused, or a host
// that accepts and never answers). A short blip fails the owner's direct
// path and the live relays at once; the blip ends within a heartbeat or
// two. The beat must not wait for the hung relay until its deadline (a
// lease): a later attempt reaches the leader again, and the owner keeps
// its lease, as it did before relays existed (a fast failure, then the
// next heartbeat).
func TestHungRelayDoesNotHoldTheBeat(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Timing = config.TimingConfig{Heartbeat: config.Duration(200 * time.Millisecond), Lease: config.Duration(4 * time.Second), FailoverTimeout: config.Duration(8 * time.Second)}
	})
	_, g := c.startMarker("n1", "n2")
	c.transferLeadership("n2")
	c.waitHealthy()
	n1 := c.member("n1")
	ghost := blackhole(t)
	if err := c.member("n2").srv.raft.AddVoter("ghost", raft.ServerAddress(ghost), 0, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 lists the hung voter as a relay", func() bool {
		return slices.Contains(n1.srv.relays(), ghost)
	})
	c.waitHealthy()

	if !n1.srv.LeaseValid("db", g.Status.Epoch) {
		t.Fatal("n1 holds no lease before the blip")
	}
	// The blip lasts until a heartbeat failed in it on the direct path and
	// through both live members (or 2s). The lease
	// is long enough for the election the blip may cause (the hung voter
	// makes every live voter needed for a quorum).
	failed := strings.Count(n1.logs.String(), "lease call failed on one path")
	blip := time.Now()
	n1.srv.mux.SetPeerFilter(func(string) bool { return false })
	waitFor(t, 2*time.Second, "a heartbeat failing in the blip", func() bool {
		return strings.Count(n1.logs.String(), "lease call failed on one path") >= failed+3
	})
	n1.srv.mux.SetPeerFilter(nil)
	took := time.Since(blip).Round(time.Millisecond)
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		if !n1.srv.LeaseValid("db", g.Status.Epoch) {
			t.Fatalf("n1's lease lapsed %s after a %s blip began (lease 4s): the beat waited for the hung relay", time.Since(blip).Round(time.Millisecond), took)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
