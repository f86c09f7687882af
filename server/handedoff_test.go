package server

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// dropReports makes member id drop its reports of state: the first one
// only, or (all) every one until the member restarts. It returns how many
// it dropped.
func dropReports(c *testCluster, id string, state fsm.GroupState, all bool) *atomic.Int32 {
	var dropped atomic.Int32
	drop := func(r *fsm.Report) bool {
		if r.State != state || (!all && dropped.Load() > 0) {
			return false
		}
		dropped.Add(1)
		return true
	}
	c.member(id).srv.reportFilter.Store(&drop)
	return &dropped
}

// countMark counts mark in the NODE@EPOCH lines of dir/name.
func countMark(dir, name, mark string) int {
	n := 0
	for _, s := range marks(dir, name) {
		if s == mark {
			n++
		}
	}
	return n
}

// handOffCase moves db from n1 to n2 while n1's offline reports are
// dropped (the first one only, or every one until n1 is killed and
// restarted), and checks that n1 ran its stop exactly once at the epoch it
// stopped: a report that did not come back must not make n1 stop again,
// since the leader may have applied it and the next owner be starting
// while n1's own log still says stopping (owner/handedoff.go).
func handOffCase(t *testing.T, restart bool) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 2*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	g := c.waitOnline("db", "n1")
	dropped := dropReports(c, "n1", fsm.StateOffline, restart)
	tr := make(chan error, 1)
	go func() {
		_, err := c.leader().srv.Transfer(ctxT(t, 20*time.Second), "db", "n2", "test")
		tr <- err
	}()
	waitFor(t, 10*time.Second, "n1's offline report dropped", func() bool { return dropped.Load() > 0 })
	if restart {
		// Passes come every heartbeat meanwhile: without the record
		// of the clean stop, each would run the stop again.
		time.Sleep(300 * time.Millisecond)
		c.kill("n1")
		c.start("n1") // its log starts from its last snapshot, or empty
	}
	c.waitOnline("db", "n2")
	if !restart { // (the killed member's transfer call may wait out its timeout)
		if err := <-tr; err != nil {
			t.Fatalf("transfer: %v", err)
		}
	}
	// Give a late second pass on n1 time to show itself.
	time.Sleep(500 * time.Millisecond)
	mark := fmt.Sprintf("n1@%d", g.Status.Epoch)
	if n := countMark(dir, "stops", mark); n != 1 {
		t.Fatalf("n1 ran its stop %d times at epoch %d (stops %v, %d reports dropped), want once", n, g.Status.Epoch, marks(dir, "stops"), dropped.Load())
	}
	// Nor at any later epoch (the next owner's): only the first-sight
	// cleanup at the cluster's start (epoch 0) and its own stop.
	for _, s := range marks(dir, "stops") {
		if strings.HasPrefix(s, "n1@") && s != "n1@0" && s != mark {
			t.Fatalf("n1 ran its stop at another epoch than its own (stops %v; n1 stopped at %d)", marks(dir, "stops"), g.Status.Epoch)
		}
	}
	if n := countMark(dir, "starts", mark); n != 1 {
		t.Fatalf("n1 started %d times at epoch %d (starts %v), want once", n, g.Status.Epoch, starts(dir))
	}
	if exists(filepath.Join(dir, "on.n1")) {
		t.Fatal("n1's mark is still there")
	}
}

// TestHandedOffStopIsNotRunAgain: n1's first offline report after a
// planned stop is lost; n1 re-sends it but does not stop again.
func TestHandedOffStopIsNotRunAgain(t *testing.T) { handOffCase(t, false) }

// TestHandedOffStopSurvivesRestart: n1's offline reports are lost until
// its agent crashes; the restarted agent, whose log lags, finds the clean
// stop in its run record and re-sends the report without stopping or
// starting again (or, if n1 was declared lost meanwhile, runs no
// first-sight cleanup either).
func TestHandedOffStopSurvivesRestart(t *testing.T) { handOffCase(t, true) }

// TestGaveUpSurvivesRestartWithALaggingLog (clause 7): n1 gives up on the
// group at its epoch and its failed report is lost until its agent
// crashes. The restarted agent sees its log from the start, without the
// group at first: that must not make it forget the epoch it gave up on,
// or it starts there again once its log catches up, while the failed
// report may yet commit and move the group without a fence.
func TestGaveUpSurvivesRestartWithALaggingLog(t *testing.T) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 2*time.Second)
	dropped := dropReports(c, "n1", fsm.StateFailed, true)
	touch(t, filepath.Join(dir, "fail-start.n1"))
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	waitFor(t, 20*time.Second, "n1's failed report dropped", func() bool { return dropped.Load() > 0 })
	time.Sleep(300 * time.Millisecond)
	c.kill("n1")
	c.start("n1")
	c.waitOnline("db", "n2")
	time.Sleep(500 * time.Millisecond)
	checkNoStartAfterGivingUp(t, dir, " and restarting")
}

// TestHandOffRecordOfADeletedGroupIsRemoved: n1 hands db off while its
// reports are lost and crashes; db is taken over, stopped and deleted
// while n1 is down. The restarted n1 keeps its record of the hand-off
// while its log lags (the group absent from a view that has not applied
// its epoch yet), and removes it once its log has applied the deletion
// (from a snapshot: no view in between shows the group at a later epoch).
func TestHandOffRecordOfADeletedGroupIsRemoved(t *testing.T) {
	t.Setenv(envTrailingLogs, "1") // the leader's snapshot below leaves n1 none of the log to replay
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 2*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n1")
	dropped := dropReports(c, "n1", fsm.StateOffline, true)
	go func() { _, _ = c.leader().srv.Transfer(ctxT(t, 5*time.Second), "db", "n2", "test") }()
	waitFor(t, 10*time.Second, "n1's offline report dropped", func() bool { return dropped.Load() > 0 })
	record := filepath.Join(c.member("n1").cfg.DataDir, "running", "db.json")
	if !exists(record) {
		t.Fatal("no run record of n1's hand-off")
	}
	c.kill("n1")
	c.waitOnline("db", "n2") // a fenced takeover: n1 is lost
	if _, err := c.leader().srv.StopGroup(ctxT(t, 10*time.Second), "db", "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "db offline", func() bool {
		g, ok := c.leader().srv.State().Groups["db"]
		return ok && g.Status.State == fsm.StateOffline
	})
	if _, err := c.leader().srv.operatorCommit(ctxT(t, 5*time.Second), &fsm.DeleteGroup{Header: c.leader().srv.header("test"), Name: "db"}); err != nil {
		t.Fatal(err)
	}
	// n1 gets a snapshot without the group: its view goes from before
	// the hand-off's epoch to the group deleted, with nothing between.
	if err := c.leader().srv.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.start("n1")
	waitFor(t, 10*time.Second, "n1's record of the deleted group removed", func() bool { return !exists(record) })
}
