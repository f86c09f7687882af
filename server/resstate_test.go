package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
)

// resStatusGroup has two monitored exec resources on n1 then n2: app's
// check fails (saying "app-broken") while DIR/fail.app exists, and is
// allowed 50 failures before a restart; web's check fails once (saying
// "web-broken") each time DIR/fail.web appears, and one failure restarts
// it. Their starts and stops take a measurable time.
func resStatusGroup(dir string) string {
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        start: sleep 0.2
        stop: "true"
        check: if [ -e %[1]s/fail.app ]; then echo app-broken; exit 1; fi
        monitor:
          interval: 100ms
          timeout: 5s
          failures_before_restart: 50
          restarts_before_failover: 1
      - name: web
        type: exec
        start: "true"
        stop: sleep 0.15
        check: if [ -e %[1]s/fail.web ]; then rm -f %[1]s/fail.web; echo web-broken; exit 1; fi
        monitor:
          interval: 100ms
          timeout: 5s
          failures_before_restart: 1
          restarts_before_failover: 3
`, dir)
}

// resourcesOf returns group db's resource status as member id's Status
// call gives it (forwarded to the leader), by resource name.
func resourcesOf(t *testing.T, c *testCluster, id string) (api.GroupStatus, map[string]api.ResourceStatus) {
	t.Helper()
	st, err := c.member(id).srv.Status(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("status from %s: %v", id, err)
	}
	for _, g := range st.Groups {
		if g.Name == "db" {
			m := map[string]api.ResourceStatus{}
			for _, r := range g.ResourceStatus {
				m[r.Name] = r
			}
			return g, m
		}
	}
	t.Fatalf("no group db in the status from %s", id)
	return api.GroupStatus{}, nil
}

// TestResourceStatusClusterWide: the owner's per-resource status (state,
// checks, failures in a row, restarts, last error, start and stop
// durations) reaches the status view of a member that does not own the
// group; after a failover the view shows the new owner's resources,
// fresh.
func TestResourceStatusClusterWide(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir := t.TempDir()
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(resStatusGroup(dir)), "test"); err != nil {
		t.Fatal(err)
	}
	g1 := c.waitOnline("db", "n1")

	// Healthy: both running on n1, checked ok, with the start's duration.
	// Each check below reads the view its wait accepted: a later read may
	// come from a leader elected meanwhile (these machines are loaded),
	// which has the owner's resource states only from its next report.
	var g api.GroupStatus
	var rs map[string]api.ResourceStatus
	waitFor(t, 10*time.Second, "both resources running and checked ok on n1, seen from n2", func() bool {
		g, rs = resourcesOf(t, c, "n2")
		app, web := rs["app"], rs["web"]
		return g.Epoch == g1.Status.Epoch && app.State == api.ResourceRunning && web.State == api.ResourceRunning &&
			app.LastCheckResult == api.CheckOK && web.LastCheckResult == api.CheckOK && app.LastCheck != nil
	})
	if len(g.ResourceStatus) != 2 || g.ResourceStatus[0].Name != "app" || g.ResourceStatus[1].Name != "web" {
		t.Fatalf("resource_status not in start order: %+v", g.ResourceStatus)
	}
	if app := rs["app"]; app.Node != "n1" || app.Type != "exec" || app.LastStart.D() < 200*time.Millisecond || app.LastError != "" || app.Restarts != 0 {
		t.Fatalf("app on n1: %+v (want node n1, type exec, last start >= 200ms, no error, no restart)", app)
	}

	// app's check fails a few times (fewer than restart after), then
	// passes again.
	if err := os.WriteFile(filepath.Join(dir, "fail.app"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "app check-failing with 2+ failures in a row, seen from w1", func() bool {
		_, rs = resourcesOf(t, c, "w1")
		app := rs["app"]
		return app.State == api.ResourceCheckFailing && app.ConsecutiveFailures >= 2 && app.LastCheckResult == api.CheckFailed
	})
	if app := rs["app"]; !strings.Contains(app.LastError, "app-broken") || app.LastErrorAt == nil || app.Restarts != 0 {
		t.Fatalf("failing app: %+v (want last error with app-broken, no restart)", app)
	}
	os.Remove(filepath.Join(dir, "fail.app"))
	waitFor(t, 10*time.Second, "app's check passing again", func() bool {
		_, rs = resourcesOf(t, c, "n2")
		app := rs["app"]
		return app.State == api.ResourceRunning && app.ConsecutiveFailures == 0 && app.LastCheckResult == api.CheckOK
	})
	if !strings.Contains(rs["app"].LastError, "app-broken") {
		t.Fatalf("app's last error lost after recovery: %+v", rs["app"])
	}

	// web fails one check: the monitor restarts it once (its stop takes
	// >= 150ms).
	if err := os.WriteFile(filepath.Join(dir, "fail.web"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "web restarted once and running, seen from n2", func() bool {
		_, rs = resourcesOf(t, c, "n2")
		web := rs["web"]
		return web.Restarts == 1 && web.State == api.ResourceRunning && web.LastCheckResult == api.CheckOK
	})
	if web := rs["web"]; !strings.Contains(web.LastError, "web-broken") || web.LastStop.D() < 150*time.Millisecond || web.Node != "n1" {
		t.Fatalf("restarted web: %+v (want last error web-broken, last stop >= 150ms, node n1)", web)
	}
	if g := c.group("db"); g.Status.Owner != "n1" || g.Status.Epoch != g1.Status.Epoch {
		t.Fatalf("group moved: %+v", g.Status)
	}
	m := c.member("n1").srv.metrics
	if n := resCounter(t, m, "raftha_resource_restarts_total", "web"); n != 1 {
		t.Errorf("raftha_resource_restarts_total{db,web} on n1 = %v, want 1", n)
	}
	if n := resCounter(t, m, "raftha_resource_check_failures_total", "app"); n < 2 {
		t.Errorf("raftha_resource_check_failures_total{db,app} on n1 = %v, want >= 2", n)
	}

	// The owner's own view (never forwarded; stale unless it leads) has
	// its resources too, from its runner.
	own, err := c.member("n1").srv.LocalStatus(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Groups) != 1 || len(own.Groups[0].ResourceStatus) != 2 || own.Groups[0].ResourceStatus[1].Restarts != 1 {
		t.Fatalf("n1's own view of db: %+v", own.Groups)
	}

	// n1 dies: on n2 the view shows n2's resources, nothing of n1's.
	c.kill("n1")
	g2 := c.waitOnline("db", "n2")
	waitFor(t, 15*time.Second, "n2's resources running at the new epoch, seen from w1", func() bool {
		g, rs = resourcesOf(t, c, "w1")
		return g.Epoch == g2.Status.Epoch && rs["app"].State == api.ResourceRunning && rs["web"].State == api.ResourceRunning
	})
	for _, r := range g.ResourceStatus {
		if r.Node != "n2" || r.Restarts != 0 || r.LastError != "" || r.ConsecutiveFailures != 0 {
			t.Fatalf("after failover, %s: %+v (want n2's, fresh: no restart, no error)", r.Name, r)
		}
	}
}

// resCounter is the value of the counter name for group db and resource
// res in m's registry (0 when absent).
func resCounter(t *testing.T, m *metrics, name, res string) float64 {
	t.Helper()
	mfs, err := m.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, c := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range c.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["group"] == "db" && l["resource"] == res {
				return c.GetCounter().GetValue()
			}
		}
	}
	return 0
}
