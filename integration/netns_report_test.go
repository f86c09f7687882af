package integration

// Results of the fault suite: one runResult per run, a table per scenario
// printed when the test binary ends and written to
// $RAFTHA_RESULTS_DIR/latest.txt (default integration/results/latest.txt).

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runResult is one run of one scenario.
type runResult struct {
	scenario   string
	run        int
	seed       int64
	violations []string        // safety
	failures   []string        // liveness or harness
	samples    []time.Duration // failover times as a user sees them
	notes      []string
	took       time.Duration
	failed     bool
}

var fiResults struct {
	sync.Mutex
	runs  []*runResult
	start time.Time
	seed  int64
}

// scenarioInfo describes a scenario in the table.
var scenarioInfo = map[string]string{}

func (c *fcluster) violation(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.res.violations = append(c.res.violations, msg)
	c.mu.Unlock()
	if c.collectOnly {
		c.t.Logf("safety violation (expected): %s", msg)
		return
	}
	c.t.Errorf("SAFETY VIOLATION: %s", msg)
}

func (c *fcluster) failure(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.res.failures = append(c.res.failures, msg)
	c.mu.Unlock()
	if c.collectOnly {
		c.t.Logf("failure (tolerated): %s", msg)
		return
	}
	c.t.Errorf("FAILURE: %s", msg)
}

func (c *fcluster) sample(d time.Duration, what string) {
	c.t.Helper()
	c.mu.Lock()
	c.res.samples = append(c.res.samples, d)
	c.mu.Unlock()
	c.note("measured %s: %s", what, d.Round(time.Millisecond))
}

func (c *fcluster) addNote(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.res.notes = append(c.res.notes, msg)
	c.mu.Unlock()
	c.note("note: %s", msg)
}

// faultRuns is RAFTHA_FAULT_RUNS (default 1: the CI sample).
func faultRuns() int {
	if n, err := strconv.Atoi(os.Getenv("RAFTHA_FAULT_RUNS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// faultSeed is RAFTHA_FAULT_SEED, or a seed from the clock chosen once per
// test binary (printed, so any run can be replayed).
func faultSeed() int64 {
	fiResults.Lock()
	defer fiResults.Unlock()
	if fiResults.seed == 0 {
		if s, err := strconv.ParseInt(os.Getenv("RAFTHA_FAULT_SEED"), 10, 64); err == nil && s != 0 {
			fiResults.seed = s
		} else {
			fiResults.seed = time.Now().UnixNano() % 1_000_000_007
		}
		fiResults.start = time.Now()
		fmt.Fprintf(os.Stderr, "fault suite: seed %d (replay with RAFTHA_FAULT_SEED=%d), %d run(s) per scenario\n", fiResults.seed, fiResults.seed, faultRuns())
	}
	return fiResults.seed
}

func scenarioSeed(base int64, name string, run int) int64 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return base*1000 + int64(h.Sum32()%1000)*1_000_000 + int64(run)
}

// runFaultScenario runs body RAFTHA_FAULT_RUNS times, each run on a fresh
// cluster of ids with its own seed, as subtests run1, run2, …
func runFaultScenario(t *testing.T, name, info string, ids []string, body func(c *fcluster)) {
	fiRequireRoot(t)
	scenarioInfo[name] = info
	runs := faultRuns()
	for i := 1; i <= runs; i++ {
		runFaultRun(t, name, i, runs, ids, nil, body)
	}
}

// runFaultScenarioModes runs body in each fencing mode of modes (those
// RAFTHA_FAULT_FENCING names, when set) as subtests MODE/run1, …: the
// RAFTHA_FAULT_RUNS runs are shared among the modes, at least one each.
// Each mode is its own row in the table (name/MODE).
func runFaultScenarioModes(t *testing.T, name, info string, ids []string, modes []string, opts []func(*fcluster), body func(c *fcluster)) {
	fiRequireRoot(t)
	if only := os.Getenv("RAFTHA_FAULT_FENCING"); only != "" {
		var keep []string
		for _, m := range modes {
			if strings.Contains(","+only+",", ","+m+",") {
				keep = append(keep, m)
			}
		}
		modes = keep
	}
	var vs []faultVariant
	for _, mode := range modes {
		o := append(append([]func(*fcluster){}, opts...), func(c *fcluster) { c.fencing = mode })
		vs = append(vs, faultVariant{name: mode, info: info, opts: o, body: body})
	}
	runFaultVariants(t, name, ids, vs)
}

// faultVariant is one variant of a scenario: its own subtest and row.
type faultVariant struct {
	name, info string
	opts       []func(*fcluster)
	body       func(c *fcluster)
}

// runFaultVariants runs each variant as subtests VARIANT/run1, …: the
// RAFTHA_FAULT_RUNS runs are shared among the variants, at least one
// each. Each variant is its own row in the table (name/VARIANT).
func runFaultVariants(t *testing.T, name string, ids []string, vs []faultVariant) {
	fiRequireRoot(t)
	runs := (faultRuns() + len(vs) - 1) / max(len(vs), 1)
	for _, v := range vs {
		row := name + "/" + v.name
		scenarioInfo[row] = v.info
		t.Run(v.name, func(t *testing.T) {
			for i := 1; i <= runs; i++ {
				runFaultRun(t, row, i, runs, ids, v.opts, v.body)
			}
		})
	}
}

// runFaultRun is run i of runs of scenario name, on a fresh cluster.
func runFaultRun(t *testing.T, name string, i, runs int, ids []string, opts []func(*fcluster), body func(c *fcluster)) {
	base := faultSeed()
	seed := scenarioSeed(base, name, i)
	res := &runResult{scenario: name, run: i, seed: seed}
	t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) {
		start := time.Now()
		// Registered first: runs after every other cleanup, teardown
		// included.
		t.Cleanup(func() {
			res.took = time.Since(start)
			res.failed = t.Failed()
			if res.failed && len(res.violations)+len(res.failures) == 0 {
				res.failures = append(res.failures, "aborted (see the test log)")
			}
			fiResults.Lock()
			fiResults.runs = append(fiResults.runs, res)
			fiResults.Unlock()
			t.Logf("scenario %s run %d: %d violation(s), %d failure(s), samples %v, took %s", name, i, len(res.violations), len(res.failures), res.samples, res.took.Round(time.Millisecond))
		})
		t.Logf("scenario %s run %d/%d seed %d (replay: RAFTHA_FAULT_SEED=%d go test ./integration -run '%s/run%d$')", name, i, runs, seed, base, t.Name()[:strings.LastIndex(t.Name(), "/")], i)
		c := newFCluster(t, ids, seed, res, opts...)
		body(c)
	})
}

