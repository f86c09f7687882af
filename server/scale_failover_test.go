package server

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/raftha/raftha/internal/benchtable"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// countingFences makes the cluster's fencer count its EC2 calls.
func countingFences(t testing.TB, moto *motoserver.Server, hv *hypervisor) *motoserver.Calls {
	t.Helper()
	calls := &motoserver.Calls{}
	cfg, err := awsres.LoadConfig(context.Background(), awsres.Settings{Region: motoserver.Region, Endpoint: moto.Endpoint, Observe: calls.Observe})
	if err != nil {
		t.Fatal(err)
	}
	min, max := hv.inner.MinDelay, hv.inner.MaxDelay
	hv.inner = awsres.NewFencer(cfg)
	hv.inner.MinDelay, hv.inner.MaxDelay = min, max
	return calls
}

// takeoverOfMany kills the owner of k groups (all on it, the other node
// leading) and returns how long until every group is online on the other
// node. The killed node is started again (its instance first).
func takeoverOfMany(t testing.TB, c *testCluster, moto *motoserver.Server, k int) (time.Duration, string) {
	t.Helper()
	c.waitAllOnline(2*time.Minute, k, "")
	owner := c.group("g0000").Status.Owner
	other := "n1"
	if owner == "n1" {
		other = "n2"
	}
	c.waitAllOnline(time.Minute, k, owner)
	c.moveLeadership(other)
	c.waitHealthy()
	start := time.Now()
	c.kill(owner)
	c.waitAllOnline(2*time.Minute, k, other)
	took := time.Since(start)
	moto.StartInstance(t, c.member(owner).cfg.AWS.InstanceID)
	c.start(owner)
	c.waitHealthy()
	return took, owner
}

// ownerOfMany starts a cluster with aws-stop fencing against moto (the
// fencer's EC2 calls counted; default timing) where n1 owns k groups.
func ownerOfMany(t testing.TB, k int) (*testCluster, *motoserver.Server, *motoserver.Calls) {
	t.Helper()
	c, moto, hv := awsCluster(t, "n1", "n2", "w1")
	calls := countingFences(t, moto, hv)
	keepLogs(t, c)
	c.configure(func(m *testMember) { m.cfg.Timing = defaultTiming() })
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, time.Minute), []byte(manyGroups(t.TempDir(), k, "n1")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitAllOnline(2*time.Minute, k, "n1")
	calls.Take()
	return c, moto, calls
}

// TestTakeoverOfManyGroupsStopsTheOwnerOnce: the owner of 20 groups
// crashes; the winner fences its instance once for the takeover round
// (one StopInstances), not once per group, and every group comes online
// on the winner.
func TestTakeoverOfManyGroupsStopsTheOwnerOnce(t *testing.T) {
	const k = 20
	c, moto, calls := ownerOfMany(t, k)
	took, _ := takeoverOfMany(t, c, moto, k)
	got := calls.Take()
	t.Logf("owner of %d groups killed → all online on n2 in %s; fencer's EC2 calls: %v", k, took.Round(time.Millisecond), got)
	if got["StopInstances"] != 1 {
		t.Fatalf("StopInstances called %d times for one takeover of %d groups, want 1 (calls: %v)", got["StopInstances"], k, got)
	}
}

// BenchmarkFailoverGroups compares the takeover of an owner holding 1
// group with one holding 100 (RAFTHA_BENCH_MANY overrides it), with
// aws-stop fencing against moto and the default timing profile: the time
// from the owner's crash until every group is online on the other node,
// and the fencer's StopInstances and DescribeInstances calls per
// takeover. Goal: 100 groups within 1.2x of 1 group, one StopInstances.
// RAFTHA_BENCH_RUNS sets the runs per case (default 3).
func BenchmarkFailoverGroups(b *testing.B) {
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("RAFTHA_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	many := 100
	if v, err := strconv.Atoi(os.Getenv("RAFTHA_BENCH_MANY")); err == nil && v > 0 {
		many = v
	}
	medians := map[int]time.Duration{}
	for _, k := range []int{1, many} {
		c, moto, calls := ownerOfMany(b, k)
		var ds []time.Duration
		stops, describes := 0, 0
		for i := 0; i < runs; i++ {
			calls.Take()
			d, _ := takeoverOfMany(b, c, moto, k)
			got := calls.Take()
			ds = append(ds, d)
			stops, describes = max(stops, got["StopInstances"]), max(describes, got["DescribeInstances"])
		}
		medians[k] = median(ds)
		figure(b, fmt.Sprintf("failover of an owner of %d groups", k), medians[k], 20*time.Second,
			fmt.Sprintf("(median of %d; max per takeover: %d StopInstances, %d DescribeInstances)", runs, stops, describes))
		c.killAll()
	}
	ratio := float64(medians[many]) / float64(medians[1])
	verdict := "ok"
	if ratio > 1.2 {
		verdict = "OVER GOAL"
	}
	fmt.Printf("scale %-44s %10.2fx goal <= 1.2x     %s\n", fmt.Sprintf("failover %d groups / 1 group", many), ratio, verdict)
	benchtable.Print(benchtable.Row{Figure: fmt.Sprintf("failover %d groups / 1 group (aws-stop, moto)", many), Value: fmt.Sprintf("%.2fx (%s vs %s)", ratio, medians[many].Round(time.Millisecond), medians[1].Round(time.Millisecond)), Goal: "<= 1.2x", Command: "make bench (BenchmarkFailoverGroups, ./server)"})
}
