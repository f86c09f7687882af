package integration

// TestFaultPostgres: the PostgreSQL recipe (examples/postgres) under
// faults. Real PostgreSQL runs on the shared disk (the loop device's
// ext4) as the group's exec resource, through the recipe's pg-start,
// pg-stop and pg-check; the route-table virtual IP is made real by the
// test's VPC router (netns_pgsetup_test.go). A client in the root
// namespace inserts rows through the virtual IP, one psql per insert, and
// records every acknowledged commit with the node and epoch that served
// it. After each fault it reads the table on the final owner: every
// acknowledged id must be there, as served, and epochs never go down in
// id order (two servers never took writes at once). The suite's own
// checkers (disk log, fencing first, history, AWS state) run as in every
// scenario: the group also holds the suite's application.
//
//	flock /tmp/raftha-integration.lock go test ./integration -count=1 -v -run '^TestFaultPostgres$'
//	RAFTHA_FAULT_RUNS=N     # runs per fault
//	RAFTHA_PG_BIN=DIR       # PostgreSQL's programs (default: Debian's layout, then PATH)
//	RAFTHA_PG_SCRIPTS=DIR   # scripts to run instead of examples/postgres
//
// It skips when PostgreSQL is not installed (.ci/run installs Debian's).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pgAttempt is one insert by the client.
type pgAttempt struct {
	id         int64
	start, end int64 // mono
	ok         bool  // acknowledged: psql exited 0 with the row's node and epoch
	node       string
	epoch      uint64
}

// pgClient inserts rows through the virtual IP, one at a time.
type pgClient struct {
	pg     pgEnv
	vip    string
	mu     sync.Mutex
	atts   []pgAttempt
	cancel context.CancelFunc
	done   chan struct{}
}

// psql runs one statement through the virtual IP and returns its
// unaligned, tuples-only output.
func (pg pgEnv) psql(ctx context.Context, timeout time.Duration, vip, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := cmdOutCtx(ctx, []string{"PGCONNECT_TIMEOUT=2", "PGAPPNAME=raftha-fi"}, filepath.Join(pg.bin, "psql"),
		"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", vip, "-p", strconv.Itoa(pgPort), "-U", "postgres", "-d", "postgres", "-c", sql)
	return strings.TrimSpace(out), err
}

// startPGClient starts the client (bounded: 100000 inserts or 30 minutes).
func (c *fcluster) startPGClient(pg pgEnv, vip string) *pgClient {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	cl := &pgClient{pg: pg, vip: vip, cancel: cancel, done: make(chan struct{})}
	c.tb.onTeardown(cl.stop)
	go func() {
		defer close(cl.done)
		for id := int64(1); id <= 100000 && ctx.Err() == nil; id++ {
			a := pgAttempt{id: id, start: monoNow()}
			out, err := pg.psql(ctx, 3*time.Second, vip, fmt.Sprintf(
				"INSERT INTO acks (id, node, epoch) VALUES (%d, current_setting('raftha.node'), current_setting('raftha.epoch')::bigint) RETURNING node, epoch", id))
			a.end = monoNow()
			if node, ep, ok := strings.Cut(out, "|"); err == nil && ok && ctx.Err() == nil {
				if e, perr := strconv.ParseUint(ep, 10, 64); perr == nil {
					a.ok, a.node, a.epoch = true, node, e
				}
			}
			cl.mu.Lock()
			cl.atts = append(cl.atts, a)
			cl.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return cl
}

func (cl *pgClient) stop() {
	cl.cancel()
	<-cl.done
}

func (cl *pgClient) attempts() []pgAttempt {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]pgAttempt(nil), cl.atts...)
}