// writeFaultReport prints the table and writes it to the results file.
// TestMain calls it after the tests; it does nothing when no fault run ran.
func writeFaultReport() {
	fiResults.Lock()
	runs := append([]*runResult(nil), fiResults.runs...)
	start, seed := fiResults.start, fiResults.seed
	fiResults.Unlock()
	if len(runs) == 0 {
		return
	}
	var order []string
	by := map[string][]*runResult{}
	for _, r := range runs {
		if _, ok := by[r.scenario]; !ok {
			order = append(order, r.scenario)
		}
		by[r.scenario] = append(by[r.scenario], r)
	}
	var b strings.Builder
	host, _ := os.Hostname()
	disk := "exec log on a shared temp file (disk resource not registered)"
	if diskRegistered() {
		disk = "disk resource on a loop device (ext4)"
	}
	fmt.Fprintf(&b, "raftha fault-injection results\n")
	fmt.Fprintf(&b, "date %s, host %s, seed %d, %d run(s) per scenario, wall time %s\n", time.Now().Format(time.RFC3339), host, seed, faultRuns(), time.Since(start).Round(time.Second))
	fmt.Fprintf(&b, "timing: heartbeat %s, lease %s, failover_timeout %s; fencing aws-stop (a /MODE row: that mode); shared disk: %s\n\n", fastTiming.heartbeat, fastTiming.lease, fastTiming.failover, disk)
	fmt.Fprintf(&b, "%-34s %5s %6s %10s %9s %8s %8s %8s  %s\n", "scenario", "runs", "failed", "violations", "failures", "samples", "median", "max", "failover time measured")
	total, failed, viol := 0, 0, 0
	for _, name := range order {
		rs := by[name]
		nv, nf, nfailed := 0, 0, 0
		var samples []time.Duration
		for _, r := range rs {
			nv += len(r.violations)
			nf += len(r.failures)
			if r.failed {
				nfailed++
			}
			samples = append(samples, r.samples...)
		}
		total += len(rs)
		failed += nfailed
		viol += nv
		med, max := "-", "-"
		if len(samples) > 0 {
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			med = fmtDur(samples[len(samples)/2])
			if len(samples)%2 == 0 {
				med = fmtDur((samples[len(samples)/2-1] + samples[len(samples)/2]) / 2)
			}
			max = fmtDur(samples[len(samples)-1])
		}
		fmt.Fprintf(&b, "%-34s %5d %6d %10d %9d %8d %8s %8s  %s\n", name, len(rs), nfailed, nv, nf, len(samples), med, max, scenarioInfo[name])
	}
	fmt.Fprintf(&b, "\ntotal: %d run(s), %d failed, %d safety violation(s)\n", total, failed, viol)
	var details []string
	for _, r := range runs {
		for _, v := range r.violations {
			details = append(details, fmt.Sprintf("  %s run %d (seed %d) VIOLATION: %s", r.scenario, r.run, r.seed, v))
		}
		for _, f := range r.failures {
			details = append(details, fmt.Sprintf("  %s run %d (seed %d) failure: %s", r.scenario, r.run, r.seed, f))
		}
		for _, n := range r.notes {
			details = append(details, fmt.Sprintf("  %s run %d (seed %d) note: %s", r.scenario, r.run, r.seed, n))
		}
	}
	if len(details) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(details, "\n"))
	}
	out := b.String()
	fmt.Print("\n" + out)
	dir := os.Getenv("RAFTHA_RESULTS_DIR")
	if dir == "" {
		dir = "results" // the package directory: integration/results
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		path := filepath.Join(dir, "latest.txt")
		if err := os.WriteFile(path, []byte(out), 0o644); err == nil {
			abs, _ := filepath.Abs(path)
			fmt.Printf("fault suite results written to %s\n", abs)
		} else {
			fmt.Fprintf(os.Stderr, "fault suite: %v\n", err)
		}
	}
}

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
