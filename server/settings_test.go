package server

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// transferLeadership moves leadership to id and waits until it is the
// ready leader.
func (c *testCluster) transferLeadership(id string) {
	c.t.Helper()
	to := c.member(id)
	waitFor(c.t, 15*time.Second, "leadership on "+id, func() bool {
		if to.srv.IsLeader() {
			return true
		}
		if l := c.leaderNow(); l != nil {
			_ = l.srv.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(to.cfg.Bind)).Error()
		}
		return to.srv.IsLeader()
	})
}

// TestWitnessOnAWSStopCannotShortenALeaseOnlyTakeover: the nodes are
// lease-only but the witness is (mis)configured aws-stop. When the witness
// leads and decides a takeover, the wait must be the lease-only wait of
// the cluster, not 0 from the witness's own fencing.mode; and the witness,
// whose settings differ, is refused with an event and an ERROR log naming
// the key.
func TestWitnessOnAWSStopCannotShortenALeaseOnlyTakeover(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Fencing.StopDeadline = config.Duration(700 * time.Millisecond)
	})
	rec := filepath.Join(t.TempDir(), "rec")
	// A brand-new cluster bootstraps only with every member answering, so
	// all start alike and seed lease-only; then the witness is restarted
	// with fencing.mode left at aws-stop (a config edit gone wrong).
	c.startAll()
	waitFor(t, 15*time.Second, "settings seeded", func() bool {
		l := c.leaderNow()
		return l != nil && l.srv.State().Settings != nil
	})
	c.kill("w1")
	c.member("w1").cfg.Fencing.Mode = config.FencingAWSStop
	c.start("w1")
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "recorder on n1", func() bool { return len(readIntervals(t, rec)) == 1 })
	c.transferLeadership("n2")
	// Cut n1 off and hand leadership to the witness at once: the witness
	// never heard from n1, so it decides the takeover a lease and a
	// heartbeat after it became ready.
	cut := time.Now()
	c.partition("n1")
	c.transferLeadership("w1")
	waitFor(t, 20*time.Second, "recorder on n2", func() bool { return len(readIntervals(t, rec)) == 2 })
	ivs := readIntervals(t, rec)
	checkExclusive(t, ivs)
	cfg := c.member("n2").cfg
	if took, min := ivs[1].First.Sub(cut), cfg.LeaseOnlyWait()-cfg.Timing.Heartbeat.D(); took < min {
		t.Fatalf("n2 started %s after n1 was cut off, before the lease-only wait (%s, less a heartbeat): the takeover did not wait for n1's lease and self-fence", took, min)
	}
	found := false
	for _, e := range c.any().srv.State().Events {
		found = found || (e.Kind == "settings-mismatch" && e.Node == "w1" && strings.Contains(e.Reason, "fencing.mode"))
	}
	if !found {
		t.Fatalf("no settings-mismatch event for w1")
	}
	if logs := c.member("w1").logs.String(); !strings.Contains(logs, "[ERROR]") || !strings.Contains(logs, "key=fencing.mode this_member=aws-stop cluster=lease-only") {
		t.Fatalf("w1 logs no ERROR naming fencing.mode")
	}
	c.heal()
}

// TestClusterSettingsChangeIsExplicitAndRefusesStaleMembers: an operator
// changes the settings (recorded with who did it); members still
// configured with the old ones are refused from then on, and the leader
// never seeds over recorded settings.
func TestClusterSettingsChangeIsExplicitAndRefusesStaleMembers(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.waitHealthy()
	l := c.leader()
	if !strings.Contains(c.member("n1").logs.String(), "[WARN]  raftha: fencing.watchdog none on a lease-only node") {
		t.Errorf("n1 (lease-only, watchdog none) did not warn at start")
	}
	if got := l.srv.State().Settings; got == nil || *got != l.srv.cfg.ClusterSettings() {
		t.Fatalf("seeded settings %v, want %s", got, l.srv.cfg.ClusterSettings())
	}
	lease := api.Duration(700 * time.Millisecond)
	if _, err := l.srv.SetClusterSettings(ctxT(t, 10*time.Second), api.SettingsRequest{Heartbeat: new(api.Duration), Lease: &lease}, "cert:alice"); !errors.Is(err, fsm.ErrInvalid) {
		t.Fatalf("heartbeat 0: %v, want ErrInvalid", err)
	}
	v, err := l.srv.SetClusterSettings(ctxT(t, 10*time.Second), api.SettingsRequest{Lease: &lease}, "cert:alice")
	if err != nil || v.Lease != lease || v.FencingMode != string(config.FencingLeaseOnly) {
		t.Fatalf("set: %+v, %v", v, err)
	}
	var ev fsm.Event
	for _, e := range l.srv.State().Events {
		if e.Kind == "settings-changed" {
			ev = e
		}
	}
	if ev.By != "cert:alice" || !strings.Contains(ev.Reason, "timing.lease 700ms") {
		t.Fatalf("settings-changed event %+v", ev)
	}
	// Every member is still configured with lease 600ms: all refused
	// (the leader itself too: it confirms nothing for itself).
	for _, m := range c.members {
		id := m.cfg.NodeID
		waitFor(t, 5*time.Second, id+" refused", func() bool {
			lm := c.leaderNow()
			if lm == nil || lm.srv.leader() == nil {
				return false
			}
			ls := lm.srv.leader()
			return lm.srv.refusedSettings(ls.Refusals(), id) != "" && (id == lm.cfg.NodeID || !ls.Healthy(id))
		})
	}
	// Leadership may have moved meanwhile: ask whoever leads now.
	waitFor(t, 10*time.Second, "the leader refusing to confirm for itself", func() bool {
		lm := c.leaderNow()
		if lm == nil {
			return false
		}
		err = lm.srv.confirmLocal(ctxT(t, 5*time.Second), "none", lm.cfg.NodeID, 1)
		return errors.Is(err, ErrSettingsMismatch)
	})
}
