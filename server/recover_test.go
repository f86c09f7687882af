package server

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestRecoverClusterAfterLosingQuorum: three nodes; n3 is down while
// n1 and n2 move the group on to epochs n3 never learns, then n1 and n2
// are destroyed for good. The survivor refuses recovery while its agent
// runs; stopped, it is recovered to a configuration of itself alone,
// starts, leads and serves, and the group (n1's as far as n3 knows) is
// taken over the usual way (node-lost, fenced first) at an epoch above
// the recovery index and above the epoch the lost n2 ran it at: epochs
// never go backwards across a recovery.
func TestRecoverClusterAfterLosingQuorum(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2", "n3")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := c.waitOnline("db", "n1").Status.Epoch
	survivor := c.member("n3")
	if _, err := RecoverCluster(survivor.cfg, RecoverOptions{}); !errors.Is(err, ErrRecoverRefused) {
		t.Fatalf("recovery while the agent runs: %v; want ErrRecoverRefused", err)
	}

	// n3 stops (its agent crashes) and misses what n1 and n2 commit
	// next: the group moves back and forth, to epochs n3 never hears of
	// (e2 on n2).
	c.kill("n3")
	waitFor(t, 15*time.Second, "a leader of n1 and n2 that hears both", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		ls := l.srv.leader()
		return ls != nil && ls.Healthy("n1") && ls.Healthy("n2")
	})
	for _, to := range []string{"n2", "n1", "n2"} {
		if _, err := c.leader().srv.Transfer(ctxT(t, 60*time.Second), "db", to, "test"); err != nil {
			t.Fatal(err)
		}
	}
	e2 := c.waitOnline("db", "n2").Status.Epoch
	waitFor(t, 20*time.Second, "db running on n2", func() bool { return markerEpoch(t, dir, "n2") == e2 })
	// n1 and n2 are destroyed (their resources with them). Started
	// again, n3 alone has no quorum and does not lead; it is stopped
	// again for the recovery.
	c.kill("n1")
	c.kill("n2")
	for n := range running(t, dir) {
		if err := removeMarker(dir, n); err != nil {
			t.Fatal(err)
		}
	}
	c.start("n3")
	time.Sleep(2 * time.Second)
	if survivor.srv.IsLeader() {
		t.Fatal("n3 leads alone before recovery")
	}
	c.kill("n3")

	res, err := RecoverCluster(survivor.cfg, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery: %+v", res)
	if !slices.Equal(res.Removed, []string{"n1", "n2"}) || len(res.After) != 1 || res.LostOwned["db"] != "n1" || res.Index < res.LastIndex+api.RestoreEpochGap || res.LastIndex < e1 {
		t.Fatalf("recovery result %+v", res)
	}

	c.start("n3")
	if l := c.leader(); l.cfg.NodeID != "n3" {
		t.Fatalf("leader %s after recovery; want n3", l.cfg.NodeID)
	}
	if _, err := survivor.srv.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("status after recovery: %v", err)
	}
	g := c.waitOnline("db", "n3")
	if g.Status.Epoch <= e2 || g.Status.Epoch <= res.Index {
		t.Fatalf("db taken over at epoch %d; want above %d, the epoch n2 ran it at, and the recovery index %d", g.Status.Epoch, e2, res.Index)
	}
	waitFor(t, 20*time.Second, "db running on n3 at its new epoch", func() bool { return markerEpoch(t, dir, "n3") == g.Status.Epoch })
	var takeover, fenced bool
	for _, e := range survivor.srv.State().Events {
		switch {
		case e.Kind == fsm.KindTakeover && e.Group == "db" && e.From == "n1" && e.To == "n3" && e.Cause == fsm.CauseNodeLost:
			takeover = true
		case e.Kind == fsm.KindFenced && e.Group == "db" && e.From == "n1" && takeover:
			fenced = true
		}
	}
	if !takeover || !fenced {
		t.Fatalf("no node-lost takeover of db from n1 fenced before the start (takeover %v, fenced %v): %+v", takeover, fenced, survivor.srv.State().Events)
	}
	// The lost members leave the log once their groups moved.
	for _, id := range []string{"n1", "n2"} {
		if err := survivor.srv.RemoveMember(ctxT(t, 20*time.Second), id, "test"); err != nil {
			t.Fatalf("remove %s after recovery: %v", id, err)
		}
	}
}
