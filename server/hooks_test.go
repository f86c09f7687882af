package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// readEnvFile reads the KEY=VALUE lines a hook wrote.
func readEnvFile(path string) (map[string]string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env, true
}

// recordHookCommand appends a hook's RAFTHA_* environment to the file
// DIR/NODE.EVENT.EPOCH.
const recordHookCommand = `env | grep ^RAFTHA_ | sort >> "$0/$RAFTHA_NODE.$RAFTHA_EVENT.$RAFTHA_EPOCH"`

// hookCluster is n1, n2, w1 with a 700ms stop_deadline and, on every
// member, one hook: name running script (with $0 a fresh directory,
// returned) on events.
func hookCluster(t *testing.T, name, script string, timeout time.Duration, events ...fsm.EventKind) (*testCluster, string) {
	c := newTestCluster(t, "n1", "n2", "w1")
	dir := t.TempDir()
	c.configure(func(m *testMember) {
		m.cfg.Fencing.StopDeadline = config.Duration(700 * time.Millisecond)
		m.cfg.Hooks = []config.HookConfig{{Name: name, Command: []string{"/bin/sh", "-c", script, dir}, Events: events, Timeout: config.Duration(timeout)}}
	})
	return c, dir
}

// TestHookRunsOnlineOnTheNewOwnerAfterATransfer: a hook that records its
// environment runs on n2 for online at the new epoch after a transfer,
// on n2 for assigned, on n1 for stopping and stopped at the old epoch,
// (and assigned and online at the first placement), and nowhere else.
func TestHookRunsOnlineOnTheNewOwnerAfterATransfer(t *testing.T) {
	c, dir := hookCluster(t, "record", recordHookCommand, 5*time.Second, fsm.KindOnline, fsm.KindAssigned, fsm.KindStopping, fsm.KindStopped)
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := c.waitOnline("db", "n1").Status.Epoch
	if _, err := c.member("n1").srv.Transfer(ctxT(t, 30*time.Second), "db", "n2", "test"); err != nil {
		t.Fatal(err)
	}
	e2 := c.waitOnline("db", "n2").Status.Epoch
	online := filepath.Join(dir, "n2.online."+strconv.FormatUint(e2, 10))
	var env map[string]string
	waitFor(t, 10*time.Second, "the online hook on n2", func() bool {
		var ok bool
		env, ok = readEnvFile(online)
		return ok && env["RAFTHA_SEQ"] != ""
	})
	t.Logf("n2's online hook saw: %v", env)
	want := map[string]string{"RAFTHA_EVENT": "online", "RAFTHA_GROUP": "db", "RAFTHA_NODE": "n2", "RAFTHA_EPOCH": strconv.FormatUint(e2, 10), "RAFTHA_HOOK": "record"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, f := range []string{"n1.assigned." + strconv.FormatUint(e1, 10), "n2.assigned." + strconv.FormatUint(e2, 10), "n1.stopping." + strconv.FormatUint(e1, 10), "n1.stopped." + strconv.FormatUint(e1, 10), "n1.online." + strconv.FormatUint(e1, 10)} {
		waitFor(t, 10*time.Second, "hook file "+f, func() bool { _, ok := readEnvFile(filepath.Join(dir, f)); return ok })
	}
	if env, _ := readEnvFile(filepath.Join(dir, "n2.assigned."+strconv.FormatUint(e2, 10))); env["RAFTHA_CAUSE"] != string(fsm.CausePlanned) || env["RAFTHA_FROM"] != "n1" || env["RAFTHA_TO"] != "n2" {
		t.Errorf("assigned hook env %v: want cause planned, from n1, to n2", env)
	}
	time.Sleep(300 * time.Millisecond) // any stray run would have written by now
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if len(names) != 6 {
		t.Errorf("hook runs %v, want exactly n1 assigned/online/stopping/stopped at %d and n2 assigned/online at %d", names, e1, e2)
	}
	scrape := c.scrape(t, c.member("n2"))
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, "raftha_hook_") {
			t.Logf("n2 /metrics: %s", l)
		}
	}
	if got, _ := metricValue(scrape, `raftha_hook_runs_total{hook="record",result="ok"}`); got != "2" {
		t.Errorf("raftha_hook_runs_total{hook=record,result=ok} on n2 = %q, want 2", got)
	}

	// A restarted member replays its log: history runs no hook again.
	c.kill("n1")
	c.start("n1")
	c.waitHealthy()
	applied := c.leader().srv.fsm.AppliedIndex()
	waitFor(t, 10*time.Second, "n1 caught up", func() bool { return c.member("n1").srv.fsm.AppliedIndex() >= applied })
	time.Sleep(500 * time.Millisecond)
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Count(string(b), "RAFTHA_EVENT=") != 1 {
			t.Errorf("%s: hook ran %d times, want once (history replayed after a restart runs nothing)", filepath.Base(f), strings.Count(string(b), "RAFTHA_EVENT="))
		}
	}
}

