package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
)

var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // the leader became ready
	timing  = Timing{Heartbeat: 100 * time.Millisecond, Lease: 1500 * time.Millisecond, FailoverTimeout: 2 * time.Second}
	awsCS   = fsm.ClusterSettings{FencingMode: fsm.FencingAWSStop, Heartbeat: 100 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: time.Second}
	leaseCS = fsm.ClusterSettings{FencingMode: fsm.FencingLeaseOnly, Heartbeat: 100 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: time.Second}
)

// never marks a member this leader has never heard from.
const never = time.Duration(-1)

// world is one leader's view for a row: members n1, n2, n3 (nodes) and w1
// (a witness, the leader itself).
type world struct {
	now      time.Duration            // the pass's time, from readiness
	last     map[string]time.Duration // last contact (default: now); never: not heard
	upFrom   map[string]time.Duration // start of the current contact run (default 0)
	prev     string                   // the previous leader
	prevAt   time.Duration            // its last answer, from readiness (negative: before)
	leaving  []string
	standby  []string
	leaseOn  bool // lease-only cluster settings
	selfNode bool // the leader is n1 (a node), not w1
}

func (w world) input(t *testing.T) Input {
	t.Helper()
	clk := clock.NewFake(t0)
	self := "w1"
	if w.selfNode {
		self = "n1"
	}
	var prevAt time.Time
	if w.prev != "" {
		prevAt = t0.Add(w.prevAt)
	}
	c := NewContacts(clk, self, timing, func() (string, time.Time) { return w.prev, prevAt }, nil)
	st := fsm.NewState()
	for _, id := range []string{"n1", "n2", "n3"} {
		st.Members[id] = &fsm.Member{ID: id, Role: fsm.RoleNode}
	}
	st.Members["w1"] = &fsm.Member{ID: "w1", Role: fsm.RoleWitness}
	for _, id := range w.standby {
		st.Members[id].Standby = &fsm.Standby{By: "op"}
	}
	for _, id := range []string{"n1", "n2", "n3", "w1"} {
		last, ok := w.last[id]
		if !ok {
			last = w.now
		}
		if last == never {
			continue
		}
		// Heartbeats every heartbeat from the start of the run until
		// the last contact, then silence.
		for at := w.upFrom[id]; ; at += timing.Heartbeat {
			at = min(at, last)
			clk.Set(t0.Add(at))
			c.Seen(id)
			if at == last {
				break
			}
		}
	}
	for _, id := range w.leaving {
		c.SetLeaving(id, true)
	}
	clk.Set(t0.Add(w.now))
	cs := awsCS
	if w.leaseOn {
		cs = leaseCS
	}
	st.Settings = &cs
	return Input{State: st, Contacts: c, Settings: cs}
}

func group(nodes []string, gs fsm.GroupStatus) *fsm.Group {
	if gs.Epoch == 0 {
		gs.Epoch = 7
	}
	return &fsm.Group{Spec: fsm.GroupSpec{Name: "db", Nodes: nodes}, Status: gs}
}

func online(owner string) fsm.GroupStatus {
	return fsm.GroupStatus{Owner: owner, State: fsm.StateOnline}
}

var leaseWait = config.LeaseOnlyWaitOf(leaseCS)

