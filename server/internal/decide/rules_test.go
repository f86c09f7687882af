package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
)

// TestHandOverTable: who the leader hands leadership to (clause 6: a
// witness only orchestrates; an owner that leads costs an election on top
// of a failover), on a fake clock.
func TestHandOverTable(t *testing.T) {
	fo := timing.FailoverTimeout
	all := []Voter{{"n1", true}, {"n2", true}, {"n3", true}, {"w1", true}}
	for _, tc := range []struct {
		name     string
		w        world
		selfRole fsm.Role
		owners   []string
		relayed  string
		last     time.Duration // last hand-over, from readiness (0: none)
		voters   []Voter
		unknown  bool // the Raft configuration cannot be read
		want     string
	}{
		{"witness hands to an idle node first", world{now: fo}, fsm.RoleWitness, []string{"n1"}, "", 0, all, false, "n2"},
		{"witness hands to an owner when every node owns", world{now: fo}, fsm.RoleWitness, []string{"n1", "n2", "n3"}, "", 0, all, false, "n1"},
		{"not before failover_timeout of leadership", world{now: fo - 1}, fsm.RoleWitness, nil, "", 0, all, false, ""},
		{"not within two failover timeouts of the last hand-over", world{now: 5 * time.Second}, fsm.RoleWitness, nil, "", 5*time.Second - 2*fo + 1, all, false, ""},
		{"again two failover timeouts after the last", world{now: 5 * time.Second}, fsm.RoleWitness, nil, "", 5*time.Second - 2*fo, all, false, "n1"},
		{"node leader owning nothing keeps it", world{now: fo, selfNode: true}, fsm.RoleNode, []string{"n2"}, "", 0, all, false, ""},
		{"owner leader hands to an idle node", world{now: fo, selfNode: true}, fsm.RoleNode, []string{"n1", "n2"}, "", 0, all, false, "n3"},
		{"owner leader stays when every other node owns", world{now: fo, selfNode: true}, fsm.RoleNode, []string{"n1", "n2", "n3"}, "", 0, all, false, ""},
		{"never a standby, leaving, lost, relayed or non-voting node", world{now: 5 * time.Second, standby: []string{"n1"}, leaving: []string{"n2"}, last: map[string]time.Duration{"n3": time.Second}}, fsm.RoleWitness, nil, "", 0, all, false, ""},
		{"never a node reached through a relay within failover_timeout", world{now: fo}, fsm.RoleWitness, nil, "n1", 0, []Voter{{"n1", true}, {"n2", false}}, false, ""},
		{"never a witness", world{now: fo}, fsm.RoleNode, nil, "", 0, []Voter{{"w1", true}}, false, ""},
		{"configuration unknown: keep", world{now: fo}, fsm.RoleWitness, nil, "", 0, nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.w.input(t)
			for i, o := range tc.owners {
				in.State.Groups[o] = &fsm.Group{Spec: fsm.GroupSpec{Name: o, Nodes: []string{o}}, Status: fsm.GroupStatus{Owner: o, State: fsm.StateOnline, Epoch: uint64(i + 1)}}
			}
			if tc.relayed != "" {
				in.Contacts.SetRelayed(tc.relayed, true) // now
			}
			var last time.Time
			if tc.last != 0 {
				last = t0.Add(tc.last)
			}
			got := HandOver(in.State, in.Contacts, tc.selfRole, last, func() ([]Voter, bool) { return tc.voters, !tc.unknown })
			if got != tc.want {
				t.Fatalf("HandOver = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestContactsRuns: a run of contact restarts after a gap of
// failover_timeout (the failback delay counts from it), a relayed
// heartbeat bars a leadership transfer for failover_timeout, and the
// leader's own leaving flag is read from the member.
func TestContactsRuns(t *testing.T) {
	clk := clock.NewFake(t0)
	leaving := false
	c := NewContacts(clk, "n1", timing, func() (string, time.Time) { return "n1", t0 }, func() bool { return leaving })
	if c.PrevLeaderGone("n1") {
		t.Fatal("this member as the previous leader is never gone")
	}
	at := func(d time.Duration) { clk.Set(t0.Add(d)) }
	if got := c.DescribeContact("n2"); got != "not heard from since this leader took over 0s ago" {
		t.Fatalf("describe before contact: %q", got)
	}
	at(time.Second)
	c.Seen("n2")
	at(time.Second + timing.FailoverTimeout - 1) // a gap just short of failover_timeout: same run
	c.Seen("n2")
	if d := c.HealthyFor("n2"); d != timing.FailoverTimeout-1 {
		t.Fatalf("healthy for %s, want the run since 1s", d)
	}
	at(3*time.Second + 2*timing.FailoverTimeout) // a gap of failover_timeout: lost, then a new run
	if c.HealthyFor("n2") != 0 || !c.Lost("n2") {
		t.Fatal("after failover_timeout of silence n2 must be lost and not healthy")
	}
	c.Seen("n2")
	at(4*time.Second + 2*timing.FailoverTimeout)
	if d := c.HealthyFor("n2"); d != time.Second {
		t.Fatalf("healthy for %s after the gap, want 1s (a new run)", d)
	}
	if got := c.DescribeContact("n2"); got != "last heard from 1s ago" {
		t.Fatalf("describe: %q", got)
	}
	c.SetRelayed("n2", true)
	at(4*time.Second + 3*timing.FailoverTimeout - 1)
	if c.ReachedDirectly("n2") {
		t.Fatal("reached directly within failover_timeout of a relayed heartbeat")
	}
	at(4*time.Second + 3*timing.FailoverTimeout)
	if !c.ReachedDirectly("n2") {
		t.Fatal("not reached directly failover_timeout after the last relayed heartbeat")
	}
	if c.Leaving("n1") {
		t.Fatal("self leaving before the flag is set")
	}
	leaving = true
	if !c.Leaving("n1") || c.Lost("n1") || !c.Healthy("n1") || c.LastContact("n1") != 0 {
		t.Fatal("self: leaving from the member's flag, never lost, always healthy")
	}
}

// TestAutoRetryTable: a group failed everywhere is placed again only
// retry_failed_after after the leader first saw it so (cause auto-retry),
// never when its stop failed, when suspended, or with the retry off.
func TestAutoRetryTable(t *testing.T) {
	const after = 30 * time.Second
	nodes := []string{"n1", "n2"}
	failed := func(mut func(*fsm.Group)) *fsm.Group {
		g := group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, FailedOn: nodes, Reason: "check failed"})
		g.Spec.RetryFailedAfter = after
		if mut != nil {
			mut(g)
		}
		return g
	}
	for _, tc := range []struct {
		name  string
		w     world
		since time.Duration // when the leader first saw it failed everywhere
		g     *fsm.Group
		want  Decision
	}{
		{"due exactly retry_failed_after later", world{now: 40 * time.Second}, 10 * time.Second, failed(nil),
			Decision{Rule: RuleRecover, Action: Retry, To: "n1", Cause: fsm.CauseAutoRetry}},
		{"not yet due", world{now: 40 * time.Second}, 10*time.Second + 1, failed(nil),
			Decision{Rule: RuleRecover, Action: Wait}},
		{"due, first node lost: the next one", world{now: 40 * time.Second, last: map[string]time.Duration{"n1": time.Second}}, 0, failed(nil),
			Decision{Rule: RuleRecover, Action: Retry, To: "n2", Cause: fsm.CauseAutoRetry}},
		{"due, no healthy node", world{now: 40 * time.Second, last: map[string]time.Duration{"n1": time.Second, "n2": time.Second}}, 0, failed(nil),
			Decision{Rule: RuleRecover}},
		{"stop-failed: never retried", world{now: 40 * time.Second}, 0, failed(func(g *fsm.Group) { g.Status.StopFailed = true }),
			Decision{Rule: RuleRecover}},
		{"suspended: never retried", world{now: 40 * time.Second}, 0, failed(func(g *fsm.Group) { g.Status.Suspended = true }),
			Decision{Rule: RuleRecover}},
		{"retry_failed_after 0: never retried", world{now: 40 * time.Second}, 0, failed(func(g *fsm.Group) { g.Spec.RetryFailedAfter = 0 }),
			Decision{Rule: RuleRecover}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.w.input(t)
			asked := false
			got := AutoRetry(in, tc.g, func() time.Time { asked = true; return t0.Add(tc.since) })
			if got.Action == Retry && !strings.Contains(got.Reason, "retried automatically after retry_failed_after 30s (last failure: check failed)") {
				t.Fatalf("reason %q", got.Reason)
			}
			got.Reason = ""
			if got != tc.want {
				t.Fatalf("decision\n got %+v\nwant %+v", got, tc.want)
			}
			if asked != Retryable(tc.g) {
				t.Fatalf("failedSince asked %v for a group retryable %v: the leader's count must start only for a retryable group", asked, Retryable(tc.g))
			}
		})
	}
}

// TestTakeBackProofTable: a fencing group whose winner is lost goes back
// to its fence target only after a report built after the check event
// (applied index at or past it) shows nothing of the group running there
// (clause 4, fenceback); a target whose stop failed never by its word.
func TestTakeBackProofTable(t *testing.T) {
	fencing := func(stopFailed bool) *fsm.Group {
		return group([]string{"n1", "n2"}, fsm.GroupStatus{Owner: "n2", State: fsm.StateFencing, FenceNode: "n1", FenceStopFailed: stopFailed})
	}
	idle := Report{At: t0.Add(9 * time.Second), Applied: 50, Running: map[string]uint64{"other": 3}}
	for _, tc := range []struct {
		name   string
		g      *fsm.Group
		check  uint64
		rep    Report
		ok     bool
		want   Decision
		reason string
	}{
		{"first: record the check event", fencing(false), 0, idle, true,
			Decision{Rule: RuleTakeover, Action: Check, To: "n1"}, "waiting for n1 to prove, by a heartbeat sent after this event"},
		{"no report yet", fencing(false), 50, Report{}, false,
			Decision{Rule: RuleTakeover, Action: Wait, To: "n1"}, ""},
		{"report built before the check", fencing(false), 51, idle, true,
			Decision{Rule: RuleTakeover, Action: Wait, To: "n1"}, ""},
		{"report at the check, group running there", fencing(false), 50, Report{Applied: 50, Running: map[string]uint64{"db": 7}}, true,
			Decision{Rule: RuleTakeover, Action: Note, To: "n1", Kind: fsm.KindFenceTargetBusy}, "reports group db built, running or not yet checked there (epoch 7)"},
		{"report at the check, cannot vouch (epoch 0)", fencing(false), 50, Report{Applied: 50, Running: map[string]uint64{"db": 0}}, true,
			Decision{Rule: RuleTakeover, Action: Note, To: "n1", Kind: fsm.KindFenceTargetBusy}, ""},
		{"report at the check, nothing running: taken back", fencing(false), 50, idle, true,
			Decision{Rule: RuleTakeover, Action: Assign, To: "n1", Cause: fsm.CauseFenceTargetIdle, Fence: true, TargetIdle: true}, "(log index 50 >= check 50, 1s ago)"},
		{"target's stop failed: never by its word", fencing(true), 50, idle, true,
			Decision{Rule: RuleTakeover, Action: Note, To: "n1", Kind: fsm.KindNoNode}, "fence-override db --accept-risk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkDecision(t, TakeBackProof(world{now: 10 * time.Second}.input(t), tc.g, tc.check, tc.rep, tc.ok), tc.want, tc.reason)
		})
	}
}

// UntilNextLoss names the moment Lost turns true for a member it is false
// for: the leader loop wakes then instead of at its next periodic check,
// and the member is lost at that moment, not before.
func TestUntilNextLossIsWhenLostTurns(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	hb, fo := timing.Heartbeat, timing.FailoverTimeout
	// Readiness at t0; the previous leader n3 last answered 1s before it.
	c := NewContacts(clk, "w1", timing, func() (string, time.Time) { return "n3", t0.Add(-time.Second) }, nil)
	c.Seen("n1")
	clk.Advance(300 * time.Millisecond)
	c.Seen("n2")
	// next checks that UntilNextLoss names at (what: whose), then moves
	// the clock there; node, when given, must turn lost exactly then.
	next := func(at time.Time, what, node string) {
		t.Helper()
		want := at.Sub(clk.Now())
		if d, ok := c.UntilNextLoss(); !ok || d != want {
			t.Fatalf("UntilNextLoss = %v, %v; want %v (%s)", d, ok, want, what)
		}
		clk.Advance(want - time.Nanosecond)
		if node != "" && c.Lost(node) {
			t.Fatalf("%s lost before its moment", node)
		}
		clk.Advance(time.Nanosecond)
		if node != "" && !c.Lost(node) {
			t.Fatalf("%s not lost at the moment UntilNextLoss named", node)
		}
	}

	// n3 (previous leader, never heard): failover_timeout after its last
	// answer, and after 2 heartbeats of leadership: t0+1s, the earliest.
	next(t0.Add(fo-time.Second), "the previous leader's timeout", "n3")
	// Then the never-heard rule (lease + heartbeat after readiness: a
	// member not heard by then would be lost), then n1, fo after its
	// contact at t0.
	next(t0.Add(timing.Lease+hb), "lease + heartbeat after readiness", "")
	next(t0.Add(fo), "n1's", "n1")
	if c.Lost("n2") {
		t.Fatal("n2, heard 300ms after n1, lost with it")
	}
	// n2's is the only moment left.
	next(t0.Add(300*time.Millisecond+fo), "n2's", "n2")
	if d, ok := c.UntilNextLoss(); ok {
		t.Fatalf("UntilNextLoss = %v with every moment passed, want none", d)
	}
}
