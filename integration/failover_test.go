package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/internal/testsupport/recorder"
)

// checkTakeoverHistory asserts the group's history has takeover → fenced →
// online, with the fence done by aws-stop on the old owner.
func checkTakeoverHistory(t *testing.T, st *statusView, from, to string) {
	t.Helper()
	evs := st.events("db")
	k := kinds(evs)
	if !strings.Contains(k, "takeover fenced online") {
		t.Fatalf("history %q lacks takeover → fenced → online", k)
	}
	for _, e := range evs {
		switch e.Kind {
		case "takeover":
			if e.From != from || e.To != to {
				t.Fatalf("takeover %s→%s, want %s→%s", e.From, e.To, from, to)
			}
		case "fenced":
			if e.Cause != "aws-stop" || e.From != from || e.Node != to {
				t.Fatalf("fenced event %+v: want %s fencing %s by aws-stop", e, to, from)
			}
		}
	}
}

// firstOf returns the first interval of node, or fails.
func firstOf(t *testing.T, ivs []interval, node string) interval {
	t.Helper()
	for _, iv := range ivs {
		if iv.Node == node {
			return iv
		}
	}
	t.Fatalf("no recorder interval of %s: %s", node, describeIntervals(ivs))
	return interval{}
}

// TestProcessKilledFailsOver: the owner's host dies (agent and recorder
// SIGKILLed). The leader declares it lost, the other node force-stops its
// instance (moto), and only then starts the group.
func TestProcessKilledFailsOver(t *testing.T) {
	c := newCluster(t, fastTiming)
	owner, other, g1 := c.setup()

	killedAt := time.Now()
	pids := c.crash(owner)
	t.Logf("killed %s's host: pids %v", owner.id, pids)
	if len(pids) < 2 {
		t.Fatalf("expected the agent and its recorder among the killed pids, got %v", pids)
	}

	st := c.waitStatus(30*time.Second, "group online on "+other.id, func(st *statusView) bool {
		g, ok := st.group("db")
		return ok && g.State == "online" && g.Owner == other.id && g.Epoch > g1.Epoch
	})
	t.Logf("owner kill → online on %s: %s", other.id, time.Since(killedAt).Round(time.Millisecond))
	g2, _ := st.group("db")
	if g2.Epoch <= g1.Epoch {
		t.Fatalf("epoch did not rise: %d -> %d", g1.Epoch, g2.Epoch)
	}
	if s := c.instanceState(owner); s != "stopped" {
		t.Fatalf("old owner's instance is %s, want stopped", s)
	}
	checkTakeoverHistory(t, st, owner.id, other.id)
	fencedAt, _, why := owner.poweredOff()
	if fencedAt.IsZero() {
		t.Fatal("the hypervisor never saw the old owner's instance stop")
	}
	if !strings.HasPrefix(why, "StopInstances") {
		t.Logf("note: old owner powered off by %q", why)
	}

	waitFor(t, 10*time.Second, "recorder running on "+other.id, func() bool {
		ivs := readIntervals(t, c.rec)
		return len(ivs) == 2 && ivs[1].Node == other.id && ivs[1].N >= 5
	})
	ivs := readIntervals(t, c.rec)
	t.Logf("intervals: %s; fence at %s", describeIntervals(ivs), fencedAt.Format("15:04:05.000"))
	checkExclusive(t, ivs)
	if first := firstOf(t, ivs, other.id); !first.First.After(fencedAt) {
		t.Fatalf("%s acted at %s, before the fence completed at %s", other.id, first.First.Format("15:04:05.000"), fencedAt.Format("15:04:05.000"))
	}
	if len(ivs) != 2 || ivs[0].Node != owner.id || ivs[0].Epoch != g1.Epoch || ivs[1].Epoch != g2.Epoch {
		t.Fatalf("want %s@%d then %s@%d, got %s", owner.id, g1.Epoch, other.id, g2.Epoch, describeIntervals(ivs))
	}
}

