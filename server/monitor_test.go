package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// monitorGroup's check fails on a node while DIR/fail.NODE exists; every
// start appends the node to DIR/starts.
func monitorGroup(dir string) string {
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        start: echo "$RAFTHA_NODE" >> %[1]s/starts
        stop: "true"
        check: test ! -e %[1]s/fail.$RAFTHA_NODE
        monitor:
          interval: 150ms
          timeout: 5s
          failures_before_restart: 2
          restarts_before_failover: 2
`, dir)
}

func countStarts(t *testing.T, dir, node string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "starts"))
	n := 0
	for _, l := range strings.Fields(string(b)) {
		if l == node {
			n++
		}
	}
	return n
}

// TestMonitorRestartsThenFailsOver: a failing check restarts the resource
// restarts_before_failover times on the owner, then the group moves to
// the other node; suspend stops all of that; with no node left the group
// stays stopped with an event saying why.
func TestMonitorRestartsThenFailsOver(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(monitorGroup(dir)), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	if n := countStarts(t, dir, "n1"); n != 1 {
		t.Fatalf("starts on n1 = %d", n)
	}

	// Suspended: a failing check changes nothing.
	if err := c.any().srv.SetSuspended(ctxT(t, 5*time.Second), "db", true, "test"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fail.n1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := countStarts(t, dir, "n1"); n != 1 {
		t.Fatalf("suspended group was restarted (%d starts)", n)
	}
	if g := c.group("db"); g.Status.Owner != "n1" || g.Status.State != fsm.StateOnline || !g.Status.Suspended {
		t.Fatalf("suspended group moved: %+v", g.Status)
	}

	// Resumed: 2 restarts on n1, then failover to n2.
	if err := c.any().srv.SetSuspended(ctxT(t, 5*time.Second), "db", false, "test"); err != nil {
		t.Fatal(err)
	}
	g := c.waitOnline("db", "n2")
	if n := countStarts(t, dir, "n1"); n != 3 {
		t.Fatalf("starts on n1 = %d, want 1 + 2 restarts", n)
	}
	k := kinds(c.events("db"))
	if strings.Count(k, "resource-restart") != 2 || !strings.Contains(k, "failed assigned online") {
		t.Fatalf("history: %s", k)
	}
	if len(g.Status.FailedOn) != 1 || g.Status.FailedOn[0] != "n1" {
		t.Fatalf("failed_on %v", g.Status.FailedOn)
	}

	// n2 fails too: nowhere left, the group stays stopped with the reason.
	if err := os.WriteFile(filepath.Join(dir, "fail.n2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a no-node event", func() bool {
		return strings.Contains(kinds(c.events("db")), "no-node")
	})
	g = c.group("db")
	if g.Status.State != fsm.StateFailed {
		t.Fatalf("group not stopped: %+v", g.Status)
	}
	var why string
	for _, e := range c.events("db") {
		if e.Kind == "no-node" {
			why = e.Reason
		}
	}
	if !strings.Contains(why, "failed on [n1 n2]") {
		t.Fatalf("no-node reason: %q", why)
	}

	// An operator fixes n1 and resumes: recovery may use n1 again.
	os.Remove(filepath.Join(dir, "fail.n1"))
	if err := c.any().srv.SetSuspended(ctxT(t, 5*time.Second), "db", false, "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
}
