package server

import (
	"errors"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// inRaft reports whether id is in the leader's Raft configuration.
func (c *testCluster) inRaft(id string) bool {
	c.t.Helper()
	f := c.leader().srv.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		c.t.Fatal(err)
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return true
		}
	}
	return false
}

// TestRemoveMemberLogFirst: removing the owner of a stop-failed group is
// refused by the log, and the refusal leaves the member in the Raft
// configuration: the FSM removal (which re-checks atomically) comes
// before raft.RemoveServer, never after.
func TestRemoveMemberLogFirst(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir := t.TempDir()
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "n1")
	// Suspended: the leader leaves the stop-failed group where it is.
	if err := l.srv.SetSuspended(ctxT(t, 10*time.Second), "db", true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.srv.commit(ctxT(t, 10*time.Second), &fsm.Report{Header: l.srv.header("n1"), Group: "db", Node: "n1", Epoch: g.Status.Epoch, State: fsm.StateFailed, Reason: "stop of app failed", StopFailed: true}); err != nil {
		t.Fatal(err)
	}
	err := c.member("n2").srv.RemoveMember(ctxT(t, 20*time.Second), "n1", "test")
	if err == nil {
		t.Fatal("removing the owner of a stop-failed group succeeded")
	}
	if !errors.Is(err, fsm.ErrBusy) {
		t.Fatalf("refusal is not busy: %v", err)
	}
	if !c.inRaft("n1") {
		t.Fatalf("n1 was removed from the raft configuration although the log refused to remove it (%v)", err)
	}
	if _, ok := c.leader().srv.State().Members["n1"]; !ok {
		t.Fatal("n1 is gone from the log")
	}
	// n2 owns nothing: it goes from the log and from raft.
	if err := c.leader().srv.RemoveMember(ctxT(t, 20*time.Second), "n2", "test"); err != nil {
		t.Fatalf("remove n2: %v", err)
	}
	// n2 may have been the leader: then a new one is elected first.
	waitFor(t, 30*time.Second, "n2 out of raft and the log", func() bool {
		_, known := c.leader().srv.State().Members["n2"]
		return !known && !c.inRaft("n2")
	})
}
