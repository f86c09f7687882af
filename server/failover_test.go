package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// events returns the group's event kinds with epochs, in log order.
func (c *testCluster) events(group string) []fsm.Event {
	var out []fsm.Event
	for _, e := range c.leader().srv.State().Events {
		if e.Group == group {
			out = append(out, e)
		}
	}
	return out
}

func kinds(evs []fsm.Event) string {
	var k []string
	for _, e := range evs {
		k = append(k, string(e.Kind))
	}
	return strings.Join(k, " ")
}

// hypervisor wraps the EC2 fencer: when moto reports an instance stopped,
// the member on that instance dies with everything it started, as a
// stopped VM would. It records when each fence completed.
type hypervisor struct {
	c      *testCluster
	inner  *awsres.Fencer
	mu     sync.Mutex
	fenced map[string]time.Time
}

func (h *hypervisor) Fence(ctx context.Context, node fsm.Member) error {
	_, err := h.FenceVerified(ctx, node)
	return err
}

// FenceVerified fences through the real EC2 fencer, which verifies the
// instance's raftha:node tag or private IP first.
func (h *hypervisor) FenceVerified(ctx context.Context, node fsm.Member) (string, error) {
	proof, err := h.inner.Fence(ctx, awsres.TargetOf(node))
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.fenced[node.ID] = time.Now()
	h.mu.Unlock()
	for _, m := range h.c.members {
		if m.cfg.AWS.InstanceID == node.InstanceID && m.srv != nil {
			go m.srv.Kill() // the VM is off: the agent and its processes die
		}
	}
	return proof, nil
}

// awsCluster is a 3-member cluster with aws-stop fencing against moto.
func awsCluster(t testing.TB, ids ...string) (*testCluster, *motoserver.Server, *hypervisor) {
	moto := motoserver.Start(t)
	motoserver.Env(t)
	inst := moto.RunNodeInstances(t, ids...)
	c := newTestCluster(t, ids...)
	hv := &hypervisor{c: c, inner: awsres.NewFencer(moto.Config(t)), fenced: map[string]time.Time{}}
	hv.inner.MinDelay, hv.inner.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	i := 0
	c.configure(func(m *testMember) {
		m.cfg.Fencing.Mode = config.FencingAWSStop
		m.cfg.AWS = config.AWSConfig{Region: motoserver.Region, Endpoint: moto.Endpoint, InstanceID: inst[i]}
		m.opts.Fencer = hv
		i++
	})
	return c, moto, hv
}

// TestFailoverAWSStopFencesBeforeStart kills the owner; the winner must
// force-stop its instance (moto) before the group's first resource starts.
func TestFailoverAWSStopFencesBeforeStart(t *testing.T) {
	c, moto, _ := awsCluster(t, "n1", "n2", "w1")
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	g1 := c.waitOnline("db", "n1")
	oldInst := c.member("n1").cfg.AWS.InstanceID
	waitFor(t, 5*time.Second, "recorder running on n1", func() bool { return len(readIntervals(t, rec)) == 1 })

	killedAt := time.Now()
	c.kill("n1")
	g2 := c.waitOnline("db", "n2")
	t.Logf("owner kill → online on n2: %s", time.Since(killedAt).Round(time.Millisecond))
	if g2.Status.Epoch <= g1.Status.Epoch {
		t.Fatalf("epoch did not rise: %d -> %d", g1.Status.Epoch, g2.Status.Epoch)
	}
	if st := moto.State(t, oldInst); st != "stopped" {
		t.Fatalf("old owner's instance is %s, want stopped", st)
	}
	evs := c.events("db")
	k := kinds(evs)
	if !strings.Contains(k, "takeover fenced online") {
		t.Fatalf("history %q lacks takeover → fenced → online", k)
	}
	for _, e := range evs {
		if e.Kind == "fenced" && e.Cause != "aws-stop" {
			t.Fatalf("fenced by %q", e.Cause)
		}
		if e.Kind == "fenced" && !strings.Contains(e.Reason, oldInst+" verified by tag raftha:node=n1") {
			t.Fatalf("fenced event %q does not say how %s was verified", e.Reason, oldInst)
		}
	}
	waitFor(t, 5*time.Second, "recorder running on n2", func() bool {
		ivs := readIntervals(t, rec)
		return len(ivs) == 2 && ivs[1].Node == "n2"
	})
	ivs := readIntervals(t, rec)
	checkExclusive(t, ivs)
	t.Logf("intervals: %s", describeIntervals(ivs))
}

