package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/benchtable"
)

// scaleGroups is how many groups BenchmarkScale applies
// (RAFTHA_BENCH_GROUPS overrides it).
func scaleGroups() int {
	if v, err := strconv.Atoi(os.Getenv("RAFTHA_BENCH_GROUPS")); err == nil && v > 0 {
		return v
	}
	return 1000
}

// manyGroups is a group file of n exec groups named g0000...; each
// resource touches a file per node while it runs. Groups alternate their
// node order, so placement spreads them over both nodes, unless first
// names the node every group prefers.
func manyGroups(dir string, n int, first string) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := 0; i < n; i++ {
		nodes := "n1, n2"
		if first == "n2" || (first == "" && i%2 == 1) {
			nodes = "n2, n1"
		}
		fmt.Fprintf(&b, `  - name: g%04[1]d
    nodes: [%[2]s]
    resources:
      - name: app
        type: exec
        start: touch %[3]s/g%04[1]d.$RAFTHA_NODE
        stop: rm -f %[3]s/g%04[1]d.$RAFTHA_NODE
`, i, nodes, dir)
	}
	return b.String()
}

// onlineCount counts the groups online in the leader's state (on owner
// when owner is not "").
func (c *testCluster) onlineCount(owner string) int {
	l := c.leaderNow()
	if l == nil {
		return 0
	}
	n := 0
	l.srv.fsm.Read(func(st *fsm.State) { // no copy: polled often
		for _, g := range st.Groups {
			if g.Status.State == fsm.StateOnline && (owner == "" || g.Status.Owner == owner) {
				n++
			}
		}
	})
	return n
}

