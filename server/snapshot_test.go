package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// markerEpoch is the epoch in node's marker file (markerGroup), 0 when
// it does not run.
func markerEpoch(t *testing.T, dir, node string) uint64 {
	t.Helper()
	f := strings.Fields(running(t, dir)[node])
	if len(f) < 2 {
		return 0
	}
	e, _ := strconv.ParseUint(f[1], 10, 64)
	return e
}

// restoredEvent is the restored event of group in st, or fails t.
func restoredEvent(t *testing.T, st *fsm.State, group string) fsm.Event {
	t.Helper()
	for _, e := range st.Events {
		if e.Kind == fsm.KindRestored && e.Group == group {
			return e
		}
	}
	t.Fatalf("no %s event for %s in %+v", fsm.KindRestored, group, st.Events)
	return fsm.Event{}
}

// TestSnapshotRestoreKeepsEpochsMonotonic: a snapshot saved through a
// follower (redirected to the leader) is refused while a group runs, and
// refused when truncated or altered (ErrSnapshotInvalid, on the client
// and on the leader). Restored into the same cluster after the group
// moved on to a higher epoch, the old snapshot brings the group back
// offline at its old epoch, and it is placed again at an epoch above
// every epoch the cluster granted: nothing ever runs at the restored,
// lower epoch.
func TestSnapshotRestoreKeepsEpochsMonotonic(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}} })
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := c.waitOnline("db", "n1").Status.Epoch
	via := c.followerNode()
	if via == nil {
		via = c.leader()
	}
	alice := c.apiClient(via, "alice", "")
	var file bytes.Buffer
	h, err := alice.SnapshotSave(ctxT(t, 30*time.Second), &file)
	if err != nil {
		t.Fatal(err)
	}
	if h.Index < e1 || h.Groups != 1 || h.Format != api.SnapshotFormat || h.Member != c.leader().cfg.NodeID {
		t.Fatalf("header %+v; want index >= %d, 1 group, taken by the leader", h, e1)
	}
	saved := file.Bytes()

	// Refused while db runs: nothing may run while the state is replaced.
	_, err = alice.SnapshotRestore(ctxT(t, 30*time.Second), saved, 0)
	wantAPIError(t, "restore while db is online", err, api.ErrRefused, api.CodeBusy, 409)

	// Truncated, and one payload byte changed: refused, on the client and
	// on the leader.
	trunc := saved[:len(saved)-7]
	flipped := append([]byte(nil), saved...)
	flipped[len(flipped)-3] ^= 0x20
	for name, bad := range map[string][]byte{"truncated": trunc, "altered": flipped, "empty": nil} {
		if _, err := alice.SnapshotRestore(ctxT(t, 30*time.Second), bad, 0); !errors.Is(err, api.ErrSnapshotInvalid) {
			t.Fatalf("%s file: client error %v; want ErrSnapshotInvalid", name, err)
		}
		_, err := c.leader().srv.RestoreSnapshot(ctxT(t, 30*time.Second), bad, 0, "test")
		if !errors.Is(err, api.ErrSnapshotInvalid) || !errors.Is(err, fsm.ErrInvalid) {
			t.Fatalf("%s file: leader error %v; want ErrSnapshotInvalid and fsm.ErrInvalid", name, err)
		}
		t.Logf("%s file refused: %v", name, err)
	}

	// The group moves on to a higher epoch, then is stopped.
	if _, err := alice.Transfer(ctxT(t, 60*time.Second), "db", api.TransferRequest{To: "n2"}); err != nil {
		t.Fatal(err)
	}
	e2 := c.waitOnline("db", "n2").Status.Epoch
	if e2 <= e1 {
		t.Fatalf("transfer epoch %d <= %d", e2, e1)
	}
	if _, err := alice.Stop(ctxT(t, 60*time.Second), "db"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "db stopped everywhere", func() bool { return len(running(t, dir)) == 0 })

	res, err := alice.SnapshotRestore(ctxT(t, 90*time.Second), saved, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore: %+v", res)
	// A restore brings every group back stopped (suspended, offline):
	// nothing starts until an operator starts it.
	if g := c.group("db"); g.Status.State != fsm.StateOffline || !g.Status.Suspended {
		t.Fatalf("db right after restore: %+v; want offline and suspended", g.Status)
	}
	if err := alice.Resume(ctxT(t, 30*time.Second), "db"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "")
	if g.Status.Epoch <= e2 || g.Status.Epoch <= res.Index || g.Status.Suspended {
		t.Fatalf("db after restore: %+v; want placed again at an epoch above %d (the cluster had granted %d)", g.Status, res.Index, e2)
	}
	waitFor(t, 20*time.Second, "db running at its new epoch", func() bool { return markerEpoch(t, dir, g.Status.Owner) == g.Status.Epoch })
	for n := range running(t, dir) {
		if e := markerEpoch(t, dir, n); e < e2 {
			t.Fatalf("%s runs db at epoch %d, below %d that the cluster had granted", n, e, e2)
		}
	}
	if res.Index <= e2+api.RestoreEpochGap || len(res.Replaced) != 1 || res.Replaced[0] != "db" {
		t.Fatalf("restore result %+v; want index above %d+gap and db replaced", res, e2)
	}
	ev := restoredEvent(t, c.leader().srv.State(), "db")
	if ev.Epoch != e1 || ev.From != "n1" {
		t.Fatalf("restored event %+v; want db as saved: epoch %d on n1", ev, e1)
	}
}