// fenceGate is a fencer whose EC2 endpoint can be switched from broken to
// working, to show that a failed fence keeps the group offline and a later
// successful one brings it online.
type fenceGate struct {
	mu     sync.Mutex
	broken *awsres.Fencer
	good   *awsres.Fencer
	useOK  bool
	calls  int
}

func (f *fenceGate) Fence(ctx context.Context, node fsm.Member) error {
	_, err := f.FenceVerified(ctx, node)
	return err
}

func (f *fenceGate) FenceVerified(ctx context.Context, node fsm.Member) (string, error) {
	f.mu.Lock()
	fn := f.broken
	if f.useOK {
		fn = f.good
	}
	f.calls++
	f.mu.Unlock()
	return fn.Fence(ctx, awsres.TargetOf(node))
}

func TestFenceFailureKeepsGroupOfflineUntilAFenceSucceeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		// badInstance makes the instance id unknown to EC2; otherwise the
		// endpoint is unreachable.
		badInstance bool
	}{{"unknown instance id", true}, {"unreachable endpoint", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, moto, _ := awsCluster(t, "n1", "n2", "w1")
			gate := &fenceGate{good: awsres.NewFencer(moto.Config(t))}
			deadCfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), MaxAttempts: 2, MaxBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			gate.broken = awsres.NewFencer(deadCfg)
			gate.broken.CallTimeout = time.Second
			if tc.badInstance {
				gate.broken = gate.good
			}
			realInst := c.member("n1").cfg.AWS.InstanceID
			c.configure(func(m *testMember) {
				m.opts.Fencer = gate
				if tc.badInstance && m.cfg.NodeID == "n1" {
					m.cfg.AWS.InstanceID = "i-0000000000000dead"
				}
			})
			rec := filepath.Join(t.TempDir(), "rec")
			c.startAll()
			c.leader()
			c.waitHealthy()
			if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
				t.Fatal(err)
			}
			c.waitOnline("db", "n1")
			// Online is reported once the recorder started; under load its
			// first line may come later. Kill n1 only once it has written,
			// so that the run ends with exactly two intervals.
			waitFor(t, 10*time.Second, "recorder on n1", func() bool {
				ivs := readIntervals(t, rec)
				return len(ivs) == 1 && ivs[0].Node == "n1"
			})
			c.kill("n1")
			// The group must sit in fencing with the reason, and nothing runs.
			var g fsm.Group
			// The events first, then the group: the note that records the
			// failed fence also sets the group's reason, so a group read
			// before the event may still carry the decision's reason.
			waitFor(t, 20*time.Second, "a fence-failed event", func() bool {
				if !strings.Contains(kinds(c.events("db")), "fence-failed") {
					return false
				}
				g = c.group("db")
				return strings.Contains(g.Status.Reason, "fenc")
			})
			if g.Status.State != fsm.StateFencing || g.Status.Owner != "n2" || !strings.Contains(g.Status.Reason, "fenc") {
				t.Fatalf("after a failed fence: %+v", g.Status)
			}
			time.Sleep(1500 * time.Millisecond) // retries keep failing; still nothing starts
			if g := c.group("db"); g.Status.State != fsm.StateFencing {
				t.Fatalf("group left fencing without a fence: %+v", g.Status)
			}
			for _, iv := range readIntervals(t, rec) {
				if iv.Node == "n2" {
					t.Fatal("n2 started the group without a fence")
				}
			}
			if tc.badInstance {
				if st := moto.State(t, realInst); st != "running" {
					t.Fatalf("real instance %s", st)
				}
				// The operator corrects n1's instance id. The winner must
				// now fence both ids n1 had since the decision: it stops
				// the real one, but the unknown one can never be verified,
				// so the group stays fencing (an unknown id may hide a
				// running instance somewhere else).
				l := c.leader()
				if err := l.srv.AddMember(ctxT(t, 10*time.Second), api.MemberRequest{ID: "n1", Address: c.member("n1").cfg.Bind, Role: "node", InstanceID: realInst}, ""); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 20*time.Second, "the corrected instance stopped", func() bool { return moto.State(t, realInst) == "stopped" })
				time.Sleep(time.Second)
				if g := c.group("db"); g.Status.State != fsm.StateFencing || strings.Join(g.Status.InstancesToFence(), ",") != "i-0000000000000dead,"+realInst {
					t.Fatalf("after the correction: %+v", g.Status)
				}
				return
			} else {
				gate.mu.Lock()
				gate.useOK = true
				gate.mu.Unlock()
			}
			c.waitOnline("db", "n2")
			if st := moto.State(t, realInst); st != "stopped" {
				t.Fatalf("after the successful fence the instance is %s", st)
			}
			waitFor(t, 5*time.Second, "recorder on n2", func() bool {
				ivs := readIntervals(t, rec)
				return len(ivs) == 2 || (len(ivs) > 0 && ivs[len(ivs)-1].Node == "n2" && t.Failed())
			})
			checkExclusive(t, readIntervals(t, rec))
		})
	}
}