// waitAllOnline waits until want groups are online (on owner, if given).
func (c *testCluster) waitAllOnline(d time.Duration, want int, owner string) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for c.onlineCount(owner) < want {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %d groups online on %q (%d are)", d, want, owner, c.onlineCount(owner))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// defaultTiming is the default timing profile. The scale figures use it:
// the test profile's 200ms raft timeouts hold no leader on a loaded
// 2-core machine.
func defaultTiming() config.TimingConfig {
	return config.TimingConfig{Heartbeat: config.Duration(config.DefaultHeartbeat), Lease: config.Duration(config.DefaultLease), FailoverTimeout: config.Duration(config.DefaultFailoverTimeout)}
}

// median sorts ds and returns its middle value.
func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// figure prints one line of the scale table: what, the figure, its goal.
func figure(b *testing.B, what string, got time.Duration, goal time.Duration, extra string) {
	verdict := "ok"
	if got > goal {
		verdict = "OVER GOAL"
	}
	fmt.Printf("scale %-44s %10s  goal <= %-8s %s %s\n", what, got.Round(time.Millisecond), goal, verdict, extra)
	benchtable.Print(benchtable.Row{Figure: "scale: " + what, Value: got.Round(time.Millisecond).String(), Goal: "<= " + goal.String(), Command: "make bench (BenchmarkScale, ./server)"})
	b.ReportMetric(got.Seconds(), strings.ReplaceAll(what, " ", "_")+"-s")
}

// idleCPU prints what the three in-process members (and this harness)
// cost together once n groups run and nothing changes: this process's
// CPU time over RAFTHA_SCALE_IDLE (default 20s) after 5s of settling, per
// minute (RAFTHA_SCALE_IDLE_PROFILE=FILE writes a CPU profile of that
// window). Every group is a worker on each node that looks again at each
// lease renewal and heartbeat, so this is the figure that grows with the
// number of groups on an idle cluster.
func idleCPU(b *testing.B, n int) {
	idle := 20 * time.Second
	if v, err := time.ParseDuration(os.Getenv("RAFTHA_SCALE_IDLE")); err == nil && v > 0 {
		idle = v
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	time.Sleep(5 * time.Second)
	if path := os.Getenv("RAFTHA_SCALE_IDLE_PROFILE"); path != "" { // a CPU profile of the idle window
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	before := cpu()
	time.Sleep(idle)
	perMin := (cpu() - before).Seconds() * float64(time.Minute) / float64(idle)
	fmt.Printf("scale %-44s %10s  (%d groups, 3 members in one process, measured over %s)\n", "idle CPU of the 3 members", fmt.Sprintf("%.2f s/min", perMin), n, idle)
	benchtable.Print(benchtable.Row{Figure: fmt.Sprintf("scale: idle CPU of 3 in-process members, %d groups", n), Value: fmt.Sprintf("%.2f s/min", perMin), Goal: "-", Command: "make bench (BenchmarkScale, ./server)"})
	b.ReportMetric(perMin, "idle-cpu-s/min")
}

// BenchmarkScale measures, on a 3-member in-process cluster (n1, n2,
// witness w1) with 1,000 exec groups: one ApplyGroups of all of them, the
// time until every group is online (placed and started), the status call
// (leader and forwarded from a follower, through the HTTPS API), an FSM
// snapshot and restore (time and size) and a member with an empty
// data_dir catching up from a snapshot (w1 removed, wiped, rejoined: the
// time from AddMember until its applied index reaches the leader's).
// Run with: make bench, or
// go test -run '^$' -bench BenchmarkScale -benchtime 1x ./server/
func BenchmarkScale(b *testing.B) {
	n := scaleGroups()
	// Compact the log behind a snapshot so that the rejoining member gets
	// the snapshot, not the log.
	b.Setenv(envTrailingLogs, "16")
	c := newTestCluster(b, "n1", "n2", "w1")
	keepLogs(b, c)
	c.configure(func(m *testMember) { m.cfg.Timing = defaultTiming() })
	c.startAll()
	c.leader()
	c.waitHealthy()
	dir := b.TempDir()
	groups := []byte(manyGroups(dir, n, ""))

	start := time.Now()
	if _, err := c.leader().srv.ApplyGroups(ctxT(b, 2*time.Minute), groups, "bench"); err != nil {
		b.Fatal(err)
	}
	applied := time.Since(start)
	figure(b, fmt.Sprintf("group apply of %d groups", n), applied, 5*time.Second, fmt.Sprintf("(%d KiB group file)", len(groups)/1024))
	c.waitAllOnline(5*time.Minute, n, "")
	figure(b, fmt.Sprintf("apply until %d groups online", n), time.Since(start), 30*time.Second, "")
	idleCPU(b, n)

	l := c.leader()
	var follower *testMember
	for _, id := range []string{"n1", "n2"} {
		if id != l.cfg.NodeID {
			follower = c.member(id)
			break
		}
	}
	for _, m := range []*testMember{l, follower} {
		cl := c.apiClient(m, "bench-op-"+m.cfg.NodeID, "")
		var ds []time.Duration
		var st *api.Status
		for i := 0; i < 9; i++ {
			t0 := time.Now()
			var err error
			if st, err = cl.Status(ctxT(b, 30*time.Second)); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		role := "leader"
		if m != l {
			role = "follower, forwarded"
		}
		figure(b, fmt.Sprintf("status API (%s)", role), median(ds), 300*time.Millisecond, fmt.Sprintf("(median of %d, %d groups)", len(ds), len(st.Groups)))
	}

	var ds []time.Duration
	var size int
	var buf bytes.Buffer
	for i := 0; i < 5; i++ {
		buf.Reset()
		t0 := time.Now()
		if err := fsm.WriteSnapshot(&buf, l.srv.fsm.View()); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		size = buf.Len()
	}
	figure(b, "FSM snapshot (view + encode)", median(ds), 200*time.Millisecond, fmt.Sprintf("(size %d KiB)", size/1024))
	ds = nil
	for i := 0; i < 5; i++ {
		f := fsm.New()
		t0 := time.Now()
		if err := f.Restore(nopCloser{bytes.NewReader(buf.Bytes())}); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		if got := len(f.View().Groups); got != n {
			b.Fatalf("restored %d groups, want %d", got, n)
		}
	}
	figure(b, "FSM restore", median(ds), 300*time.Millisecond, "")

	// A member with an empty data_dir catches up from the snapshot.
	w := c.member("w1")
	if l.cfg.NodeID == "w1" {
		c.moveLeadership(follower.cfg.NodeID)
		l = c.leader()
	}
	c.kill("w1")
	if err := l.srv.RemoveMember(ctxT(b, 30*time.Second), "w1", "bench"); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := l.srv.raft.Snapshot().Error(); err != nil {
		b.Fatal(err)
	}
	figure(b, "raft snapshot on the leader (persist, compact)", time.Since(t0), time.Second, "")
	if err := os.RemoveAll(w.cfg.DataDir); err != nil {
		b.Fatal(err)
	}
	w.opts.Rejoin = true
	c.start("w1")
	waitFor(b, 30*time.Second, "w1 waiting to be added", func() bool {
		return strings.Contains(w.logs.String(), "raftha members add --id w1")
	})
	t0 = time.Now()
	if err := l.srv.AddMember(ctxT(b, 30*time.Second), api.MemberRequest{ID: "w1", Address: w.cfg.Bind, Role: string(config.RoleWitness)}, "bench"); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 2*time.Minute, "w1 caught up", func() bool {
		return w.srv.fsm.AppliedIndex() >= l.srv.fsm.AppliedIndex() && len(w.srv.State().Groups) == n
	})
	how := "log"
	if strings.Contains(w.logs.String(), "Installed remote snapshot") {
		how = "snapshot"
	}
	figure(b, "empty member catches up (add until applied)", time.Since(t0), 5*time.Second, "(from the "+how+")")
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// keepLogs writes every member's whole log to RAFTHA_BENCH_LOGDIR/ID.log
// when the benchmark ends, if that variable is set (the harness keeps
// only a tail, and only on failure).
func keepLogs(t testing.TB, c *testCluster) {
	dir := os.Getenv("RAFTHA_BENCH_LOGDIR")
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			if m.logs != nil {
				_ = os.WriteFile(filepath.Join(dir, m.cfg.NodeID+".log"), []byte(m.logs.String()), 0o600)
			}
		}
	})
}
