package leader

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
	ilease "github.com/raftha/raftha/server/internal/lease"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

func hb(node string) rpcwire.HeartbeatArgs {
	return rpcwire.HeartbeatArgs{Node: node, Role: string(fsm.RoleNode)}
}

var nodes3 = []string{"n1", "n2", "n3"}

// TestTakeoverOnFakeClock (clause 4 on the leader): an owner that stops
// heartbeating is taken over, fenced, by the first healthy node of the
// list, at the first pass once its silence reaches failover_timeout and
// not one pass earlier; the failover is counted with its cause.
func TestTakeoverOnFakeClock(t *testing.T) {
	r := newRig(t, group("db", nodes3, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, Epoch: 7}))
	if at := r.run(3*time.Second, "n1", "n2", "n3"); !at.IsZero() {
		t.Fatalf("committed %v at %s while every node heartbeats", r.host.committed(0), at.Sub(t0))
	}
	silentFrom := r.clk.Now()
	at := r.run(5*time.Second, "n2", "n3")
	if at.IsZero() {
		t.Fatal("no takeover after 5s of silence")
	}
	if got := at.Sub(silentFrom); got != timing.FailoverTimeout {
		t.Fatalf("takeover %s after n1's last heartbeat, want exactly failover_timeout %s (the first pass at it)", got, timing.FailoverTimeout)
	}
	c := r.host.committed(0)
	a, ok := c[0].(*fsm.Assign)
	if len(c) != 1 || !ok {
		t.Fatalf("committed %#v, want one Assign", c)
	}
	if a.To != "n2" || !a.Fence || a.Cause != fsm.CauseNodeLost || a.ExpectEpoch != 7 || a.FenceSilence != timing.FailoverTimeout {
		t.Fatalf("takeover %+v: want a fenced node-lost Assign to n2 at epoch 7 after %s of silence", a, timing.FailoverTimeout)
	}
	if g := r.f.View().Groups["db"].Status; g.State != fsm.StateFencing || g.Owner != "n2" || g.FenceNode != "n1" {
		t.Fatalf("after the takeover the log has %+v", g)
	}
	if strings.Join(r.host.fo, ",") != "db/node-lost" {
		t.Fatalf("failovers counted %v", r.host.fo)
	}
}

// TestPlacementOnFakeClock: a new leader waits for a group's preferred
// node it has not heard from yet (until it is lost: lease + heartbeat
// after readiness), then places on the first healthy node.
func TestPlacementOnFakeClock(t *testing.T) {
	r := newRig(t, group("db", nodes3, fsm.GroupStatus{State: fsm.StateOffline, Epoch: 3}))
	at := r.run(5*time.Second, "n2", "n3")
	if want := timing.Lease + timing.Heartbeat; at.Sub(t0) != want {
		t.Fatalf("placed %s after readiness, want %s (n1 preferred until lost)", at.Sub(t0), want)
	}
	a, ok := r.host.committed(0)[0].(*fsm.Assign)
	if !ok || a.To != "n2" || a.Fence || a.Cause != fsm.CausePlacement {
		t.Fatalf("committed %#v, want a placement on n2", r.host.committed(0))
	}
}

// TestAutoRetryOnFakeClock: a group failed on every node is noted once,
// then placed again retry_failed_after after this leader first saw it so,
// not a heartbeat earlier.
func TestAutoRetryOnFakeClock(t *testing.T) {
	g := group("db", []string{"n1", "n2"}, fsm.GroupStatus{Owner: "n2", State: fsm.StateFailed, Epoch: 9, FailedOn: []string{"n1", "n2"}, Reason: "check failed"})
	g.Spec.RetryFailedAfter = 3 * time.Second
	r := newRig(t, g)
	r.beat("n1", "n2", "n3")
	r.l.reconcile(context.Background(), r.term)
	first := r.clk.Now()
	c := r.host.committed(0)
	if n, ok := c[0].(*fsm.Note); len(c) != 1 || !ok || n.Kind != fsm.KindNoNode || !strings.Contains(n.Reason, "retry_failed_after 3s") {
		t.Fatalf("first pass committed %#v, want one no-node note with the retry plan", c)
	}
	at := r.run(10*time.Second, "n1", "n2", "n3")
	if got := at.Sub(first); got != g.Spec.RetryFailedAfter {
		t.Fatalf("retried %s after the leader saw it failed everywhere, want %s", got, g.Spec.RetryFailedAfter)
	}
	rf, ok := r.host.committed(1)[0].(*fsm.RetryFailed)
	if !ok || rf.To != "n1" || rf.ExpectEpoch != 9 {
		t.Fatalf("committed %#v, want RetryFailed to n1 at epoch 9", r.host.committed(1))
	}
	var gs api.GroupStatus
	RetryStatus(&gs, r.f.View(), r.f.View().Groups["db"], r.term)
	if gs.NextRetry != nil {
		t.Fatalf("next retry %v for a group placed again", gs.NextRetry)
	}
}