// TestPartitionedOwnerSelfFences cuts the owner off from its peers (it can
// still reach the EC2 endpoint): its lease runs out and it stops its
// resources by itself; the majority side takes over after the fence.
func TestPartitionedOwnerSelfFences(t *testing.T) {
	c, moto, hv := awsCluster(t, "n1", "n2", "w1")
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "recorder on n1", func() bool { return len(readIntervals(t, rec)) == 1 })
	// Keep the hypervisor from killing n1, so it must stop by itself.
	hv.mu.Lock()
	hv.c = &testCluster{}
	hv.mu.Unlock()
	cut := time.Now()
	c.partition("n1")
	waitFor(t, 20*time.Second, "group online on the majority side", func() bool {
		for _, id := range []string{"n2", "w1"} {
			m := c.member(id)
			if m.srv != nil && m.srv.IsLeader() {
				g := m.srv.State().Groups["db"]
				return g.Status.Owner == "n2" && g.Status.State == fsm.StateOnline
			}
		}
		return false
	})
	t.Logf("partition → online on n2: %s", time.Since(cut).Round(time.Millisecond))
	if st := moto.State(t, c.member("n1").cfg.AWS.InstanceID); st != "stopped" {
		t.Fatalf("n1's instance is %s", st)
	}
	waitFor(t, 5*time.Second, "recorder on n2", func() bool { return len(readIntervals(t, rec)) == 2 })
	ivs := readIntervals(t, rec)
	checkExclusive(t, ivs)
	// n1 stopped by itself well before the fence completed.
	hv.mu.Lock()
	fencedAt := hv.fenced["n1"]
	hv.mu.Unlock()
	if ivs[0].Node != "n1" || !ivs[0].Last.Before(fencedAt) {
		t.Fatalf("n1 was still acting at the fence (%s): %s", fencedAt.Format("15:04:05.000"), describeIntervals(ivs))
	}
	if !strings.Contains(c.member("n1").logs.String(), "lease expired: self-fencing") {
		t.Fatal("n1 did not log its self-fence")
	}
	c.heal()
}