// waitAck waits until n inserts started at or after from were
// acknowledged by node at epoch, and returns when the first of them was.
func (cl *pgClient) waitAck(d time.Duration, from int64, node string, epoch uint64, n int) (int64, bool) {
	deadline := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		var first int64
		k := 0
		for _, a := range cl.attempts() {
			if a.ok && a.start >= from && a.node == node && a.epoch == epoch {
				if k == 0 {
					first = a.end
				}
				k++
			}
		}
		if k >= n {
			return first, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, false
}

// pgRun is one run's line in the PostgreSQL table.
type pgRun struct {
	fault                        string
	run                          int
	attempts, acked, lost, extra int
	failover                     time.Duration // fault → first commit acknowledged by the new owner
	failed                       bool
}

var pgResults struct {
	sync.Mutex
	runs []*pgRun
}

// pgVerify reads the table on the final owner through the virtual IP and
// checks every acknowledged commit against it.
func (c *fcluster) pgVerify(cl *pgClient, r *pgRun) {
	atts := cl.attempts()
	var out string
	var err error
	for i := 0; i < 10; i++ {
		if out, err = cl.pg.psql(context.Background(), 10*time.Second, cl.vip, "SELECT id, node, epoch FROM acks ORDER BY id"); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		c.failure("postgres: read the table on the final owner: %v", err)
		return
	}
	type row struct {
		node  string
		epoch uint64
	}
	rows := map[int64]row{}
	var lastEpoch uint64
	var lastID int64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		id, e1 := strconv.ParseInt(f[0], 10, 64)
		ep, e2 := strconv.ParseUint(f[2], 10, 64)
		if e1 != nil || e2 != nil {
			c.failure("postgres: bad row %q", line)
			continue
		}
		if ep < lastEpoch {
			c.violation("postgres: row %d written at epoch %d after row %d at epoch %d: two servers took writes", id, ep, lastID, lastEpoch)
		}
		lastEpoch, lastID = ep, id
		rows[id] = row{f[1], ep}
	}
	r.attempts = len(atts)
	var ackEpoch uint64
	shown := 0
	for _, a := range atts {
		_, present := rows[a.id]
		if !a.ok {
			if present {
				r.extra++ // committed, never acknowledged: allowed
			}
			continue
		}
		r.acked++
		if a.epoch < ackEpoch {
			c.violation("postgres: insert %d acknowledged at %s@%d after an acknowledgement at epoch %d", a.id, a.node, a.epoch, ackEpoch)
		}
		ackEpoch = max(ackEpoch, a.epoch)
		got, ok := rows[a.id]
		switch {
		case !ok:
			r.lost++
			if shown++; shown <= 5 {
				c.violation("postgres: acknowledged commit %d (%s@%d, at +%.3fs) is not in the table on the final owner", a.id, a.node, a.epoch, float64(a.end-c.t0)/1e9)
			}
		case got.node != a.node || got.epoch != a.epoch:
			c.violation("postgres: row %d says %s@%d, its acknowledgement %s@%d", a.id, got.node, got.epoch, a.node, a.epoch)
		}
	}
	c.note("postgres: %d inserts, %d acknowledged, %d lost, %d committed without acknowledgement; %d rows on the final owner", r.attempts, r.acked, r.lost, r.extra, len(rows))
}

// pgFaults are the faults, in the order they run.
var pgFaults = []struct{ name, info string }{
	{"owner-crash", "kill -9 agent + postgres on the owner, link down → commits on the other node"},
	{"owner-partition", "owner cut from its peers (still reaches AWS and clients) → commits on the other node"},
	{"transfer", "raftha ownership transfer → commits on the target"},
}

