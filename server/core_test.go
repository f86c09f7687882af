package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// TestThreeMembersCore is the core scenario on three real members (two
// nodes and a witness) over mutual TLS on 127.0.0.1: election, placement
// on exactly one node, a planned transfer that raises the epoch, leader
// loss with the state intact, and a full restart that keeps every
// acknowledged change.
func TestThreeMembersCore(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	t.Logf("leader: %s", l.cfg.NodeID)

	work := t.TempDir()
	names, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n1", "n2")), "test")
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(names) != 1 || names[0] != "db" {
		t.Fatalf("applied %v", names)
	}

	// Placement: first healthy node of the list, exec running on it only.
	g := c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "marker on n1 only", func() bool {
		r := running(t, work)
		return len(r) == 1 && r["n1"] == fmt.Sprintf("n1 %d db", g.Status.Epoch)
	})
	if g.Status.Epoch == 0 {
		t.Fatal("epoch 0 after placement")
	}

	// Planned transfer through a follower (forwarded to the leader).
	var via *testMember
	for _, m := range c.members {
		if !m.srv.IsLeader() {
			via = m
			break
		}
	}
	gs, err := via.srv.Transfer(ctxT(t, 30*time.Second), "db", "n2", "test")
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if gs.Owner != "n2" || gs.State != fsm.StateOnline || gs.Epoch <= g.Status.Epoch {
		t.Fatalf("after transfer: %+v (epoch before %d)", gs, g.Status.Epoch)
	}
	r := running(t, work)
	if len(r) != 1 || r["n2"] != fmt.Sprintf("n2 %d db", gs.Epoch) {
		t.Fatalf("after transfer, running: %v", r)
	}
	// The old owner's stop ran before the new owner's start: the history
	// has stopped (old epoch) before assigned (new epoch) before online.
	var kinds []string
	for _, e := range c.leader().srv.State().Events {
		if e.Group == "db" {
			kinds = append(kinds, fmt.Sprintf("%s@%d", e.Kind, e.Epoch))
		}
	}
	want := fmt.Sprintf("stopping@%d stopped@%d assigned@%d online@%d", g.Status.Epoch, g.Status.Epoch, gs.Epoch, gs.Epoch)
	if !strings.Contains(strings.Join(kinds, " "), want) {
		t.Fatalf("history %v does not contain %q", kinds, want)
	}

	// Refusals: witness, unknown node, same-node no-op.
	for _, tc := range []struct{ to, want string }{
		{"w1", "witness"},
		{"nope", "no member named"},
	} {
		_, err := l.srv.Transfer(ctxT(t, 10*time.Second), "db", tc.to, "test")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrRefused) {
			t.Fatalf("transfer to %s: %v", tc.to, err)
		}
	}

	// Kill the leader: a new one takes over and the state is intact.
	before := c.group("db")
	old := c.leader()
	c.kill(old.cfg.NodeID)
	nl := c.leader()
	if nl == old {
		t.Fatal("killed leader still leads")
	}
	after := nl.srv.State().Groups["db"]
	if after.Status.Owner != before.Status.Owner || after.Status.Epoch != before.Status.Epoch {
		t.Fatalf("state changed across leader loss: before %+v after %+v", before.Status, after.Status)
	}
	c.start(old.cfg.NodeID)

	// Stop and restart all three: every acknowledged change is kept.
	c.waitOnline("db", "")
	snapshot := c.leader().srv.State()
	c.killAll()
	c.startAll()
	c.leader()
	waitFor(t, 15*time.Second, "state replayed after restart", func() bool {
		st := c.leaderNow()
		if st == nil {
			return false
		}
		s := st.srv.State()
		g, ok := s.Groups["db"]
		return ok && g.Status.Epoch >= snapshot.Groups["db"].Status.Epoch && len(s.Members) == 3
	})
	st := c.leader().srv.State()
	for _, e := range snapshot.Events {
		found := false
		for _, f := range st.Events {
			if f.Seq == e.Seq && f.Kind == e.Kind && f.Index == e.Index {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("event %d (%s) lost across restart", e.Seq, e.Kind)
		}
	}
	if st.Groups["db"].Spec.Nodes[0] != "n1" || len(st.Groups["db"].Spec.Resources) != 1 {
		t.Fatalf("group spec lost: %+v", st.Groups["db"].Spec)
	}
	g = c.waitOnline("db", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := running(t, work)
		if len(r) == 1 && r[g.Status.Owner] == fmt.Sprintf("%s %d db", g.Status.Owner, g.Status.Epoch) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: group %+v, running %v", c.group("db").Status, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOwnerRemovedFromNodesMovesAway: re-applying a group without its
// current owner in nodes moves it, planned (no fence), to a listed node.
func TestOwnerRemovedFromNodesMovesAway(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.leader()
	c.waitHealthy()
	dir := t.TempDir()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	g1 := c.waitOnline("db", "n1")
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	g2 := c.waitOnline("db", "n2")
	if g2.Status.Epoch <= g1.Status.Epoch {
		t.Fatalf("epoch %d -> %d", g1.Status.Epoch, g2.Status.Epoch)
	}
	var causes []string
	for _, e := range c.leader().srv.State().Events {
		if e.Group == "db" && (e.Kind == "stopping" || e.Kind == "takeover") {
			causes = append(causes, string(e.Kind)+"/"+string(e.Cause))
		}
	}
	if strings.Join(causes, " ") != "stopping/nodes-changed" {
		t.Fatalf("moves: %v", causes)
	}
	waitFor(t, 5*time.Second, "marker on n2 only", func() bool {
		r := running(t, dir)
		return len(r) == 1 && r["n2"] != ""
	})
}