// TestTwoNodesWithoutWitnessNeverFailOver: cut off from each other, two
// nodes have no majority; nothing moves, and the owner stops by itself.
func TestTwoNodesWithoutWitnessNeverFailOver(t *testing.T) {
	c := newTestCluster(t, "n1", "n2")
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "n1")
	c.partition("n1")
	wait := 4 * c.members[0].cfg.Timing.FailoverTimeout.D()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		for _, m := range c.members {
			gg := m.srv.State().Groups["db"]
			if gg.Status.Owner != "n1" || gg.Status.Epoch != g.Status.Epoch {
				t.Fatalf("%s's log moved the group without a majority: %+v", m.cfg.NodeID, gg.Status)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ivs := readIntervals(t, rec)
	for _, iv := range ivs {
		if iv.Node != "n1" {
			t.Fatalf("%s acted without a majority", iv.Node)
		}
	}
	if len(ivs) != 1 || time.Since(ivs[0].Last) < wait/2 {
		t.Fatalf("n1 kept acting without quorum: %s", describeIntervals(ivs))
	}
}

// TestLeaseOnlyFailoverWaitsForTheLease: with no EC2 API, the winner waits
// for the lost owner's lease and self-fence window before starting.
func TestLeaseOnlyFailoverWaitsForTheLease(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Fencing.StopDeadline = config.Duration(700 * time.Millisecond) })
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "recorder on n1", func() bool { return len(readIntervals(t, rec)) == 1 })
	cut := time.Now()
	c.partition("n1")
	waitFor(t, 20*time.Second, "recorder on n2", func() bool { return len(readIntervals(t, rec)) == 2 })
	ivs := readIntervals(t, rec)
	checkExclusive(t, ivs)
	// The wait runs from when the leader last heard from n1, which was at
	// most one heartbeat before the cut.
	cfg := c.members[0].cfg
	if took, min := ivs[1].First.Sub(cut), cfg.LeaseOnlyWait()-cfg.Timing.Heartbeat.D(); took < min {
		t.Fatalf("lease-only takeover %s after the cut, before lease+stop_deadline (%s)", took, min)
	}
	evs := c.events("db")
	found := false
	for _, e := range evs {
		found = found || (e.Kind == "fenced" && e.Cause == "lease-only")
	}
	if !found {
		t.Fatalf("no lease-only fenced event: %s", kinds(evs))
	}
	c.heal()
}