// TestProcessPausedLongerThanFailoverIsFenced: the owner's agent (not its
// recorder) is stopped for longer than failover_timeout. Its recorder keeps
// acting, lease or not; only the fence (its VM stopped) ends it, and the
// other node starts strictly after that.
func TestProcessPausedLongerThanFailoverIsFenced(t *testing.T) {
	c := newCluster(t, fastTiming)
	owner, other, g1 := c.setup()

	pausedAt := time.Now()
	if !c.pause(owner) {
		t.Fatalf("pause %s: agent not running", owner.id)
	}
	st := c.waitStatus(30*time.Second, "group online on "+other.id, func(st *statusView) bool {
		g, ok := st.group("db")
		return ok && g.State == "online" && g.Owner == other.id && g.Epoch > g1.Epoch
	})
	t.Logf("owner pause → online on %s: %s", other.id, time.Since(pausedAt).Round(time.Millisecond))
	c.resume(owner) // harmless: the hypervisor killed it

	offAt, pids, why := owner.poweredOff()
	if offAt.IsZero() {
		t.Fatal("the paused owner was never powered off")
	}
	t.Logf("hypervisor killed %s %s after the pause (%s): pids %v", owner.id, offAt.Sub(pausedAt).Round(time.Millisecond), why, pids)
	if len(pids) < 2 {
		t.Fatalf("the hypervisor should have killed the paused agent and its recorder, killed %v", pids)
	}
	// The leader counts failover_timeout from the owner's last heartbeat,
	// which came at most a few heartbeats before the pause.
	if d := offAt.Sub(pausedAt); d < c.timing.lease {
		t.Fatalf("fenced %s after the pause: too early for failover_timeout %s to have run out", d, c.timing.failover)
	}
	if s := c.instanceState(owner); s != "stopped" {
		t.Fatalf("old owner's instance is %s, want stopped", s)
	}
	checkTakeoverHistory(t, st, owner.id, other.id)
	g2, _ := st.group("db")

	waitFor(t, 10*time.Second, "recorder running on "+other.id, func() bool {
		ivs := readIntervals(t, c.rec)
		return len(ivs) == 2 && ivs[1].Node == other.id && ivs[1].N >= 5
	})
	ivs := readIntervals(t, c.rec)
	t.Logf("intervals: %s; paused at %s, killed at %s", describeIntervals(ivs), pausedAt.Format("15:04:05.000"), offAt.Format("15:04:05.000"))
	checkExclusive(t, ivs)
	old, next := firstOf(t, ivs, owner.id), firstOf(t, ivs, other.id)
	if !next.First.After(offAt) {
		t.Fatalf("%s started at %s, before the hypervisor killed %s at %s", other.id, next.First.Format("15:04:05.000"), owner.id, offAt.Format("15:04:05.000"))
	}
	// The paused agent could not stop its recorder: it ran past the lease
	// until the VM was stopped. That is what the fence is for.
	if !old.Last.After(pausedAt.Add(c.timing.lease)) {
		t.Fatalf("%s's recorder stopped at %s, within the lease after the pause at %s: it should have run until the fence", owner.id, old.Last.Format("15:04:05.000"), pausedAt.Format("15:04:05.000"))
	}
	if !old.Last.Before(offAt) {
		t.Fatalf("%s's recorder wrote at %s, after it was killed at %s", owner.id, old.Last.Format("15:04:05.000"), offAt.Format("15:04:05.000"))
	}
	if g2.Owner != other.id || next.Epoch != g2.Epoch {
		t.Fatalf("owner %s@%d, recorder %s@%d", g2.Owner, g2.Epoch, next.Node, next.Epoch)
	}
}