// TestFailbackOnFakeClock: a failback group goes home by a planned move
// once home has been healthy for two failover timeouts.
func TestFailbackOnFakeClock(t *testing.T) {
	g := group("db", nodes3, fsm.GroupStatus{Owner: "n2", State: fsm.StateOnline, Epoch: 5})
	g.Spec.Failback = true
	r := newRig(t, g)
	r.beat("n1", "n2", "n3")
	at := r.run(10*time.Second, "n1", "n2", "n3")
	if got := at.Sub(t0); got != 2*timing.FailoverTimeout {
		t.Fatalf("failback %s after n1 was first heard, want %s", got, 2*timing.FailoverTimeout)
	}
	bt, ok := r.host.committed(0)[0].(*fsm.BeginTransfer)
	if !ok || bt.To != "n1" || bt.Cause != fsm.CauseFailback {
		t.Fatalf("committed %#v, want a failback transfer to n1", r.host.committed(0))
	}
}

// TestPlannedTransferOnLeader: the leader half of a planned move refuses
// with the agent's sentinel what decide.Planned refuses, commits nothing
// then, and commits a planned BeginTransfer otherwise (here it never
// comes online: the caller's deadline ends the wait, InProgress).
func TestPlannedTransferOnLeader(t *testing.T) {
	r := newRig(t, group("db", nodes3, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, Epoch: 7}))
	r.beat("n1", "n2")
	r.clk.Advance(timing.FailoverTimeout) // n3 never heard: not healthy
	r.beat("n1", "n2")
	ctx := context.Background()
	if _, err := r.l.Transfer(ctx, "db", "n3", "op"); !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "n3 is not healthy") {
		t.Fatalf("transfer to an unhealthy node: %v", err)
	}
	if _, err := r.l.Transfer(ctx, "nope", "n2", "op"); !errors.Is(err, fsm.ErrNoGroup) {
		t.Fatalf("transfer of a missing group: %v", err)
	}
	if gs, err := r.l.Transfer(ctx, "db", "n1", "op"); err != nil || gs.Owner != "n1" || gs.Epoch != 7 {
		t.Fatalf("transfer to the owner: %+v %v", gs, err)
	}
	if c := r.host.committed(0); len(c) != 0 {
		t.Fatalf("refusals committed %#v", c)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := r.l.Transfer(wctx, "db", "n2", "op")
	if !errors.Is(err, errInProg) {
		t.Fatalf("move not finished by the deadline: %v, want the InProgress sentinel", err)
	}
	bt, ok := r.host.committed(0)[0].(*fsm.BeginTransfer)
	if !ok || bt.To != "n2" || bt.Cause != fsm.CausePlanned || bt.ExpectEpoch != 7 || bt.By != "op" {
		t.Fatalf("committed %#v, want a planned BeginTransfer to n2 by op", r.host.committed(0))
	}
}

// TestConfirmOnLeader (clause 2): a confirmation answers from the log
// with the NotOwner sentinel, and renews the owner's contact, so that a
// confirming owner is never taken over.
func TestConfirmOnLeader(t *testing.T) {
	r := newRig(t, group("db", nodes3, fsm.GroupStatus{Owner: "n1", State: fsm.StateOnline, Epoch: 7}))
	ctx := context.Background()
	if err := r.l.Confirm(ctx, "db", "n2", 7); !errors.Is(err, errNotOwner) {
		t.Fatalf("confirm by a non-owner: %v", err)
	}
	if err := r.l.Confirm(ctx, "db", "n1", 6); !errors.Is(err, errNotOwner) {
		t.Fatalf("confirm at an old epoch: %v", err)
	}
	for range 50 { // 5s: n1 only confirms, never heartbeats
		r.clk.Advance(timing.Heartbeat)
		if err := r.l.Confirm(ctx, "db", "n1", 7); err != nil {
			t.Fatal(err)
		}
		r.beat("n2", "n3")
		r.l.reconcile(ctx, r.term)
	}
	if c := r.host.committed(0); len(c) != 0 {
		t.Fatalf("a confirming owner was acted on: %#v", c)
	}
	r.term.refused.Set("n1", "fencing_mode differs")
	if err := r.l.Confirm(ctx, "db", "n1", 7); !errors.Is(err, errMismatch) {
		t.Fatalf("confirm by a member refused for its settings: %v", err)
	}
}

// TestLinearizableReadNeedsReadyLeader: no ready term, no answer.
func TestLinearizableReadNeedsReadyLeader(t *testing.T) {
	r := newRig(t)
	r.l.mu.Lock()
	r.l.term = nil
	r.l.mu.Unlock()
	if _, err := r.l.LinearizableRead(context.Background()); !errors.Is(err, errNotLeader) {
		t.Fatalf("read before readiness: %v", err)
	}
}

// hookClock runs hook once, at its first reading, before it answers:
// something that happens while the leader takes its readiness time.
type hookClock struct {
	*clock.Fake
	once sync.Once
	hook func()
}

func (c *hookClock) Now() time.Time {
	c.once.Do(c.hook)
	return c.Fake.Now()
}