// TestSelfFenceHardActionWhenStopHangs: a stop that hangs past
// stop_deadline triggers the configured action (reboot via sysrq; the
// trigger is a plain file here since CI kernels have no sysrq).
func TestSelfFenceHardActionWhenStopHangs(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir := t.TempDir()
	trigger := filepath.Join(dir, "sysrq-trigger")
	if err := os.WriteFile(trigger, nil, 0o600); err != nil { // raftha never creates it
		t.Fatal(err)
	}
	c.configure(func(m *testMember) {
		m.cfg.Fencing.SelfFenceAction = config.SelfFenceReboot
		m.cfg.Fencing.SysrqTrigger = trigger
		m.cfg.Fencing.StopDeadline = config.Duration(500 * time.Millisecond)
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	group := fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: stuck
        type: exec
        start: "true"
        stop: 'if [ "$RAFTHA_NODE" = n1 ] && [ -e %s/armed ]; then sleep 20; fi'
        timeout: 30s
`, dir)
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(group), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	if err := os.WriteFile(filepath.Join(dir, "armed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.partition("n1")
	waitFor(t, 10*time.Second, "sysrq trigger written", func() bool {
		b, _ := os.ReadFile(trigger)
		return string(b) == "b"
	})
	c.heal()
}

// TestWatchdogFedOnlyWithLease: the watchdog file grows while the lease is
// valid and stops growing once the member is cut off.
func TestWatchdogFedOnlyWithLease(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	wd := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(wd, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.configure(func(m *testMember) {
		if m.cfg.NodeID == "n1" {
			m.cfg.Fencing.Watchdog = config.WatchdogDevice(wd)
		}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	size := func() int64 {
		fi, err := os.Stat(wd)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	waitFor(t, 5*time.Second, "watchdog fed", func() bool { return size() > 3 })
	c.partition("n1")
	lease := c.members[0].cfg.Timing.Lease.D()
	time.Sleep(lease + 300*time.Millisecond)
	s1 := size()
	time.Sleep(1 * time.Second)
	if s2 := size(); s2 != s1 {
		t.Fatalf("watchdog still fed without a lease: %d -> %d bytes", s1, s2)
	}
	c.heal()
	waitFor(t, 10*time.Second, "watchdog fed again", func() bool { return size() > s1 })
}

// TestWitnessHandsLeadershipToANode: leadership moved to the witness goes
// back to a healthy node.
func TestWitnessHandsLeadershipToANode(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	w := c.member("w1")
	if l != w {
		if err := l.srv.raft.LeadershipTransferToServer("w1", raft.ServerAddress(w.cfg.Bind)).Error(); err != nil {
			t.Fatalf("transfer to the witness: %v", err)
		}
		waitFor(t, 10*time.Second, "witness leads", func() bool { return w.srv.IsLeader() })
	}
	waitFor(t, 20*time.Second, "a node leads again", func() bool {
		nl := c.leaderNow()
		return nl != nil && nl != w
	})
	if !strings.Contains(w.logs.String(), "handing leadership to a node that owns no group") {
		t.Fatal("the witness did not log the handover")
	}
}

// TestFailbackReturnsToFirstNode: with failback: true the group goes home
// once its first node has been healthy again for a while.
func TestFailbackReturnsToFirstNode(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "    failback: true\n", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	c.kill("n1")
	c.waitOnline("db", "n2")
	c.start("n1")
	g := c.waitOnline("db", "n1")
	evs := c.events("db")
	last := evs[len(evs)-1]
	if g.Status.Owner != "n1" || !strings.Contains(kinds(evs), "stopping stopped assigned online") {
		t.Fatalf("no planned failback: %s", kinds(evs))
	}
	for _, e := range evs {
		if e.Kind == "stopping" && e.Cause != "failback" {
			t.Fatalf("move cause %q", e.Cause)
		}
	}
	_ = last
	deadline := time.Now().Add(5 * time.Second)
	for {
		ivs := readIntervals(t, rec)
		if len(ivs) >= 3 && ivs[len(ivs)-1].Node == "n1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorder not back on n1: group %+v, intervals %s, history %s", c.group("db").Status, describeIntervals(ivs), kinds(c.events("db")))
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkExclusive(t, readIntervals(t, rec))
}

// TestOwnerLeaderHandsLeadershipToIdleNode: a leader that owns a group
// hands leadership to a healthy node that owns none, so that losing the
// owner does not also cost an election.
func TestOwnerLeaderHandsLeadershipToIdleNode(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	c.moveLeadership("n1")
	waitFor(t, 20*time.Second, "leadership on n2", func() bool {
		l := c.leaderNow()
		return l != nil && l.cfg.NodeID == "n2"
	})
	// Stable: n2 owns nothing and keeps it.
	time.Sleep(3 * c.members[0].cfg.Timing.FailoverTimeout.D())
	if l := c.leaderNow(); l == nil || l.cfg.NodeID != "n2" {
		t.Fatalf("leadership did not stay on the idle node")
	}
}

// TestTransferToTheLeaderSurvivesHandover: moving a group to the node that
// leads makes it an owner that leads, which hands leadership to the idle
// node; the transfer must still report success, and a stop asked through
// a follower must too.
func TestTransferToTheLeaderSurvivesHandover(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	c.moveLeadership("n2")
	time.Sleep(c.members[0].cfg.Timing.FailoverTimeout.D()) // past the new leader's handover grace
	gs, err := c.member("n1").srv.Transfer(ctxT(t, 30*time.Second), "db", "n2", "test")
	if err != nil {
		t.Fatalf("transfer to the leader: %v", err)
	}
	if gs.Owner != "n2" || gs.State != fsm.StateOnline {
		t.Fatalf("after transfer: %+v", gs)
	}
	waitFor(t, 20*time.Second, "leadership handed to idle n1", func() bool {
		l := c.leaderNow()
		return l != nil && l.cfg.NodeID == "n1"
	})
	// Stop through a follower (n2 is a follower now).
	g, err := c.member("n2").srv.StopGroup(ctxT(t, 30*time.Second), "db", "test")
	if err != nil {
		t.Fatalf("stop via a follower: %v", err)
	}
	if g.State != fsm.StateOffline || !g.Suspended {
		t.Fatalf("after stop: %+v", g)
	}
	if ch := history.Why(c.leader().srv.State(), "db"); ch[len(ch)-1].Cause != "planned" {
		t.Fatalf("why after stop: %+v", ch[len(ch)-1])
	}
}