// TestHookThatHangsIsKilledAndDoesNotDelayFailover: a hook that never
// returns, on every member and every ownership event, delays neither the
// cut-off owner's self-fence nor the takeover; it is killed, with its
// process group, at its timeout.
func TestHookThatHangsIsKilledAndDoesNotDelayFailover(t *testing.T) {
	const hookTimeout = 15 * time.Second
	// $$ is the shell, leader of the hook's process group.
	c, dir := hookCluster(t, "hang", `echo $$ >> "$0/pgids.$RAFTHA_NODE"; sleep 1000; echo never`, hookTimeout,
		fsm.KindAssigned, fsm.KindTakeover, fsm.KindOnline, fsm.KindFenced, fsm.KindStopping, fsm.KindStopped, fsm.KindSelfFenced)
	rec := filepath.Join(t.TempDir(), "rec")
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "recorder on n1", func() bool { return len(readIntervals(t, rec)) == 1 })
	waitFor(t, 5*time.Second, "n1's hook hanging", func() bool { _, err := os.Stat(filepath.Join(dir, "pgids.n1")); return err == nil })

	cut := time.Now()
	c.partition("n1")
	defer c.heal()
	c.waitOnline("db", "n2")
	took := time.Since(cut)
	n2 := c.member("n2").srv
	timedOut := func() float64 {
		return counterValues(t, n2.metrics.gatherer, "raftha_hook_runs_total", "hook", "result")["hang/timeout"]
	}
	// The group went online on n2 while n2's first hook (for takeover)
	// still hung: the takeover did not wait for it. (A takeover hook run
	// inline made the move wait for its timeout: 12.6s for a 10s one.)
	if n := timedOut(); n != 0 {
		t.Errorf("a hook of n2 had already timed out (%v) when the group came online %s after the cut: the takeover waited for it", n, took)
	}
	var first int
	waitFor(t, 5*time.Second, "n2's takeover hook started", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "pgids.n2"))
		if err != nil || len(strings.Fields(string(b))) == 0 {
			return false
		}
		first, err = strconv.Atoi(strings.Fields(string(b))[0])
		return err == nil
	})
	if err := syscall.Kill(-first, 0); err != nil {
		t.Errorf("n2's takeover hook (process group %d) no longer runs once the group is online (%v): the takeover waited for it", first, err)
	}
	cfg := c.member("n2").cfg
	// The usual time of a lease-only failover after a cut (as in
	// TestLeaseOnlyFailoverWaitsForTheLease), logged: a loaded machine
	// (load 10 on 2 cores) stretched it to 13.6s, so it is no assertion.
	t.Logf("partition → online on n2: %s (lease-only wait %s + failover_timeout %s; hook timeout %s)", took.Round(time.Millisecond), cfg.LeaseOnlyWait(), cfg.Timing.FailoverTimeout, hookTimeout)
	waitFor(t, 5*time.Second, "recorder on n2", func() bool { return len(readIntervals(t, rec)) == 2 })
	checkExclusive(t, readIntervals(t, rec)) // n1 self-fenced in time

	// The first hook on n2 is killed at its timeout, with its group.
	waitFor(t, hookTimeout+5*time.Second, "n2's first hook killed at its timeout", func() bool { return timedOut() >= 1 })
	scrape := c.scrape(t, c.member("n2"))
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, "raftha_hook_") {
			t.Logf("n2 /metrics: %s", l)
		}
	}
	// Its sleep, killed with it, may still wait to be reaped by init.
	waitFor(t, 3*time.Second, fmt.Sprintf("process group %d of the timed-out hook gone", first), func() bool {
		return errors.Is(syscall.Kill(-first, 0), syscall.ESRCH)
	})
	if !logHas(t, c.member("n2"), "hook failed", "killed (with its process group) after its timeout 15s") {
		t.Errorf("n2's log does not say the hook was killed at its timeout")
	}
}