// TestPrevLeaderAnswerAtReadinessCounts (clause 4, when a takeover is
// decided): the previous leader is lost failover_timeout after its last
// answer to this member's heartbeat. Before the decide refactor the new
// leader took its readiness time first and read the last answer after it,
// so every answer that came before readiness counted. Reading the answer
// first misses one that lands between the two readings (a preemption there
// is enough) and declares the previous leader lost up to a heartbeat early.
func TestPrevLeaderAnswerAtReadinessCounts(t *testing.T) {
	hb, fo := timing.Heartbeat, timing.FailoverTimeout
	fake := clock.NewFake(t0)
	tbl := ilease.New(fake, timing.Lease)
	tbl.Renew(t0, map[string]uint64{}, "n2") // n2 leads and answers at t0
	l := New(context.Background(), Config{NodeID: "n1", Timing: timing, LastAnswer: tbl.LastAnswer})
	fake.Advance(hb)
	// n2 answers again, one heartbeat later, just as this member's
	// leadership becomes ready.
	clk := &hookClock{Fake: fake, hook: func() { tbl.Renew(fake.Now(), map[string]uint64{}, "n2") }}
	c := l.newContacts(clk)
	if got := c.Since(); !got.Equal(t0.Add(hb)) {
		t.Fatalf("readiness at %s, want %s", got, t0.Add(hb))
	}
	fake.Set(t0.Add(hb + fo - time.Nanosecond)) // failover_timeout after the last answer, less 1ns
	// (Lost itself is true by now for another reason: a node a new leader
	// never heard from is lost lease + heartbeat after readiness.)
	if c.PrevLeaderGone("n2") {
		t.Fatalf("n2 declared lost %s after its last answer (failover_timeout %s): the answer that came at readiness was not counted (previous-leader silence %s)", fo-time.Nanosecond, fo, c.PrevLeaderSilence())
	}
	fake.Set(t0.Add(hb + fo))
	if !c.PrevLeaderGone("n2") {
		t.Fatalf("n2 not lost failover_timeout after its last answer")
	}
}

// TestResStoreKeepsOwnerAndEpoch: the leader's memory answers only for
// the owner at the epoch it reported, within the age limit on the
// leader's clock; a node's new report replaces its old one; errors and
// resource lists stay bounded.
func TestResStoreKeepsOwnerAndEpoch(t *testing.T) {
	var rs resStore
	cfg := &Config{MaxReportGroups: 4, MaxReportResources: 2, CutError: func(s string) string { return s[:min(len(s), 5)] }}
	res := make([]api.ResourceStatus, 5)
	for i := range res {
		res[i] = api.ResourceStatus{Name: "r", Node: "forged", LastError: "a long error"}
	}
	rs.report(cfg, "n1", map[string]rpcwire.GroupResources{"db": {Epoch: 7, Resources: res}, "web": {Epoch: 3}}, t0)
	got := rs.get("db", "n1", 7, time.Minute, t0.Add(time.Second))
	if len(got) != 2 || got[0].LastError != "a lon" || got[0].Node != "n1" {
		t.Fatalf("kept %+v: want 2 resources, errors cut, the sender as node", got)
	}
	if rs.get("db", "n1", 8, time.Minute, t0) != nil || rs.get("db", "n2", 7, time.Minute, t0) != nil {
		t.Fatal("answered for another epoch or owner")
	}
	if rs.get("db", "n1", 7, time.Minute, t0.Add(time.Minute)) != nil {
		t.Fatal("answered with a report as old as the age limit")
	}
	rs.report(cfg, "n1", map[string]rpcwire.GroupResources{"web": {Epoch: 3}}, t0)
	if rs.get("db", "n1", 7, time.Minute, t0) != nil {
		t.Fatal("a group the node no longer reports is still answered")
	}
}

// TestDiskSeenOnLeaderClock: the freshest sighting wins, a node's own
// slot is ignored, and the takeover note says alive or stopped by the age
// on the leader's clock.
func TestDiskSeenOnLeaderClock(t *testing.T) {
	var d diskSeen
	d.report("n2", map[string]time.Duration{"n1": 3 * time.Second, "n2": 0}, t0)
	d.report("n3", map[string]time.Duration{"n1": time.Second}, t0)
	if _, ok := d.seen("n2"); ok {
		t.Fatal("a node's sighting of itself was kept")
	}
	if v, _ := d.seen("n1"); v.by != "n3" || !v.at.Equal(t0.Add(-time.Second)) {
		t.Fatalf("sighting %+v, want n3's, 1s before t0", v)
	}
	if n := d.lostNote("n1", 2*time.Second, t0.Add(500*time.Millisecond)); !strings.Contains(n, "still alive (seen by n3 1.5s before") {
		t.Fatalf("note %q", n)
	}
	if n := d.lostNote("n1", 2*time.Second, t0.Add(time.Second)); !strings.Contains(n, "had stopped too") {
		t.Fatalf("note %q", n)
	}
	ms := api.MemberStatus{ID: "n1"}
	d.attach(&ms, t0)
	if ms.DiskHeartbeatMS == nil || *ms.DiskHeartbeatMS != 1000 || ms.DiskSeenBy != "n3" {
		t.Fatalf("member row %+v", ms)
	}
}