// TestFaultPostgres runs each fault RAFTHA_FAULT_RUNS times, then prints
// the table (and writes it to results/postgres.txt).
func TestFaultPostgres(t *testing.T) {
	fiRequireRoot(t)
	bin, err := findPostgres()
	if err != nil {
		t.Skip(err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pg := pgEnv{bin: bin, examples: filepath.Join(root, "examples", "postgres")}
	if d := os.Getenv("RAFTHA_PG_SCRIPTS"); d != "" {
		pg.examples = d // a modified copy of the recipe's scripts
	}
	pg.user, pg.uid, pg.gid = pgAccount(t)
	v, _ := cmdOut(10*time.Second, filepath.Join(bin, "postgres"), "--version")
	t.Logf("postgres: %s (%s), runs as %s", strings.TrimSpace(v), bin, pg.user)
	for _, f := range pgFaults {
		name := "postgres/" + f.name
		scenarioInfo[name] = f.info
		t.Run(f.name, func(t *testing.T) {
			for i := 1; i <= faultRuns(); i++ {
				r := &pgRun{fault: f.name, run: i}
				opts := []func(*fcluster){func(c *fcluster) {
					c.diskMB = 256
					c.extraYAML = func() string { return c.pgGroupYAML(pg) }
				}}
				runFaultRun(t, name, i, faultRuns(), twoNodes, opts, func(c *fcluster) {
					c.t.Cleanup(func() { r.failed = c.t.Failed() })
					c.pgScenario(pg, f.name, r)
				})
				pgResults.Lock()
				pgResults.runs = append(pgResults.runs, r)
				pgResults.Unlock()
			}
		})
	}
	writePGReport(t)
}

// pgScenario is one run: set up, load, fault, verify.
func (c *fcluster) pgScenario(pg pgEnv, fault string, r *pgRun) {
	vip := c.pgVIP()
	sleeper := c.pgInitDisk(pg)
	owner, g := c.setup(false)
	// setup saw the group online: pg-start got past the stale
	// postmaster.pid. It was stale in earnest only if its pid still lives.
	if !alive(sleeper) {
		c.failure("postgres: pid %d of the stale postmaster.pid died before the first start: the stale-file case was not exercised", sleeper)
	}
	other := c.otherNode(owner)
	c.startVIPRouter(vip)
	cl := c.startPGClient(pg, vip)
	if _, ok := cl.waitAck(30*time.Second, 0, owner.id, g.Epoch, 20); !ok {
		c.failure("postgres: no 20 commits acknowledged by %s@%d through %s", owner.id, g.Epoch, vip)
		cl.stop()
		c.finish("")
		return
	}
	c.sleepRand(500*time.Millisecond, 1500*time.Millisecond)
	t0 := monoNow()
	var g2 groupView
	ok := false
	switch fault {
	case "owner-crash":
		pids := c.crash(owner)
		for _, pid := range c.tb.nsPids(owner.id) {
			pids = append(pids, killTree(pid)...) // postgres: not the agent's child
		}
		c.setLink(owner, false)
		c.note("fault: killed %s (pids %v), link down", owner.id, pids)
		g2, ok = c.waitOnline(45*time.Second, "db online on "+other.id, func(x groupView) bool { return x.Owner == other.id && x.Epoch > g.Epoch })
	case "owner-partition":
		target := []string{"DROP", "REJECT"}[c.rng.Intn(2)]
		c.partition(owner, target)
		c.note("fault: partitioned %s from its peers (%s)", owner.id, target)
		g2, ok = c.waitOnline(45*time.Second, "db online on "+other.id, func(x groupView) bool { return x.Owner == other.id && x.Epoch > g.Epoch })
	case "transfer":
		nodes := c.nodes()
		via := nodes[c.rng.Intn(len(nodes))]
		out, err := c.cli(via, 60*time.Second, "ownership", "transfer", "db", "--to", other.id, "--timeout", "45s")
		m := transferDoneRE.FindStringSubmatch(out)
		if err != nil || m == nil {
			c.failure("transfer to %s via %s: %v (output %q)", other.id, via.id, err, out)
			break
		}
		ep, _ := strconv.ParseUint(m[2], 10, 64)
		c.acknowledge("transfer", m[1], ep)
		c.note("fault: transfer via %s: %s", via.id, strings.TrimSpace(out))
		g2, ok = groupView{Owner: m[1], Epoch: ep}, m[1] == other.id
		if !ok {
			c.violation("transfer to %s reported done on %s", other.id, m[1])
		}
	}
	if ok {
		if first, acked := cl.waitAck(45*time.Second, t0, g2.Owner, g2.Epoch, 1); acked {
			r.failover = time.Duration(first - t0)
			c.sample(r.failover, fault+" → first commit acknowledged by "+g2.Owner)
		} else {
			c.failure("postgres: no commit acknowledged by %s@%d after the fault", g2.Owner, g2.Epoch)
		}
		cl.waitAck(20*time.Second, t0, g2.Owner, g2.Epoch, 30)
	}
	if fault == "owner-partition" {
		c.heal(owner)
	}
	if _, settled := c.settled(45 * time.Second); settled {
		cl.stop()
		c.pgVerify(cl, r)
	} else {
		cl.stop()
	}
	c.finish(other.id)
	if fault == "owner-partition" {
		c.checkSelfFenced(owner, g.Epoch, t0)
	}
	if c.t.Failed() || os.Getenv("RAFTHA_FAULT_LOGS") != "" {
		// finish left the shared disk mounted here to read the log.
		logs, _ := filepath.Glob(filepath.Join(c.pgData(), "log", "startup-*.log"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			if len(data) > 6000 {
				data = data[len(data)-6000:]
			}
			c.t.Logf("---- %s (tail) ----\n%s", filepath.Base(l), data)
		}
	}
}

// writePGReport prints the PostgreSQL table and writes it to
// $RAFTHA_RESULTS_DIR/postgres.txt (default integration/results).
func writePGReport(t *testing.T) {
	pgResults.Lock()
	runs := append([]*pgRun(nil), pgResults.runs...)
	pgResults.Unlock()
	if len(runs) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "raftha PostgreSQL scenario (examples/postgres), %s, timing: heartbeat %s, lease %s, failover_timeout %s, fencing aws-stop\n\n",
		time.Now().UTC().Format(time.RFC3339), fastTiming.heartbeat, fastTiming.lease, fastTiming.failover)
	fmt.Fprintf(&b, "%-16s %4s %6s %8s %6s %4s %13s %9s\n", "fault", "runs", "failed", "inserts", "acked", "lost", "unacked-kept", "failover")
	for _, f := range pgFaults {
		var n, failed, att, acked, lost, extra int
		var times []string
		for _, r := range runs {
			if r.fault != f.name {
				continue
			}
			n++
			if r.failed {
				failed++
			}
			att, acked, lost, extra = att+r.attempts, acked+r.acked, lost+r.lost, extra+r.extra
			if r.failover > 0 {
				times = append(times, fmtDur(r.failover))
			} else {
				times = append(times, "-")
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%-16s %4d %6d %8d %6d %4d %13d %9s\n", f.name, n, failed, att, acked, lost, extra, strings.Join(times, ","))
	}
	b.WriteString("\nfailover: from the fault until the first commit acknowledged by the new owner through the virtual IP (per run);\nunacked-kept: inserts whose answer was lost but which committed (allowed); lost: acknowledged commits missing (must be 0).\n")
	t.Logf("\n%s", b.String())
	dir := os.Getenv("RAFTHA_RESULTS_DIR")
	if dir == "" {
		dir = "results"
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "postgres.txt"), []byte(b.String()), 0o644)
	}
}
