package server

// Start retries and the automatic retry of a group that failed everywhere
// (issue #17): a transient start failure must not turn into a failover,
// let alone an outage, and a retry must keep every safety rule of a
// failed start (issue #10): what started is stopped before anything starts
// again, a stop that fails ends the retries as stop-failed, and a worker
// never starts again at an epoch it gave up.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
)

// retryGroup is a group "db" whose one exec resource marks dir/on.NODE
// while it runs and appends "NODE EPOCH" to dir/starts at every start.
// dir/fail-starts.NODE holds a number K: the node's first K starts take
// effect and then exit 1. dir/fail-stop.NODE makes the node's stops exit 1
// and leave the mark. extra are group-level lines of the group file.
func retryGroup(dir string, extra []string, nodes ...string) string {
	on := dir + "/on.$RAFTHA_NODE"
	var ex string
	for _, l := range extra {
		ex += "    " + l + "\n"
	}
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [%s]
%s    resources:
      - name: app
        type: exec
        start: 'touch %[3]s; echo "$RAFTHA_NODE $RAFTHA_EPOCH" >> %[4]s/starts; n=$(grep -c "^$RAFTHA_NODE " %[4]s/starts); if [ -e %[4]s/fail-starts.$RAFTHA_NODE ] && [ "$n" -le "$(cat %[4]s/fail-starts.$RAFTHA_NODE)" ]; then exit 1; fi'
        stop: 'if [ -e %[4]s/fail-stop.$RAFTHA_NODE ]; then exit 1; fi; rm -f %[3]s'
        timeout: 10s
`, strings.Join(nodes, ", "), ex, on, dir)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startsOn counts the starts of node in dir/starts, by epoch.
func startsOn(dir, node string) (n int, epochs map[string]int) {
	epochs = map[string]int{}
	for _, s := range starts(dir) {
		if e, ok := strings.CutPrefix(s, node+"@"); ok {
			n++
			epochs[e]++
		}
	}
	return n, epochs
}

// TestStartRetrySucceedsOnSameNode: a start that fails twice and then
// succeeds keeps the group on its node, at its epoch: no failed report,
// no failover (start_retries defaults to 2).
func TestStartRetrySucceedsOnSameNode(t *testing.T) {
	dir, c, _, x := retryCluster(t, 2*time.Second, map[string]int{"n1": 2})
	c.apply(t, retryGroup(dir, []string{"start_retry_backoff: 300ms"}, "n1", "n2"))
	g := c.waitOnline("db", "")
	x.check(t)
	var placed uint64
	for _, e := range c.events("db") {
		if e.Kind == fsm.KindAssigned && placed == 0 {
			placed = e.Epoch
		}
		if e.Kind == fsm.KindFailed {
			t.Fatalf("a failed report although the third start succeeded: %+v (events %s)", e, kinds(c.events("db")))
		}
	}
	if g.Status.Owner != "n1" || g.Status.Epoch != placed {
		t.Fatalf("group online on %s at epoch %d, want n1 at its placement epoch %d (events %s)", g.Status.Owner, g.Status.Epoch, placed, kinds(c.events("db")))
	}
	if n, _ := startsOn(dir, "n1"); n != 3 {
		t.Fatalf("n1 started %d times, want 3 (two failures, then success): %v", n, starts(dir))
	}
	if n, _ := startsOn(dir, "n2"); n != 0 {
		t.Fatalf("n2 started the group: %v", starts(dir))
	}
	// The retry notes are committed in the background (recordEventually):
	// under load they may land after the group is online.
	waitFor(t, 10*time.Second, "two start-retry events", func() bool { return countKind(c.events("db"), fsm.KindStartRetry) >= 2 })
	if r := countKind(c.events("db"), fsm.KindStartRetry); r != 2 {
		t.Fatalf("%d start-retry events, want 2: %s", r, kinds(c.events("db")))
	}
	if ch := history.Why(c.leader().srv.State(), "db"); len(ch) != 1 || ch[0].StartRetries != 2 || !ch[0].Online {
		t.Fatalf("why: %+v", ch)
	}
}

// retryCluster starts a faultCluster with the given stop_deadline in a new
// directory, where failStarts[NODE] of NODE's first starts fail, and
// watches that directory for two nodes acting at once.
func retryCluster(t *testing.T, stopDeadline time.Duration, failStarts map[string]int) (string, *testCluster, *hardActions, *exclusion) {
	dir := t.TempDir()
	c, h := faultCluster(t, dir, stopDeadline)
	for node, k := range failStarts {
		writeFile(t, filepath.Join(dir, "fail-starts."+node), fmt.Sprint(k))
	}
	return dir, c, h, watchExclusion(t, dir)
}

// waitFirstFailureStopped waits until n1's first start failed and was
// stopped: n1 now waits to retry.
func waitFirstFailureStopped(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, 10*time.Second, "n1's first failed start stopped", func() bool {
		n, _ := startsOn(dir, "n1")
		return n == 1 && !exists(filepath.Join(dir, "on.n1"))
	})
}

func countKind(evs []fsm.Event, k fsm.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// TestStartRetryExhaustedFailsOver: a start that always fails is retried
// exactly start_retries times on its node, each failed attempt stopped,
// and then the group fails over.
func TestStartRetryExhaustedFailsOver(t *testing.T) {
	dir, c, _, x := retryCluster(t, 2*time.Second, map[string]int{"n1": 99})
	c.apply(t, retryGroup(dir, []string{"start_retries: 3", "start_retry_backoff: 200ms"}, "n1", "n2"))
	c.waitOnline("db", "n2")
	time.Sleep(300 * time.Millisecond)
	x.check(t)
	n, epochs := startsOn(dir, "n1")
	if n != 4 || len(epochs) != 1 {
		t.Fatalf("n1 started %d times at epochs %v, want 4 (1 + start_retries 3) at one epoch: %v", n, epochs, starts(dir))
	}
	if exists(filepath.Join(dir, "on.n1")) {
		t.Fatal("n1's failed starts left their effect in place")
	}
	var failed, moved bool
	for _, e := range c.events("db") {
		failed = failed || (e.Kind == fsm.KindFailed && e.Node == "n1")
		moved = moved || (e.Kind == fsm.KindAssigned && e.To == "n2" && e.Cause == fsm.CauseFailure)
	}
	if !failed || !moved {
		t.Fatalf("want n1's failed report and a failure move to n2: %s", kinds(c.events("db")))
	}
}

// TestStartRetryStopFailureIsStopFailed: when the stop of a failed start
// fails during the retries, the retries end: the group is reported
// stop-failed, n1 starts nothing more, and the group moves only by a
// fenced takeover after n1's hard action.
func TestStartRetryStopFailureIsStopFailed(t *testing.T) {
	dir, c, h, x := retryCluster(t, 1*time.Second, map[string]int{"n1": 99})
	c.apply(t, retryGroup(dir, []string{"start_retries: 3", "start_retry_backoff: 1s"}, "n1", "n2"))
	waitFirstFailureStopped(t, dir)
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	c.waitOnline("db", "n2")
	x.check(t)
	if n, _ := startsOn(dir, "n1"); n != 2 {
		t.Fatalf("n1 started %d times, want 2 (the retry whose stop failed, then nothing): %v", n, starts(dir))
	}
	var takeover bool
	for _, e := range c.events("db") {
		if e.Kind == fsm.KindAssigned && e.To == "n2" {
			t.Fatalf("moved to n2 without a fence although n1 could not stop it: %s", kinds(c.events("db")))
		}
		takeover = takeover || (e.Kind == fsm.KindTakeover && e.To == "n2" && e.Cause == fsm.CauseStopFailed)
	}
	if !takeover {
		t.Fatalf("no stop-failed takeover to n2: %s", kinds(c.events("db")))
	}
	if _, ok := h.when("n1"); !ok {
		t.Fatal("n1 could not stop its failed start and never took its hard action")
	}
	if n, _ := startsOn(dir, "n1"); n != 2 {
		t.Fatalf("n1 started again after its stop failed: %v", starts(dir))
	}
}

// TestFailedEverywhereRetriedAutomatically: a group that failed on every
// node comes back by itself after retry_failed_after, on its first node,
// without an operator.
func TestFailedEverywhereRetriedAutomatically(t *testing.T) {
	dir, c, _, x := retryCluster(t, 2*time.Second, map[string]int{"n1": 1, "n2": 1})
	c.apply(t, retryGroup(dir, []string{"start_retries: 0", "retry_failed_after: 2s"}, "n1", "n2"))
	var failedAt time.Time
	waitFor(t, 20*time.Second, "db failed on n1 and n2", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		gs := l.srv.State().Groups["db"].Status
		failedAt = time.Now()
		return gs.State == fsm.StateFailed && len(gs.FailedOn) == 2
	})
	var gs api.GroupStatus
	waitFor(t, 1500*time.Millisecond, "the next automatic retry in the status", func() bool {
		st, err := c.leader().srv.Status(ctxT(t, 5*time.Second))
		if err != nil || len(st.Groups) != 1 {
			return false
		}
		gs = st.Groups[0]
		return gs.NextRetry != nil
	})
	if at := gs.NextRetry.Sub(failedAt); at < 1500*time.Millisecond || at > 2500*time.Millisecond {
		t.Fatalf("next automatic retry %s after the group failed everywhere, want about retry_failed_after 2s: %+v", at, gs)
	}
	g := c.waitOnline("db", "n1")
	if since := time.Since(failedAt); since < 1500*time.Millisecond {
		t.Fatalf("retried %s after failing everywhere, before retry_failed_after 2s", since)
	}
	x.check(t)
	var retried bool
	for _, e := range c.events("db") {
		retried = retried || (e.Kind == fsm.KindAssigned && e.To == "n1" && e.Cause == fsm.CauseAutoRetry && e.Epoch == g.Status.Epoch)
	}
	if !retried {
		t.Fatalf("no auto-retry assignment to n1: %s", kinds(c.events("db")))
	}
}

// TestFailedEverywhereStopFailedNotRetried: the automatic retry never
// bypasses a stop-failed group: it waits for a fence or an operator.
func TestFailedEverywhereStopFailedNotRetried(t *testing.T) {
	dir, c, _, _ := retryCluster(t, 1*time.Second, map[string]int{"n1": 99})
	touch(t, filepath.Join(dir, "fail-stop.n1"))
	// n1 is the only node: nobody can fence it and take over.
	c.apply(t, retryGroup(dir, []string{"start_retries: 0", "retry_failed_after: 1s"}, "n1"))
	waitFor(t, 20*time.Second, "db stop-failed on n1", func() bool {
		l := c.leaderNow()
		return l != nil && l.srv.State().Groups["db"].Status.StopFailed
	})
	time.Sleep(3 * time.Second)
	gs := c.group("db").Status
	if !gs.StopFailed || gs.State != fsm.StateFailed {
		t.Fatalf("a stop-failed group was moved without a fence: %+v (events %s)", gs, kinds(c.events("db")))
	}
	if n, _ := startsOn(dir, "n1"); n != 1 {
		t.Fatalf("n1 started a stop-failed group again: %v", starts(dir))
	}
}

// TestStartRetryStopsWhenLogMovesOn: a retry is only ever made at the
// epoch whose start failed: once the log moves on (here an operator moves
// the group while n1 waits to retry), n1 starts nothing more.
func TestStartRetryStopsWhenLogMovesOn(t *testing.T) {
	dir, c, _, x := retryCluster(t, 2*time.Second, map[string]int{"n1": 99})
	c.apply(t, retryGroup(dir, []string{"start_retries: 3", "start_retry_backoff: 3s"}, "n1", "n2"))
	waitFirstFailureStopped(t, dir)
	if _, err := c.leader().srv.Transfer(ctxT(t, 20*time.Second), "db", "n2", "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n2")
	time.Sleep(4 * time.Second) // past n1's retry time
	x.check(t)
	if n, _ := startsOn(dir, "n1"); n != 1 {
		t.Fatalf("n1 retried its start after the group moved to n2: %v", starts(dir))
	}
	if g := c.group("db"); g.Status.Owner != "n2" || g.Status.State != fsm.StateOnline {
		t.Fatalf("group %+v", g.Status)
	}
}
