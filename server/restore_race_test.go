package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// restoreAfterCheck is RestoreSnapshot after restoreAllowed: the check
// already passed (before a concurrent resume).
func restoreAfterCheck(t *testing.T, s *Server, file []byte) uint64 {
	h, payload, err := api.DecodeSnapshot(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	st, err := fsm.ReadSnapshot(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.installRestore(h, st, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return res.Index
}

// TestRestoreRaceWithResume (from an adversarial review): the restore's
// check that every group is stopped is not atomic with raft.Restore. A
// group resumed in between runs on n1 (cut off, so it installs the
// restored state late); the restored group must not be started anywhere
// else while n1 may still run it. Restored groups come back suspended, so
// nothing starts them until an operator does.
func TestRestoreRaceWithResume(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Access = config.AccessConfig{Operators: []string{"alice", "bob"}} })
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n2", "n1")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n2")
	alice := c.apiClient(c.leader(), "alice", "")
	var file bytes.Buffer
	if _, err := alice.SnapshotSave(ctxT(t, 30*time.Second), &file); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Stop(ctxT(t, 60*time.Second), "db"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "db stopped", func() bool { return len(running(t, dir)) == 0 })
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	if c.leader().cfg.NodeID == "n1" {
		if err := c.leader().srv.raft.LeadershipTransfer().Error(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "leader not n1", func() bool { l := c.leaderNow(); return l != nil && l.cfg.NodeID != "n1" })
	}
	ldr := c.leader()
	// 1. the restore's check passes
	if err := restoreAllowed(ldr.srv.fsm.View()); err != nil {
		t.Fatal(err)
	}
	// 2. a concurrent resume: placed on n1 and started
	alice = c.apiClient(ldr, "bob", "")
	if err := alice.Resume(ctxT(t, 10*time.Second), "db"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "db on n1", func() bool { return markerEpoch(t, dir, "n1") != 0 })
	// 3. n1 lags (slow link) and 4. raft.Restore runs
	c.partition("n1")
	idx := restoreAfterCheck(t, ldr.srv, file.Bytes())
	t.Logf("restored at %d", idx)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r := running(t, dir)
		if len(r) > 1 {
			t.Fatalf("two nodes run db at once: %v", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("no overlap seen; final %v; db %+v", running(t, dir), c.group("db").Status)
}
