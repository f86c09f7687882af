package server

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
)

// TestStaleViewReplaysTheLogAfterASnapshot: a member restarted alone
// restores its latest snapshot and can apply nothing more without a
// leader. Its stale status still shows the change its log holds after
// that snapshot (the group suspended), with the members' roles, the
// age of the view and how many entries are unconfirmed; LocalStatus
// gives the same view.
func TestStaleViewReplaysTheLogAfterASnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member cluster")
	}
	t.Setenv(envSnapshotThreshold, "2")
	t.Setenv(envSnapshotInterval, "50ms")
	t.Setenv(envTrailingLogs, "1")
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	dir := t.TempDir()
	l := c.leader()
	waitFor(t, 15*time.Second, "groups applied", func() bool {
		_, err := l.srv.ApplyGroups(ctxT(t, 5*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test")
		return err == nil
	})
	c.waitOnline("db", "")
	// A snapshot on n1 that holds db, taken now rather than waited for.
	online := c.leader().srv.State().Index
	waitFor(t, 10*time.Second, "n1 caught up", func() bool { return c.member("n1").srv.State().Index >= online })
	if err := c.member("n1").srv.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		t.Fatal(err)
	}
	// Stop the snapshots, so that the suspension stays in the log only.
	t.Setenv(envSnapshotThreshold, "100000")
	c.kill("n1")
	c.start("n1")
	c.waitHealthy()
	if err := c.leader().srv.SetSuspended(ctxT(t, 5*time.Second), "db", true, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 applied the suspension", func() bool {
		return c.member("n1").srv.State().Groups["db"].Status.Suspended
	})
	// The precondition of what follows: n1's newest snapshot predates the
	// suspension (a leader's InstallSnapshot could carry it).
	suspendedAt := c.member("n1").srv.State().Index
	if f, err := strconv.ParseUint(c.member("n1").srv.raft.Stats()["last_snapshot_index"], 10, 64); err == nil && f >= suspendedAt {
		t.Skipf("n1's newest snapshot (index %d) already holds the suspension (index %d): nothing to replay", f, suspendedAt)
	}
	for _, id := range []string{"n1", "n2", "w1"} {
		c.kill(id)
	}
	c.start("n1")
	// Checked again on what n1 restored: replication went on until the
	// kill (the leader's barrier after the suspension), and a leader whose
	// log was compacted (trailing logs 1) sends a snapshot instead.
	if f, err := strconv.ParseUint(c.member("n1").srv.raft.Stats()["last_snapshot_index"], 10, 64); err == nil && f >= suspendedAt {
		t.Skipf("n1 restored a snapshot (index %d) that already holds the suspension (index %d): nothing to replay", f, suspendedAt)
	}
	time.Sleep(300 * time.Millisecond) // several election timeouts: no leader
	n1 := c.member("n1").srv
	applied := n1.State()
	if applied.Index == 0 || applied.Groups["db"] == nil {
		t.Fatalf("n1 restored no snapshot with group db (applied index %d)", applied.Index)
	}
	if applied.Groups["db"].Status.Suspended {
		// raft applies nothing without a leader, so the snapshot n1
		// restored holds the suspension: one that reached n1 as the
		// members were being killed (twice in about 20 runs).
		t.Skipf("n1 restored a state that already holds the suspension (applied index %d, suspended at %d): nothing to replay", applied.Index, suspendedAt)
	}
	for name, get := range map[string]func() (*api.Status, error){
		"Status":      func() (*api.Status, error) { return n1.Status(ctxT(t, 5*time.Second)) },
		"LocalStatus": func() (*api.Status, error) { return n1.LocalStatus(ctxT(t, 5*time.Second)) },
	} {
		st, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !st.Stale || st.Leader != "" || st.StaleSince == nil || st.StaleAgeMS <= 0 || st.StaleBasis == "" || st.Unconfirmed == 0 {
			t.Errorf("%s: stale %v leader %q since %v age %dms basis %q unconfirmed %d", name, st.Stale, st.Leader, st.StaleSince, st.StaleAgeMS, st.StaleBasis, st.Unconfirmed)
		}
		t.Logf("%s: applied index %d, view index %d, %d unconfirmed; %s", name, applied.Index, st.Index, st.Unconfirmed, st.StaleBasis)
		if len(st.Groups) != 1 || st.Groups[0].Name != "db" || !st.Groups[0].Suspended || st.Groups[0].Owner == "" {
			t.Errorf("%s: groups %+v; want db, owned, suspended (from the log after the snapshot)", name, st.Groups)
		}
		roles := map[string]string{}
		for _, m := range st.Members {
			roles[m.ID] = m.Role
		}
		if roles["n1"] != "node" || roles["n2"] != "node" || roles["w1"] != "witness" {
			t.Errorf("%s: member roles %v", name, roles)
		}
	}
	d, err := n1.GroupDetail(ctxT(t, 5*time.Second), "db")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Stale || !d.Status.Suspended || len(d.Spec.Resources) != 1 || d.Spec.Resources[0].Type != "exec" || len(d.Changes) == 0 {
		t.Errorf("GroupDetail without a leader: %+v", d)
	}
}