// TestLeaderDecisionTable is the leader's decision table (safety clauses
// 4, 5 and 6 as they concern the leader, server/DESIGN.md): one row per
// ownership cause the leader decides (placement, node-lost, stop-failed,
// failure, failback, nodes-changed, shutdown and standby moves, and the
// operator's planned moves: rows with a planned target ask Planned) and
// the edge rows around each rule, on a fake clock with no sleeps.
func TestLeaderDecisionTable(t *testing.T) {
	fo := timing.FailoverTimeout
	nodes := []string{"n1", "n2", "n3"}
	failback := func(g *fsm.Group) *fsm.Group { g.Spec.Failback = true; return g }
	for _, tc := range []struct {
		name   string
		w      world
		g      *fsm.Group
		want   Decision
		reason string // a part of the reason, when it matters
		to     string // planned: the operator's target (Planned, not Next)
	}{
		// placement
		{"placement: first healthy node", world{now: 5 * time.Second}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Assign, To: "n1", Cause: fsm.CausePlacement}, "first healthy node of [n1 n2 n3]", ""},
		{"placement: skips a lost node", world{now: 5 * time.Second, last: map[string]time.Duration{"n1": time.Second}}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Assign, To: "n2", Cause: fsm.CausePlacement}, "", ""},
		{"placement: waits for a preferred node a new leader has not heard from", world{now: 1599 * time.Millisecond, last: map[string]time.Duration{"n1": never}}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Wait, To: "n1"}, "", ""},
		{"placement: stops waiting after lease + heartbeat", world{now: 1600 * time.Millisecond, last: map[string]time.Duration{"n1": never}}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Assign, To: "n2", Cause: fsm.CausePlacement}, "", ""},
		{"placement: a witness is never chosen, though always healthy", world{now: 5 * time.Second, last: map[string]time.Duration{"n1": never, "n2": time.Second}}, group([]string{"w1", "n1", "n2"}, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace}, "", ""},
		{"placement: skips leaving and standby nodes", world{now: 5 * time.Second, leaving: []string{"n1"}, standby: []string{"n2"}}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Assign, To: "n3", Cause: fsm.CausePlacement}, "", ""},
		{"placement: only standby nodes left is noted", world{now: 5 * time.Second, standby: []string{"n1", "n2"}}, group([]string{"n1", "n2"}, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlace, Action: Note, Kind: fsm.KindNoNode}, "n1, n2 are on standby", ""},
		{"stopped group (suspended, offline): not placed", world{now: 5 * time.Second}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline, Suspended: true}),
			Decision{Rule: RuleSuspended}, "", ""},

		// node-lost
		{"node-lost: exactly at failover_timeout", world{now: 10 * time.Second, last: map[string]time.Duration{"n1": 10*time.Second - fo}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceSilence: fo}, "n1 not heard from for 2s (failover_timeout 2s)", ""},
		{"node-lost: one nanosecond before failover_timeout, nothing", world{now: 10 * time.Second, last: map[string]time.Duration{"n1": 10*time.Second - fo + 1}}, group(nodes, online("n1")),
			Decision{}, "", ""},
		{"node-lost: member back just before the decision", world{now: 10 * time.Second, last: map[string]time.Duration{"n1": 10*time.Second - time.Millisecond}, upFrom: map[string]time.Duration{"n1": 10*time.Second - time.Millisecond}}, group(nodes, online("n1")),
			Decision{}, "", ""},
		{"node-lost: lease-only waits the lease-only wait less the silence", world{now: 10 * time.Second, leaseOn: true, last: map[string]time.Duration{"n1": 10*time.Second - fo}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceWait: leaseWait - fo, FenceSilence: fo}, "", ""},
		{"node-lost: lease-only, silence past the wait: no wait left", world{now: 20 * time.Second, leaseOn: true, last: map[string]time.Duration{"n1": time.Second}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceSilence: 19 * time.Second}, "", ""},
		{"node-lost: new leader, never heard: not before lease + heartbeat", world{now: 1599 * time.Millisecond, leaseOn: true, last: map[string]time.Duration{"n1": never}}, group(nodes, online("n1")),
			Decision{}, "", ""},
		{"node-lost: new leader, never heard: at lease + heartbeat, silence from readiness", world{now: 1600 * time.Millisecond, leaseOn: true, last: map[string]time.Duration{"n1": never}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceWait: leaseWait - 1600*time.Millisecond, FenceSilence: 1600 * time.Millisecond}, "since this leader took over 1.6s ago (a new leader waits lease + heartbeat)", ""},
		{"node-lost: previous leader silent failover_timeout since its last answer, after two heartbeats", world{now: 200 * time.Millisecond, leaseOn: true, prev: "n1", prevAt: 200*time.Millisecond - fo, last: map[string]time.Duration{"n1": never}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceWait: leaseWait - 200*time.Millisecond, FenceSilence: 200 * time.Millisecond}, "n1, the previous leader, last answered 2s ago", ""},
		{"node-lost: previous leader, before two heartbeats of leadership: nothing", world{now: 199 * time.Millisecond, prev: "n1", prevAt: -5 * time.Second, last: map[string]time.Duration{"n1": never}}, group(nodes, online("n1")),
			Decision{}, "", ""},
		{"node-lost: lower-priority node only when the preferred is lost", world{now: 10 * time.Second, last: map[string]time.Duration{"n3": time.Second, "n1": 2 * time.Second}}, group(nodes, online("n3")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceSilence: 9 * time.Second}, "", ""},
		{"node-lost: the preferred node wins when healthy", world{now: 10 * time.Second, last: map[string]time.Duration{"n3": time.Second}}, group(nodes, online("n3")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n1", Cause: fsm.CauseNodeLost, Fence: true, FenceSilence: 9 * time.Second}, "", ""},
		{"node-lost: a witness never wins", world{now: 10 * time.Second, last: map[string]time.Duration{"n1": time.Second}}, group([]string{"n1", "w1"}, online("n1")),
			Decision{Rule: RuleTakeover, Action: Note, Kind: fsm.KindNoNode}, "no other healthy node of [n1 w1]", ""},
		{"node-lost: a standby node wins only as the last resort", world{now: 10 * time.Second, standby: []string{"n2"}, last: map[string]time.Duration{"n1": time.Second, "n3": time.Second}}, group(nodes, online("n1")),
			Decision{Rule: RuleTakeover, Action: Assign, To: "n2", Cause: fsm.CauseNodeLost, Fence: true, FenceSilence: 9 * time.Second}, "availability over maintenance", ""},
		{"node-lost: the leader itself is never lost", world{now: 10 * time.Second, selfNode: true, last: map[string]time.Duration{"n1": never}}, group(nodes, online("n1")),
			Decision{}, "", ""},
		{"node-lost while fencing: back to the idle fence target", world{now: 10 * time.Second, last: map[string]time.Duration{"n2": time.Second, "n3": time.Second}}, group(nodes, fsm.GroupStatus{Owner: "n2", State: fsm.StateFencing, FenceNode: "n1"}),
			Decision{Rule: RuleTakeover, Action: TakeBack, To: "n1"}, "", ""},
		{"suspended: a lost owner is noted, not taken over", world{now: 10 * time.Second, last: map[string]time.Duration{"n1": time.Second}}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, Suspended: true}),
			Decision{Rule: RuleSuspended, Action: Note, Kind: fsm.KindTakeoverSkipped}, "no takeover until `raftha group resume db`", ""},

		// stop-failed and failure
		{"stop-failed: fenced move, lease-only waits the whole wait", world{now: 10 * time.Second, leaseOn: true}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, StopFailed: true, FailedOn: []string{"n1"}, Reason: "stop of vip failed"}),
			Decision{Rule: RuleRecover, Action: Assign, To: "n2", Cause: fsm.CauseStopFailed, Fence: true, FenceWait: leaseWait}, "stop of vip failed", ""},
		{"stop-failed: no other node is noted", world{now: 10 * time.Second, last: map[string]time.Duration{"n2": time.Second, "n3": time.Second}}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, StopFailed: true}),
			Decision{Rule: RuleRecover, Action: Note, Kind: fsm.KindNoNode}, "could not be stopped on n1", ""},
		{"failure: next node where it has not failed, no fence", world{now: 10 * time.Second}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, FailedOn: []string{"n1", "n2"}, Reason: "check failed"}),
			Decision{Rule: RuleRecover, Action: Assign, To: "n3", Cause: fsm.CauseFailure}, "check failed", ""},
		{"failure: failed everywhere", world{now: 10 * time.Second}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, FailedOn: nodes}),
			Decision{Rule: RuleRecover, Action: NoNodeLeft}, "", ""},

		// failback
		{"failback: home healthy for exactly two failover timeouts", world{now: 10 * time.Second, upFrom: map[string]time.Duration{"n1": 10*time.Second - 2*fo}}, failback(group(nodes, online("n2"))),
			Decision{Rule: RuleFailback, Action: Transfer, To: "n1", Cause: fsm.CauseFailback}, "", ""},
		{"failback: delay not over", world{now: 10 * time.Second, upFrom: map[string]time.Duration{"n1": 10*time.Second - 2*fo + 1}}, failback(group(nodes, online("n2"))),
			Decision{Rule: RuleFailback, Action: Wait, To: "n1"}, "", ""},
		{"failback: a gap of failover_timeout restarts the delay", world{now: 10 * time.Second, upFrom: map[string]time.Duration{"n1": 8 * time.Second}}, failback(group(nodes, online("n2"))),
			Decision{Rule: RuleFailback, Action: Wait, To: "n1"}, "", ""},
		{"failback: never to a standby home", world{now: 10 * time.Second, standby: []string{"n1"}}, failback(group(nodes, online("n2"))),
			Decision{Rule: RuleFailback}, "", ""},
		{"no failback without the flag", world{now: 10 * time.Second}, group(nodes, online("n2")),
			Decision{}, "", ""},

		// planned moves the leader starts
		{"nodes-changed: owner no longer in the group's nodes", world{now: 10 * time.Second}, group([]string{"n1", "n2"}, online("n3")),
			Decision{Rule: RuleEvacuate, Action: Transfer, To: "n1", Cause: fsm.CauseNodesChanged}, "", ""},
		{"shutdown: owner leaving", world{now: 10 * time.Second, leaving: []string{"n1"}}, group(nodes, online("n1")),
			Decision{Rule: RuleEvacuate, Action: Transfer, To: "n2", Cause: fsm.CauseShutdown}, "", ""},
		{"shutdown: no other node, stays", world{now: 10 * time.Second, leaving: []string{"n1"}, last: map[string]time.Duration{"n2": time.Second, "n3": time.Second}}, group(nodes, online("n1")),
			Decision{Rule: RuleEvacuate}, "", ""},
		{"standby: planned move off a standby owner, never where it failed", world{now: 10 * time.Second, standby: []string{"n1"}}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, FailedOn: []string{"n2"}}),
			Decision{Rule: RuleStandby, Action: StandbyMove, To: "n3", Cause: fsm.CauseStandby}, "", ""},
		{"standby: no other node, stays noted", world{now: 10 * time.Second, standby: []string{"n1"}, last: map[string]time.Duration{"n2": time.Second, "n3": time.Second}}, group(nodes, online("n1")),
			Decision{Rule: RuleStandby, Action: Note, Kind: fsm.KindStandbyStays}, "it stays online on n1", ""},
		// planned (an operator's transfer; Planned)
		{"planned: healthy node of the list", world{now: 10 * time.Second}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Transfer, To: "n2", Cause: fsm.CausePlanned}, "planned move of group db to n2", "n2"},
		{"planned: a stopped group too", world{now: 10 * time.Second}, group(nodes, fsm.GroupStatus{State: fsm.StateOffline}),
			Decision{Rule: RulePlanned, Action: Transfer, To: "n3", Cause: fsm.CausePlanned}, "", "n3"},
		{"planned: a group failed there, the operator's call", world{now: 10 * time.Second}, group(nodes, fsm.GroupStatus{Owner: "n1", State: fsm.StateFailed, FailedOn: []string{"n1", "n2"}}),
			Decision{Rule: RulePlanned, Action: Transfer, To: "n2", Cause: fsm.CausePlanned}, "", "n2"},
		{"planned: already online there, nothing to commit", world{now: 10 * time.Second}, group(nodes, online("n2")),
			Decision{Rule: RulePlanned, Action: None, To: "n2"}, "already online on n2", "n2"},
		{"planned: starting there still moves (a new epoch)", world{now: 10 * time.Second}, group(nodes, fsm.GroupStatus{Owner: "n2", State: fsm.StateStarting}),
			Decision{Rule: RulePlanned, Action: Transfer, To: "n2", Cause: fsm.CausePlanned}, "", "n2"},
		{"planned: refused, no such member", world{now: 10 * time.Second}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n9"}, `no member named "n9" (members: n1, n2, n3, w1)`, "n9"},
		{"planned: refused, a witness", world{now: 10 * time.Second}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "w1"}, "w1 is a witness", "w1"},
		{"planned: refused, not in the group's nodes", world{now: 10 * time.Second}, group([]string{"n1", "n2"}, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n3"}, "n3 is not in group db's nodes [n1 n2]", "n3"},
		{"planned: refused, target silent past failover_timeout", world{now: 10 * time.Second, last: map[string]time.Duration{"n2": 10*time.Second - fo}}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n2"}, "n2 is not healthy", "n2"},
		{"planned: healthy just inside failover_timeout", world{now: 10 * time.Second, last: map[string]time.Duration{"n2": 10*time.Second - fo + time.Millisecond}}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Transfer, To: "n2", Cause: fsm.CausePlanned}, "", "n2"},
		{"planned: refused, target never heard by this leader", world{now: 10 * time.Second, last: map[string]time.Duration{"n2": never}}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n2"}, "n2 is not healthy", "n2"},
		{"planned: refused, target leaving", world{now: 10 * time.Second, leaving: []string{"n2"}}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n2"}, "n2 is not healthy", "n2"},
		{"planned: refused, target on standby", world{now: 10 * time.Second, standby: []string{"n2"}}, group(nodes, online("n1")),
			Decision{Rule: RulePlanned, Action: Refuse, To: "n2"}, "n2 is on standby (since 0001-01-01T00:00:00Z by op)", "n2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.w.input(t)
			if tc.to != "" {
				checkDecision(t, Planned(in, tc.g, tc.to), tc.want, tc.reason)
				return
			}
			got := checkDecision(t, Next(in, tc.g), tc.want, tc.reason)
			if got.Rule == RuleTakeover {
				// The leader decides a takeover again under its contact
				// lock: on the same view, the same decision.
				again := Takeover(in, tc.g)
				again.Reason = ""
				if again != got {
					t.Fatalf("Takeover %+v differs from Next %+v", again, got)
				}
			}
		})
	}
}

// checkDecision fails t unless got is want (Reason aside) and got's reason
// contains reason; it returns got without its reason.
func checkDecision(t *testing.T, got, want Decision, reason string) Decision {
	t.Helper()
	r := got.Reason
	got.Reason = ""
	if got != want {
		t.Fatalf("decision\n got %+v\nwant %+v\n(reason %q)", got, want, r)
	}
	if !strings.Contains(r, reason) {
		t.Fatalf("reason %q does not say %q", r, reason)
	}
	return got
}