// logHas reports whether a line of m's log holds every one of parts,
// logging the lines that do.
func logHas(t *testing.T, m *testMember, parts ...string) bool {
	t.Helper()
	found := false
	for _, l := range strings.Split(m.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			found = true
			t.Logf("%s log: %s", m.cfg.NodeID, l)
		}
	}
	return found
}

// counterValues reads the counter name from g, by its label values
// joined with "/" (in the order of labels).
func counterValues(t *testing.T, g prometheus.Gatherer, name string, labels ...string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			vals := make([]string, len(labels))
			for _, l := range m.GetLabel() {
				for i, want := range labels {
					if l.GetName() == want {
						vals[i] = l.GetValue()
					}
				}
			}
			out[strings.Join(vals, "/")] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestHookSelfFencedRunsOnTheCutOffOwner: the owner cut off from the
// others runs its self-fenced hook at once, while still cut off (the
// note cannot reach the log then); the winner runs takeover, fenced and
// online.
func TestHookSelfFencedRunsOnTheCutOffOwner(t *testing.T) {
	c, dir := hookCluster(t, "record", recordHookCommand, 5*time.Second, fsm.KindSelfFenced, fsm.KindTakeover, fsm.KindFenced, fsm.KindOnline)
	c.configure(func(m *testMember) { m.cfg.Hooks[0].Groups = []string{"db"} })
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := strconv.FormatUint(c.waitOnline("db", "n1").Status.Epoch, 10)
	c.partition("n1")
	defer c.heal()
	var env map[string]string
	waitFor(t, 10*time.Second, "n1's self-fenced hook while cut off", func() bool {
		var ok bool
		env, ok = readEnvFile(filepath.Join(dir, "n1.self-fenced."+e1))
		return ok && env["RAFTHA_REASON"] != ""
	})
	t.Logf("n1's self-fenced hook saw: %v", env)
	if env["RAFTHA_GROUP"] != "db" || env["RAFTHA_NODE"] != "n1" || env["RAFTHA_EPOCH"] != e1 {
		t.Errorf("self-fenced env %v", env)
	}
	e2 := strconv.FormatUint(c.waitOnline("db", "n2").Status.Epoch, 10)
	for _, f := range []string{"n2.takeover." + e2, "n2.fenced." + e2, "n2.online." + e2} {
		waitFor(t, 10*time.Second, "hook file "+f, func() bool { _, ok := readEnvFile(filepath.Join(dir, f)); return ok })
	}
	fenced, _ := readEnvFile(filepath.Join(dir, "n2.fenced."+e2))
	t.Logf("n2's fenced hook saw: %v", fenced)
	if fenced["RAFTHA_FROM"] != "n1" || fenced["RAFTHA_CAUSE"] != string(fsm.FencingLeaseOnly) {
		t.Errorf("fenced env %v: want from n1, cause lease-only", fenced)
	}
	// Healed, the note reaches the log: it runs the hook no second time.
	c.heal()
	waitFor(t, 15*time.Second, "the self-fenced note in the log", func() bool {
		for _, e := range c.events("db") {
			if e.Kind == fsm.KindSelfFenced && e.Node == "n1" {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if b, _ := os.ReadFile(filepath.Join(dir, "n1.self-fenced."+e1)); strings.Count(string(b), "RAFTHA_EVENT=") != 1 {
		t.Errorf("n1's self-fenced hook ran %d times, want once", strings.Count(string(b), "RAFTHA_EVENT="))
	}
}