// TestSnapshotRestoreIntoFreshCluster: a snapshot saved from one cluster
// and restored into a fresh one (new data, new addresses, same member
// ids) comes up with the same groups, their saved epochs in the history,
// and places them again at epochs above the snapshot's index plus the
// gap; a later ownership change gets a higher epoch still.
func TestSnapshotRestoreIntoFreshCluster(t *testing.T) {
	dir := t.TempDir()
	a := newTestCluster(t, "n1", "n2", "w1")
	a.startAll()
	a.leader()
	a.waitHealthy()
	if _, err := a.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	saved := a.waitOnline("db", "n1")
	file, h, err := a.leader().srv.SaveSnapshot(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	a.killAll() // the old cluster is gone (its marker stays, as after a crash)
	for n := range running(t, dir) {
		_ = removeMarker(dir, n)
	}

	b := newTestCluster(t, "n1", "n2", "w1")
	b.configure(func(m *testMember) { m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}} })
	b.startAll()
	b.leader()
	b.waitHealthy()
	alice := b.apiClient(b.leader(), "alice", "")
	res, err := alice.SnapshotRestore(ctxT(t, 90*time.Second), file, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := b.leader().srv.State()
	if len(st.Groups) != 1 || st.Groups["db"] == nil || len(st.Groups["db"].Spec.Resources) != 1 {
		t.Fatalf("groups after restore: %+v", st.Groups)
	}
	if ev := restoredEvent(t, st, "db"); ev.Epoch != saved.Status.Epoch || ev.From != "n1" {
		t.Fatalf("restored event %+v; want the saved epoch %d on n1", ev, saved.Status.Epoch)
	}
	if !st.Groups["db"].Status.Suspended {
		t.Fatalf("db after restore: %+v; want suspended until an operator starts it", st.Groups["db"].Status)
	}
	if err := alice.Resume(ctxT(t, 30*time.Second), "db"); err != nil {
		t.Fatal(err)
	}
	g := b.waitOnline("db", "n1")
	if g.Status.Epoch <= h.Index+api.RestoreEpochGap || g.Status.Epoch <= res.Index {
		t.Fatalf("db placed at epoch %d; want above %d (snapshot index %d + gap)", g.Status.Epoch, res.Index, h.Index)
	}
	waitFor(t, 20*time.Second, "db running on n1 at its new epoch", func() bool { return markerEpoch(t, dir, "n1") == g.Status.Epoch })
	if _, err := alice.Transfer(ctxT(t, 60*time.Second), "db", api.TransferRequest{To: "n2"}); err != nil {
		t.Fatal(err)
	}
	if g2 := b.waitOnline("db", "n2"); g2.Status.Epoch <= g.Status.Epoch {
		t.Fatalf("transfer after restore: epoch %d <= %d", g2.Status.Epoch, g.Status.Epoch)
	}
	// Every member restarts on what the restore left in its store (a
	// log with a hole below the restored snapshot would be refused).
	for _, id := range []string{"n1", "n2", "w1"} {
		b.kill(id)
		b.start(id)
		b.leader()
	}
	b.waitHealthy()
}

// removeMarker deletes node's marker file (markerGroup).
func removeMarker(dir, node string) error {
	return os.Remove(filepath.Join(dir, "running."+node))
}
