package server

// Resource faults (issue #10): a start that fails after taking effect, a
// stop that fails or hangs, a start that hangs past the lease, an agent
// that dies and comes back. Each test shows the interleaving that broke
// mutual exclusion before the runner treated every side effect as "may
// have taken effect".

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/groupfile"
	"github.com/raftha/raftha/resources"
)

// faultGroup is a group "db" whose one exec resource marks dir/on.NODE
// while it runs and appends "NODE EPOCH" to dir/starts at every start
// (and to dir/stops at every stop).
// Files in dir switch faults on per node: fail-start.NODE (the start takes
// effect, then exits 1), hang-start.NODE (takes effect, then hangs),
// fail-stop.NODE (the stop exits 1 and leaves the mark). tag names the
// mark, so a re-applied spec can point at another file.
func faultGroup(dir, tag string, nodes ...string) string {
	on := dir + "/on.$RAFTHA_NODE" + tag
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [%s]
    start_retry_backoff: 200ms
    resources:
      - name: app
        type: exec
        start: 'touch %[2]s; echo "$RAFTHA_NODE $RAFTHA_EPOCH" >> %[3]s/starts; if [ -e %[3]s/hang-start.$RAFTHA_NODE ]; then sleep 30; fi; if [ -e %[3]s/fail-start.$RAFTHA_NODE ]; then exit 1; fi'
        stop: 'echo "$RAFTHA_NODE $RAFTHA_EPOCH" >> %[3]s/stops; if [ -e %[3]s/slow-stop.$RAFTHA_NODE ]; then sleep 1; fi; if [ -e %[3]s/fail-stop.$RAFTHA_NODE ]; then exit 1; fi; rm -f %[2]s'
        timeout: 40s
`, strings.Join(nodes, ", "), on, dir)
}

func touch(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// exclusion watches dir for on.* marks of two nodes at once, every 2ms,
// until the test ends. Its result lists every instant it saw two.
type exclusion struct {
	mu   sync.Mutex
	seen []string
	stop chan struct{}
	done chan struct{}
}

func watchExclusion(t *testing.T, dir string) *exclusion {
	x := &exclusion{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-x.stop:
				return
			case <-tick.C:
			}
			m, _ := filepath.Glob(filepath.Join(dir, "on.*"))
			nodes := map[string]bool{}
			for _, f := range m {
				nodes[strings.SplitN(strings.TrimPrefix(filepath.Base(f), "on."), "-", 2)[0]] = true
			}
			if len(nodes) > 1 {
				var names []string
				for n := range nodes {
					names = append(names, n)
				}
				sort.Strings(names)
				x.mu.Lock()
				if len(x.seen) < 5 {
					x.seen = append(x.seen, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), names))
				}
				x.mu.Unlock()
			}
		}
	}()
	t.Cleanup(x.end)
	return x
}

func (x *exclusion) end() {
	select {
	case <-x.stop:
	default:
		close(x.stop)
	}
	<-x.done
}

// check fails the test if two nodes ever acted at once.
func (x *exclusion) check(t *testing.T) {
	t.Helper()
	x.end()
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.seen) > 0 {
		t.Fatalf("two nodes acted for group db at once: %v", x.seen)
	}
}

// hardActions records the self-fence hard action (self_fence_action exit)
// of each member and simulates its effect: the host goes down, and the
// resources with it (the node's marks disappear).
type hardActions struct {
	mu  sync.Mutex
	at  map[string]time.Time
	dir string
}

func (h *hardActions) exitFor(node string) func(int) {
	return func(int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.at[node]; !ok {
			h.at[node] = time.Now()
		}
		m, _ := filepath.Glob(filepath.Join(h.dir, "on."+node+"*"))
		for _, f := range m {
			os.Remove(f)
		}
	}
}

func (h *hardActions) when(node string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.at[node]
	return at, ok
}

// faultCluster is n1, n2, w1 in lease-only mode with self_fence_action
// exit caught by h; more changes each member's configuration before start.
func faultCluster(t *testing.T, dir string, stopDeadline time.Duration, more ...func(m *testMember)) (*testCluster, *hardActions) {
	c := newTestCluster(t, "n1", "n2", "w1")
	h := &hardActions{at: map[string]time.Time{}, dir: dir}
	c.configure(func(m *testMember) {
		m.cfg.Fencing.StopDeadline = config.Duration(stopDeadline)
		m.cfg.Fencing.SelfFenceAction = config.SelfFenceExit
		m.opts.Exit = h.exitFor(m.cfg.NodeID)
		for _, fn := range more {
			fn(m)
		}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	return c, h
}

func (c *testCluster) apply(t *testing.T, groups string) {
	t.Helper()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(groups), "test"); err != nil {
		t.Fatal(err)
	}
}

// starts returns the "NODE EPOCH" lines of dir/starts as NODE@EPOCH.
func starts(dir string) []string { return marks(dir, "starts") }

// marks returns the "NODE EPOCH" lines of dir/name as NODE@EPOCH.
func marks(dir, name string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "@"))
}

// TestFailedStartIsStopped (item 1): a start that exits 1 after it took
// effect is stopped before the group may start anywhere else.
func TestFailedStartIsStopped(t *testing.T) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 2*time.Second)
	touch(t, filepath.Join(dir, "fail-start.n1"))
	x := watchExclusion(t, dir)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n2")
	time.Sleep(200 * time.Millisecond)
	x.check(t)
	if exists(filepath.Join(dir, "on.n1")) {
		t.Fatal("n1's failed start left its effect in place")
	}
}

// TestFailedStartWhoseStopFailsMovesOnlyFenced (item 1): when the stop of
// a failed start fails too, the group is stop-failed: it moves only by a
// fenced takeover, after the old owner's hard action.
func TestFailedStartWhoseStopFailsMovesOnlyFenced(t *testing.T) {
	dir := t.TempDir()
	c, h := faultCluster(t, dir, 1*time.Second)
	touch(t, filepath.Join(dir, "fail-start.n1"))
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	x := watchExclusion(t, dir)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n2")
	x.check(t)
	if _, ok := h.when("n1"); !ok {
		t.Fatal("n1 could not stop its failed start and never took its hard action")
	}
	var takeover bool
	for _, e := range c.events("db") {
		if e.Kind == "assigned" && e.To == "n2" {
			t.Fatalf("the group moved to n2 without a fence: %+v", e)
		}
		takeover = takeover || (e.Kind == "takeover" && e.To == "n2")
	}
	if !takeover {
		t.Fatalf("no fenced takeover to n2: %s", kinds(c.events("db")))
	}
}

// TestShutdownStopFailureIsStopFailed (item 2): a stop that fails while
// the agent shuts down leaves the group stop-failed, so it moves only by
// a fenced takeover.
func TestShutdownStopFailureIsStopFailed(t *testing.T) {
	dir := t.TempDir()
	c, h := faultCluster(t, dir, 1*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n1")
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	n1 := c.member("n1")
	// A deadline too short for the leader to move the group first: the
	// agent stops what runs here itself.
	// Shutdown says that something did not stop.
	if err := n1.srv.Shutdown(ctxT(t, 20*time.Millisecond)); !errors.Is(err, ErrShutdownIncomplete) || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("Shutdown with a stop that fails: %v, want ErrShutdownIncomplete naming what did not stop", err)
	}
	n1.srv = nil
	c.waitOnline("db", "n2")
	// The move is a fenced takeover: decided on n1's stop-failed report,
	// or on n1 being gone if that report lost the race with it.
	var takeover bool
	for _, e := range c.events("db") {
		if e.Kind == "assigned" && e.To == "n2" {
			t.Fatalf("the group moved to n2 without a fence although n1 could not stop it: %s", kinds(c.events("db")))
		}
		takeover = takeover || (e.Kind == "takeover" && e.To == "n2")
	}
	if !takeover {
		t.Fatalf("no fenced takeover to n2: %s", kinds(c.events("db")))
	}
	// In lease-only mode nothing else stops what n1 left running.
	if _, ok := h.when("n1"); !ok {
		t.Fatal("n1 shut down with a resource it could not stop and never took its hard action")
	}
}

// TestGaveUpWorkerNeverRestartsAtSameEpoch (item 3): a worker whose failed
// report did not land (it may still commit later) must not start the
// group again at that epoch; it re-sends the report.
func TestGaveUpWorkerNeverRestartsAtSameEpoch(t *testing.T) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 2*time.Second)
	var dropped sync.Once
	drop := func(r *fsm.Report) bool {
		if r.State != fsm.StateFailed {
			return false
		}
		d := false
		dropped.Do(func() { d = true })
		return d
	}
	c.member("n1").srv.reportFilter.Store(&drop)
	touch(t, filepath.Join(dir, "fail-start.n1"))
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n2")
	checkNoStartAfterGivingUp(t, dir, "")
}

// checkNoStartAfterGivingUp fails t if n1 started the group more often at
// one epoch than its first start and its retries
// (groupfile.DefaultStartRetries) before it gave up; after names what
// else happened since.
func checkNoStartAfterGivingUp(t *testing.T, dir, after string) {
	t.Helper()
	count := map[string]int{}
	for _, s := range starts(dir) {
		count[s]++
	}
	for s, n := range count {
		if strings.HasPrefix(s, "n1@") && n > 1+groupfile.DefaultStartRetries {
			t.Fatalf("n1 started the group %d times at one epoch (%s) after giving up on it%s: %v", n, s, after, starts(dir))
		}
	}
}

// TestCleanupAfterRestartStopsWhatRan (item 7): after a crash, the agent
// stops what it had started, even if the group's spec changed since.
func TestCleanupAfterRestartStopsWhatRan(t *testing.T) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 1*time.Second)
	c.apply(t, faultGroup(dir, "-A", "n1", "n2"))
	c.waitOnline("db", "n1")
	c.apply(t, faultGroup(dir, "-B", "n1", "n2")) // while active on n1
	c.kill("n1")
	c.waitOnline("db", "n2")
	c.start("n1")
	waitFor(t, 10*time.Second, "n1's leftover (spec A) stopped", func() bool { return !exists(filepath.Join(dir, "on.n1-A")) })
}

// TestLeaseOnlyStopFailureTakesHardAction (item 12): in lease-only mode a
// planned move whose stop fails keeps the instance, retries the stop, and
// takes the hard action before the winner may start.
func TestLeaseOnlyStopFailureTakesHardAction(t *testing.T) {
	dir := t.TempDir()
	c, h := faultCluster(t, dir, 1*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n1")
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	x := watchExclusion(t, dir)
	_, _ = c.leader().srv.Transfer(ctxT(t, 20*time.Second), "db", "n2", "test")
	c.waitOnline("db", "n2")
	x.check(t)
	at, ok := h.when("n1")
	if !ok {
		t.Fatal("n1's stop failed and it never took its hard action")
	}
	if n := strings.Count(c.member("n1").logs.String(), "resource failed to stop"); n < 2 {
		t.Fatalf("n1 did not retry the failed stop (%d attempts) before its hard action at %s", n, at.Format("15:04:05.000"))
	}
}

// TestHungStartIsBoundedByTheLease (item 13): a start that hangs while the
// owner is cut off cannot outlive the lease: the owner stops it (or takes
// its hard action) before the lease-only winner starts.
func TestHungStartIsBoundedByTheLease(t *testing.T) {
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 1*time.Second)
	touch(t, filepath.Join(dir, "hang-start.n1"))
	x := watchExclusion(t, dir)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	waitFor(t, 10*time.Second, "n1 inside its start", func() bool { return exists(filepath.Join(dir, "on.n1")) })
	c.partition("n1")
	c.waitOnline("db", "n2")
	time.Sleep(200 * time.Millisecond)
	x.check(t)
	c.heal()
}

// TestRestartWithStaleViewCleansLeftovers (item 14): an agent restarted
// with a snapshot that still names it owner cleans up what it left behind,
// and feeds its watchdog only once that cleanup is done.
func TestRestartWithStaleViewCleansLeftovers(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "watchdog")
	touch(t, wd)
	c, _ := faultCluster(t, dir, 3*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	c.waitOnline("db", "n1")
	n1 := c.member("n1")
	if err := n1.srv.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.kill("n1")
	c.waitOnline("db", "n2")
	touch(t, filepath.Join(dir, "slow-stop.n1"))
	n1.cfg.Fencing.Watchdog = config.WatchdogDevice(wd)
	var fedEarly bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			fi, err := os.Stat(wd)
			left := exists(filepath.Join(dir, "on.n1"))
			if err == nil && fi.Size() > 0 && left {
				fedEarly = true
			}
			if !left {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	c.start("n1")
	<-done
	if exists(filepath.Join(dir, "on.n1")) {
		t.Fatal("n1 restarted from a stale snapshot and left its leftover running beside n2")
	}
	if fedEarly {
		t.Fatal("n1 fed its watchdog before its startup cleanup was done")
	}
}

// stuckResource marks dir/on.NODE at Start and then blocks, ignoring its
// context, until released: a resource call that hangs for good.
type stuckResource struct {
	dir     string
	node    string
	release chan struct{}
}

func (r *stuckResource) Start(ctx context.Context, tok resources.Token) error {
	if err := os.WriteFile(filepath.Join(r.dir, "on."+tok.Node), nil, 0o600); err != nil {
		return err
	}
	if tok.Node == "n1" {
		<-r.release
	}
	return nil
}

func (r *stuckResource) Stop(ctx context.Context, tok resources.Token) error {
	if err := os.Remove(filepath.Join(r.dir, "on."+tok.Node)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (r *stuckResource) Check(ctx context.Context, tok resources.Token) error { return nil }

// TestGuardActsWhileAStartHangsForGood (items 13, 16): a Start that ignores
// its cancelled context blocks the worker for good; the guard, which runs
// apart from it, takes the hard action within the lease + stop_deadline,
// before the lease-only winner starts.
func TestGuardActsWhileAStartHangsForGood(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	reg := DefaultRegistry()
	if err := reg.Register(resources.Type{Name: "stuck", NewParams: func() any { return &struct{}{} },
		Build: func(_ any, env resources.Env) (resources.Resource, error) {
			return &stuckResource{dir: dir, node: env.NodeID, release: release}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, "n1", "n2", "w1")
	h := &hardActions{at: map[string]time.Time{}, dir: dir}
	c.configure(func(m *testMember) {
		m.cfg.Fencing.StopDeadline = config.Duration(500 * time.Millisecond)
		m.cfg.Fencing.SelfFenceAction = config.SelfFenceExit
		m.opts.Exit = h.exitFor(m.cfg.NodeID)
		m.opts.Registry = reg
	})
	t.Cleanup(func() { close(release) }) // before the cluster's own cleanup
	c.startAll()
	c.leader()
	c.waitHealthy()
	x := watchExclusion(t, dir)
	c.apply(t, "groups:\n  - name: db\n    nodes: [n1, n2]\n    resources:\n      - name: app\n        type: stuck\n")
	waitFor(t, 10*time.Second, "n1 inside its start", func() bool { return exists(filepath.Join(dir, "on.n1")) })
	cut := time.Now()
	c.partition("n1")
	c.waitOnline("db", "n2")
	if at, ok := h.when("n1"); ok {
		t.Logf("cut at %s, n1's hard action at %s", cut.Format("15:04:05.000"), at.Format("15:04:05.000"))
	} else {
		for _, l := range strings.Split(c.member("n1").logs.String(), "\n") {
			if !strings.Contains(l, "raftha.raft") {
				t.Log(l)
			}
		}
	}
	x.check(t)
	at, ok := h.when("n1")
	if !ok {
		t.Fatal("n1's start hangs for good and n1 never took its hard action")
	}
	cfg := c.members[0].cfg
	if limit := cfg.Timing.Lease.D() + cfg.Fencing.StopDeadline.D() + cfg.Timing.Heartbeat.D(); at.Sub(cut) > limit {
		t.Fatalf("hard action %s after the cut, later than lease + stop_deadline + heartbeat (%s)", at.Sub(cut), limit)
	}
	c.heal()
}

// TestSelfFenceStopFailureIsNotUndoneByLeaseReturn: an owner cut off just
// longer than its lease self-fences, and its stop fails; when the lease
// comes back the half-stopped group is not simply carried on: it is
// reported stop-failed and moved by a fenced takeover.
func TestSelfFenceStopFailureIsNotUndoneByLeaseReturn(t *testing.T) {
	dir := t.TempDir()
	c, h := faultCluster(t, dir, 1*time.Second)
	c.apply(t, faultGroup(dir, "", "n1", "n2"))
	g := c.waitOnline("db", "n1")
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	c.partition("n1")
	lease := c.member("n1").cfg.Timing.Lease.D()
	waitFor(t, 5*time.Second, "n1 self-fencing", func() bool {
		return strings.Contains(c.member("n1").logs.String(), "lease expired: self-fencing")
	})
	time.Sleep(lease / 4)
	c.heal() // well inside failover_timeout: the leader never lost n1
	waitFor(t, 20*time.Second, "db moved off n1", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		gg := l.srv.State().Groups["db"]
		return gg.Status.Owner == "n2" && gg.Status.State == fsm.StateOnline
	})
	var takeover bool
	for _, e := range c.events("db") {
		if e.Epoch > g.Status.Epoch && e.Kind == "assigned" && e.To == "n2" {
			t.Fatalf("moved to n2 without a fence: %s", kinds(c.events("db")))
		}
		takeover = takeover || (e.Kind == "takeover" && e.To == "n2")
	}
	if !takeover {
		t.Fatalf("no fenced takeover: %s", kinds(c.events("db")))
	}
	if _, ok := h.when("n1"); !ok {
		t.Fatal("n1 could not stop the group and never took its hard action")
	}
}
