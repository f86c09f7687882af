package server

import (
	"errors"
	"testing"
	"time"
)

// TestRecoverSurvivorOwnedGroupActsAboveLostEpochs (from an adversarial
// review): a survivor that owned a group before it was cut off, while the
// lost majority took the group over at a higher epoch, must not run it
// after the recovery at its old epoch. Before RegrantForRecovery it did:
// "n3 acts for db at epoch 19 after recovery; n1 already acted at 24".
func TestRecoverSurvivorOwnedGroupActsAboveLostEpochs(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n3", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := c.waitOnline("db", "n3").Status.Epoch
	c.kill("n3")
	g := c.waitOnline("db", "n1")
	e2 := g.Status.Epoch
	waitFor(t, 30*time.Second, "db running on n1", func() bool { return markerEpoch(t, dir, "n1") == e2 })
	t.Logf("e1=%d (n3), e2=%d (n1, after takeover)", e1, e2)
	c.kill("n1")
	c.kill("n2")
	for n := range running(t, dir) {
		if err := removeMarker(dir, n); err != nil {
			t.Fatal(err)
		}
	}
	survivor := c.member("n3")
	// The same call but for a floor near 2^64 (the index would wrap) is
	// refused and changes nothing: the recovery below still works.
	if _, err := RecoverCluster(survivor.cfg, RecoverOptions{EpochFloor: ^uint64(0) - 10}); !errors.Is(err, ErrRecoverRefused) {
		t.Errorf("RecoverCluster with an epoch floor near 2^64: %v, want ErrRecoverRefused (the index would wrap)", err)
	}
	res, err := RecoverCluster(survivor.cfg, RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery: %+v", res)
	c.start("n3")
	c.leader()
	g3 := c.waitOnline("db", "n3")
	waitFor(t, 20*time.Second, "db running on n3", func() bool { return markerEpoch(t, dir, "n3") != 0 })
	got := markerEpoch(t, dir, "n3")
	t.Logf("after recovery db online on n3 at epoch %d, marker epoch %d", g3.Status.Epoch, got)
	if got <= e2 {
		t.Errorf("n3 acts for db at epoch %d after recovery; n1 already acted at %d (recovery index %d)", got, e2, res.Index)
	}

}
