package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
	"github.com/raftha/raftha/internal/benchtable"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// takeoverSplit is the split `raftha why` gives for group's takeover at
// epoch, from the leader's log (nil when it has none).
func (c *testCluster) takeoverSplit(group string, epoch uint64) *api.FailoverSplit {
	c.t.Helper()
	for _, ch := range history.Why(c.leader().srv.State(), group) {
		if ch.Epoch == epoch && ch.Cause == fsm.CauseNodeLost {
			return ch.Split
		}
	}
	c.t.Fatalf("no node-lost takeover of %s at epoch %d in the history", group, epoch)
	return nil
}

// touchCluster starts n1, n2 and w1 with timing and aws-stop fencing
// against moto, and applies group db (nodes n1, n2) whose exec resource
// starts with `pre` and then touches a file.
func touchCluster(t testing.TB, timing config.TimingConfig, pre string) (*testCluster, *motoserver.Server) {
	t.Helper()
	c, moto, _ := awsCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Timing = timing })
	c.startAll()
	c.leader()
	c.waitHealthy()
	dir := t.TempDir()
	group := fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        start: %[1]stouch %[2]s/$RAFTHA_NODE
        stop: rm -f %[2]s/$RAFTHA_NODE
`, pre, dir)
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(group), "test"); err != nil {
		t.Fatal(err)
	}
	return c, moto
}

// TestWhySplitRecordedOnRealTakeover: real agents (aws-stop against
// moto, default timing); the owner of a group whose start takes 300 ms is
// killed. The takeover's split is recorded and adds up: detection is
// about failover_timeout, start covers the 300 ms start, fence + start +
// overhead = total, the overhead's parts sum to it, and detection + total
// matches the kill-to-online time the test saw.
func TestWhySplitRecordedOnRealTakeover(t *testing.T) {
	c, _ := touchCluster(t, defaultTiming(), "sleep 0.3; ")
	c.waitOnline("db", "n1")
	c.moveLeadership("n2")
	c.waitHealthy()
	killed := time.Now()
	c.kill("n1")
	g := c.waitOnline("db", "n2")
	seen := time.Since(killed)
	sp := c.takeoverSplit("db", g.Status.Epoch)
	if sp == nil {
		t.Fatalf("takeover at epoch %d has no split; events: %s", g.Status.Epoch, kinds(c.events("db")))
	}
	t.Logf("kill → online seen by the test %s; split: %s", seen.Round(time.Millisecond), sp)
	ms := func(d api.Duration) time.Duration { return d.D() }
	ft := defaultTiming().FailoverTimeout.D()
	const slack = 5 * time.Millisecond // Header.At is rounded to 1 ms
	switch {
	case sp.ClockSkew:
		t.Fatal("one clock, yet a figure came out negative")
	case ms(sp.Detection) < ft || ms(sp.Detection) > ft+time.Second:
		t.Fatalf("detection %s, want failover_timeout %s plus at most the leader loop's period", sp.Detection, ft)
	case ms(sp.Start) < 300*time.Millisecond || ms(sp.Start) > 2*time.Second:
		t.Fatalf("start %s, want the 300 ms of the exec start (and not much more)", sp.Start)
	case sp.Fence <= 0 || sp.Decision <= 0 || sp.FenceCommit <= 0 || sp.Wake < 0:
		t.Fatalf("a part of the split is missing: %+v", *sp)
	}
	if d := ms(sp.Total) - ms(sp.Fence) - ms(sp.Start) - ms(sp.Overhead); d < -slack || d > slack {
		t.Fatalf("total %s != fence %s + start %s + overhead %s", sp.Total, sp.Fence, sp.Start, sp.Overhead)
	}
	parts := ms(sp.Decision) + ms(sp.FenceConfirm) + ms(sp.FenceCommit) + ms(sp.Wake) + ms(sp.StartConfirm) + ms(sp.Record) + ms(sp.Other)
	if d := parts - ms(sp.Overhead); d < -slack || d > slack {
		t.Fatalf("the parts of the overhead sum to %s, overhead %s", parts, sp.Overhead)
	}
	// The silence counts from the last contact, up to a heartbeat before
	// the kill; the test polls every 20 ms.
	hb := defaultTiming().Heartbeat.D()
	if sum := ms(sp.Detection) + ms(sp.Total); sum < seen-200*time.Millisecond || sum > seen+hb+200*time.Millisecond {
		t.Fatalf("detection + total = %s, but the test saw %s from kill to online", sum, seen)
	}
}

// overheadRow prints the table row of raftha's overhead beyond detection
// for one BenchmarkFailover case: the median and max of the splits'
// Overhead, and the median of each of its parts.
func overheadRow(name string, splits []api.FailoverSplit) {
	if len(splits) == 0 {
		benchtable.Print(benchtable.Row{Figure: "failover overhead beyond detection " + name, Value: "no split recorded", Goal: "<= 100 ms", Command: "make bench (BenchmarkFailover, ./server)"})
		return
	}
	med := func(f func(api.FailoverSplit) api.Duration) time.Duration {
		ds := make([]time.Duration, len(splits))
		for i, s := range splits {
			ds[i] = f(s).D()
		}
		return median(ds).Round(time.Millisecond)
	}
	mx := time.Duration(0)
	for _, s := range splits {
		mx = max(mx, s.Overhead.D())
	}
	value := fmt.Sprintf("median %s, max %s (%d runs; medians: decision %s, fence confirm %s, fence commit %s, wake %s, start confirm %s, run record %s, other %s)",
		med(func(s api.FailoverSplit) api.Duration { return s.Overhead }), mx.Round(time.Millisecond), len(splits),
		med(func(s api.FailoverSplit) api.Duration { return s.Decision }), med(func(s api.FailoverSplit) api.Duration { return s.FenceConfirm }),
		med(func(s api.FailoverSplit) api.Duration { return s.FenceCommit }), med(func(s api.FailoverSplit) api.Duration { return s.Wake }),
		med(func(s api.FailoverSplit) api.Duration { return s.StartConfirm }), med(func(s api.FailoverSplit) api.Duration { return s.Record }),
		med(func(s api.FailoverSplit) api.Duration { return s.Other }))
	fmt.Printf("failover overhead %-22s %s\n", name, value)
	benchtable.Print(benchtable.Row{Figure: "failover overhead beyond detection " + name + " (aws-stop, moto)", Value: value, Goal: "<= 100 ms", Command: "make bench (BenchmarkFailover, ./server)"})
}