// TestProcessPausedBeyondLeaseStopsItsResources: the owner's agent is
// stopped for longer than its lease but shorter than failover_timeout.
// Nobody takes over; when the agent runs again it finds its lease expired,
// stops its resources by itself (self-fence), re-confirms with the leader
// and starts them again at the same epoch.
func TestProcessPausedBeyondLeaseStopsItsResources(t *testing.T) {
	tm := timing{heartbeat: 100 * time.Millisecond, lease: 600 * time.Millisecond, failover: 3 * time.Second}
	const pauseFor = 1500 * time.Millisecond
	c := newCluster(t, tm)
	owner, _, g1 := c.setup()
	life := readLife(t, c.rec)
	if len(life) != 1 || life[0].What != "start" || life[0].Node != owner.id {
		t.Fatalf("recorder lives before the pause: %s", describeLife(life))
	}
	firstPID := life[0].PID

	pausedAt := time.Now()
	if !c.pause(owner) {
		t.Fatalf("pause %s: agent not running", owner.id)
	}
	time.Sleep(pauseFor)
	resumedAt := time.Now()
	c.resume(owner)
	t.Logf("paused %s for %s", owner.id, resumedAt.Sub(pausedAt).Round(time.Millisecond))

	var term, restart recorder.Life
	waitFor(t, 15*time.Second, "the recorder stopped by "+owner.id+" and started again", func() bool {
		term, restart = recorder.Life{}, recorder.Life{}
		for _, e := range readLife(t, c.rec) {
			switch {
			case e.What == "term" && e.PID == firstPID:
				term = e
			case e.What == "start" && e.PID != firstPID && restart.PID == 0:
				restart = e
			}
		}
		return term.PID != 0 && restart.PID != 0
	})
	t.Logf("recorder lives: %s", describeLife(readLife(t, c.rec)))
	if !term.At.After(resumedAt) {
		t.Fatalf("the recorder was stopped at %s, before the agent resumed at %s", term.At.Format("15:04:05.000"), resumedAt.Format("15:04:05.000"))
	}
	if restart.Node != owner.id || restart.Epoch != g1.Epoch || !restart.At.After(term.At) {
		t.Fatalf("restart %+v: want %s@%d after the stop at %s", restart, owner.id, g1.Epoch, term.At.Format("15:04:05.000"))
	}

	st := c.waitStatus(15*time.Second, "group online on "+owner.id+" again", func(st *statusView) bool {
		g, ok := st.group("db")
		return ok && g.State == "online" && g.Owner == owner.id
	})
	g2, _ := st.group("db")
	if g2.Epoch != g1.Epoch {
		t.Fatalf("epoch changed %d -> %d: ownership moved", g1.Epoch, g2.Epoch)
	}
	evs := st.events("db")
	selfFenced := false
	for _, e := range evs {
		if e.Kind == "takeover" || e.Kind == "fenced" {
			t.Fatalf("a %s happened though the pause was shorter than failover_timeout: %s", e.Kind, kinds(evs))
		}
		selfFenced = selfFenced || (e.Kind == "self-fenced" && e.Node == owner.id)
	}
	t.Logf("history: %s", kinds(evs))
	if !selfFenced {
		var lines []string
		for _, l := range strings.Split(c.agentLog(owner), "\n") {
			if strings.Contains(l, "self-fenc") || strings.Contains(l, "heartbeat") || strings.Contains(l, "raft") && strings.Contains(l, "[WARN]") {
				lines = append(lines, l)
			}
		}
		t.Logf("note: no self-fenced event in the history (the agent records it best effort); %s's log:\n%s", owner.id, strings.Join(lines, "\n"))
	}
	if log := c.agentLog(owner); !strings.Contains(log, "lease expired: self-fencing") {
		t.Fatalf("%s's log does not say %q", owner.id, "lease expired: self-fencing")
	}
	if s := c.instanceState(owner); s != "running" {
		t.Fatalf("%s's instance is %s: nobody should have fenced it", owner.id, s)
	}
	if at, _, _ := owner.poweredOff(); !at.IsZero() {
		t.Fatalf("%s was powered off at %s", owner.id, at.Format("15:04:05.000"))
	}

	waitFor(t, 5*time.Second, "the restarted recorder writing", func() bool {
		recs := readRecords(t, c.rec)
		return len(recs) > 0 && recs[len(recs)-1].At.After(restart.At.Add(20*time.Millisecond))
	})
	recs := readRecords(t, c.rec)
	// While the agent was paused its recorder kept running (nothing could
	// stop it); after the resume it stopped, leaving a gap until the
	// restart.
	var duringPause int
	var gapFrom, gapTo time.Time
	for i, r := range recs {
		if r.Node != owner.id {
			t.Fatalf("%s recorded while %s owned the group", r.Node, owner.id)
		}
		if r.At.After(pausedAt.Add(tm.lease)) && r.At.Before(resumedAt) {
			duringPause++
		}
		if !r.At.After(term.At) && (i+1 == len(recs) || recs[i+1].At.After(term.At)) {
			gapFrom = r.At
			if i+1 < len(recs) {
				gapTo = recs[i+1].At
			}
		}
	}
	if duringPause == 0 {
		t.Fatalf("no records between the lease's end and the resume: the recorder should have kept running while the agent was paused")
	}
	if gapTo.IsZero() || gapTo.Before(restart.At) {
		t.Fatalf("no gap in the records from the self-fence (%s) to the restart (%s): next record after the stop at %s", term.At.Format("15:04:05.000"), restart.At.Format("15:04:05.000"), gapTo.Format("15:04:05.000"))
	}
	t.Logf("recorder gap %s..%s (%s); self-fence %s after the resume; restart %s later",
		gapFrom.Format("15:04:05.000"), gapTo.Format("15:04:05.000"), gapTo.Sub(gapFrom).Round(time.Millisecond),
		term.At.Sub(resumedAt).Round(time.Millisecond), restart.At.Sub(term.At).Round(time.Millisecond))
	checkExclusive(t, readIntervals(t, c.rec))
}
