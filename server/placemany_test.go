package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
)

// placements reads member m's raft log and returns, per group, how many
// placements (Assign, cause placement) it holds, and in how many raft
// batches they were appended (entries the leader appended together carry
// the same AppendedAt).
func placements(t *testing.T, m *testMember) (perGroup map[string]int, batches int) {
	t.Helper()
	first, err := m.srv.store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := m.srv.store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	perGroup = map[string]int{}
	appended := map[time.Time]bool{}
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := m.srv.store.GetLog(i, &l); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := fsm.Decode(l.Data)
		if err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if a, ok := c.(*fsm.Assign); ok && a.Cause == fsm.CausePlacement {
			perGroup[a.Group]++
			appended[l.AppendedAt] = true
		}
	}
	return perGroup, len(appended)
}

// startDefaultCluster starts n1, n2 and witness w1 with the default
// timing profile (the test profile holds no leader on a loaded machine
// with hundreds of groups) and waits until every member is healthy.
func startDefaultCluster(t *testing.T) *testCluster {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Timing = defaultTiming() })
	c.startAll()
	c.leader()
	c.waitHealthy()
	return c
}

// TestPlaceManyGroupsAtOnce: 200 groups applied at once on real agents
// all come online, each placed exactly once, never running on two nodes
// at the same time, and the leader commits their placements together
// (raft appends them in batches) rather than one raft round trip after
// another (BenchmarkScale: 1,000 groups took 30-44 s that way).
func TestPlaceManyGroupsAtOnce(t *testing.T) {
	const n = 200
	c := startDefaultCluster(t)
	dir := t.TempDir()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, time.Minute), []byte(manyGroups(dir, n, "")), "test"); err != nil {
		t.Fatal(err)
	}
	nodes := []*testMember{c.member("n1"), c.member("n2")}
	deadline := time.Now().Add(3 * time.Minute)
	for c.onlineCount("") < n {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("g%04d", i)
			var on []string
			for _, m := range nodes {
				if m.srv.runner.runningHere(name) {
					on = append(on, m.cfg.NodeID)
				}
			}
			if len(on) > 1 {
				t.Fatalf("group %s runs on %v at once", name, on)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3m only %d of %d groups are online", c.onlineCount(""), n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	st := c.leader().srv.State()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("g%04d", i)
		g := st.Groups[name]
		want := g.Status.Owner
		if g.Status.State != fsm.StateOnline || (want != "n1" && want != "n2") {
			t.Fatalf("group %s is %s on %q, want online on n1 or n2", name, g.Status.State, want)
		}
		files, _ := filepath.Glob(filepath.Join(dir, name+".*"))
		if len(files) != 1 || filepath.Base(files[0]) != name+"."+want {
			t.Fatalf("group %s left markers %v, want only its owner's (%s)", name, files, want)
		}
	}
	per, batches := placements(t, c.leader())
	for i := 0; i < n; i++ {
		if name := fmt.Sprintf("g%04d", i); per[name] != 1 {
			t.Fatalf("group %s was placed %d times, want once", name, per[name])
		}
	}
	if len(per) != n {
		t.Fatalf("placements of %d groups in the log, want %d", len(per), n)
	}
	// One after another, every placement is its own append (200); the
	// leader's pass commits up to maxParallelCommits at once.
	if batches > n/4 {
		t.Fatalf("the %d placements were appended in %d raft batches: committed one after another, not together", n, batches)
	}
	t.Logf("%d placements appended in %d raft batches", n, batches)
}

// TestNodeStartsBoundedNumberOfGroupsAtOnce: 60 groups placed on one node
// at once start at most maxConcurrentStarts at a time there (each start
// counts the starts under way beside it), and all come online.
func TestNodeStartsBoundedNumberOfGroupsAtOnce(t *testing.T) {
	const n = 60
	c := startDefaultCluster(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `  - name: g%04[1]d
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        start: touch %[2]s/busy.g%04[1]d; sleep 0.3; ls %[2]s | grep -c '^busy' >> %[2]s/counts; rm %[2]s/busy.g%04[1]d
        stop: "true"
`, i, dir)
	}
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, time.Minute), []byte(b.String()), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitAllOnline(3*time.Minute, n, "n1")
	data, err := os.ReadFile(filepath.Join(dir, "counts"))
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	lines := strings.Fields(string(data))
	for _, l := range lines {
		v, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("counts: %q", l)
		}
		most = max(most, v)
	}
	if len(lines) != n {
		t.Fatalf("%d starts counted, want %d", len(lines), n)
	}
	if most > maxConcurrentStarts {
		t.Fatalf("%d group starts ran at once on n1, want at most %d", most, maxConcurrentStarts)
	}
	t.Logf("at most %d of %d starts at once", most, n)
}
