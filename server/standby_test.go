package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
)

// followerNode is a node (not a witness: it forwards no changes) that is
// not the leader now, or nil.
func (c *testCluster) followerNode() *testMember {
	for _, m := range c.members {
		if m.srv != nil && !m.srv.IsLeader() && m.cfg.Role == config.RoleNode {
			return m
		}
	}
	return nil
}

// eventsSince are the events of the leader's log with index above idx.
func (c *testCluster) eventsSince(idx uint64) []fsm.Event {
	var out []fsm.Event
	for _, e := range c.leader().srv.State().Events {
		if e.Index > idx {
			out = append(out, e)
		}
	}
	return out
}

// memberStatus is member id in the leader's status.
func memberStatus(t *testing.T, c *testCluster, id string) api.MemberStatus {
	t.Helper()
	st, err := c.leader().srv.Status(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no member %s in status", id)
	return api.MemberStatus{}
}

// TestStandbyMovesGroupsByPlannedMove: putting the owner on standby (an
// operator, through a follower's API) moves its group to the other node
// by a planned move — stopping with cause standby, the owner's stop, then
// the start there at a new epoch — with no fence and no overlap. The node
// keeps voting and reads STANDBY in status; the failback group does not
// fail back to it while it is on standby, and does once it is off standby
// (the failback rule, as after any absence).
func TestStandbyMovesGroupsByPlannedMove(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}} })
	rec := t.TempDir() + "/rec"
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(recorderGroup(t, rec, "    failback: true\n", "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")
	via := c.followerNode()
	if via == nil {
		t.Skip("no follower node right now")
	}
	alice := c.apiClient(via, "alice", "")
	mark := c.leader().srv.State().Index
	r, err := alice.Standby(ctxT(t, 30*time.Second), "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Standby || r.Member != "n1" || strings.Join(r.Moving, ",") != "db" {
		t.Fatalf("standby answer %+v", r)
	}
	after := c.waitOnline("db", "n2")
	if after.Status.Epoch <= before.Status.Epoch {
		t.Fatalf("epoch %d -> %d", before.Status.Epoch, after.Status.Epoch)
	}
	evs := c.eventsSince(mark)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s/%s/%s", e.Kind, e.Cause, e.By))
		if e.Kind == fsm.KindTakeover || e.Kind == fsm.KindFenced {
			t.Fatalf("a standby move fenced: %s", got)
		}
	}
	if !strings.Contains(strings.Join(got, " "), "standby//alice stopping/standby/leader stopped//n1 assigned/planned/") {
		t.Fatalf("not a planned move with cause standby: %s", got)
	}
	ch := history.Why(c.leader().srv.State(), "db")
	if last := ch[len(ch)-1]; last.Cause != fsm.CauseStandby || last.From != "n1" || last.To != "n2" || !strings.Contains(last.Reason, "by alice") || last.Fence != "" {
		t.Fatalf("why: %+v", last)
	}
	ms := memberStatus(t, c, "n1")
	if ms.Standby == nil || ms.Standby.By != "alice" || !ms.Voter || !ms.Healthy {
		t.Fatalf("n1 in status: %+v (standby %+v)", ms, ms.Standby)
	}
	// Failback never goes to a standby node: n1 has been healthy far
	// longer than the failback delay (2 failover timeouts).
	time.Sleep(3 * c.members[0].cfg.Timing.FailoverTimeout.D())
	if g := c.group("db"); g.Status.Owner != "n2" || g.Status.Epoch != after.Status.Epoch {
		t.Fatalf("group moved while n1 is on standby: %+v", g.Status)
	}
	mark = c.leader().srv.State().Index
	if _, err := alice.Unstandby(ctxT(t, 30*time.Second), "n1"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	var causes []string
	for _, e := range c.eventsSince(mark) {
		if e.Kind == fsm.KindStopping {
			causes = append(causes, string(e.Cause))
		}
	}
	if strings.Join(causes, ",") != "failback" {
		t.Fatalf("after unstandby: moves %v, want one failback", causes)
	}
	checkExclusive(t, readIntervals(t, rec))
}

// twoGroups is db on [n1 n2] (markers in dir) and solo on [n1] only
// (markers in soloDir).
func twoGroups(dir, soloDir string) string {
	solo := strings.Replace(markerGroup(soloDir, "n1"), "name: db", "name: solo", 1)
	return markerGroup(dir, "n1", "n2") + strings.TrimPrefix(solo, "groups:\n")
}

// TestStandbyPlacementAndRefusals: nothing new is placed on a standby
// node (db goes to its second node, solo, whose only node is on standby,
// stays offline) until unstandby; an operator's transfer to it is
// refused; standby of a witness or of an unknown member is refused with a
// typed error; a read-only caller may not change it.
func TestStandbyPlacementAndRefusals(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}, Tokens: []config.TokenConfig{{Name: "dash", Role: api.RoleRead, SHA256: api.TokenSHA256("read-token")}}}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	via := c.followerNode()
	if via == nil {
		t.Skip("no follower node right now")
	}
	alice := c.apiClient(via, "alice", "")
	ctx := ctxT(t, 60*time.Second)

	_, err := c.apiClient(via, "", "read-token").Standby(ctx, "n1")
	wantAPIError(t, "standby by a reader", err, api.ErrForbidden, api.CodeForbidden, 403)
	_, err = alice.Standby(ctx, "w1")
	wantAPIError(t, "standby of a witness", err, api.ErrInvalid, api.CodeInvalid, 400)
	if !strings.Contains(err.Error(), "witness") {
		t.Fatalf("witness refusal does not say why: %v", err)
	}
	_, err = alice.Standby(ctx, "n9")
	wantAPIError(t, "standby of an unknown member", err, api.ErrNotFound, api.CodeNoMember, 404)
	if !strings.Contains(err.Error(), "n9") {
		t.Fatalf("unknown-member refusal does not name it: %v", err)
	}
	if _, err := alice.Standby(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.leader().srv.ApplyGroups(ctx, []byte(twoGroups(t.TempDir(), t.TempDir())), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n2")
	time.Sleep(2 * c.members[0].cfg.Timing.FailoverTimeout.D())
	if g := c.group("solo"); g.Status.State != fsm.StateOffline || g.Status.Owner != "" {
		t.Fatalf("solo placed on a standby node: %+v", g.Status)
	}
	waitFor(t, 10*time.Second, "a no-node event for solo", func() bool {
		for _, e := range c.events("solo") {
			if e.Kind == fsm.KindNoNode && strings.Contains(e.Reason, "n1 is on standby") {
				return true
			}
		}
		return false
	})
	_, err = alice.Transfer(ctx, "db", api.TransferRequest{To: "n1"})
	wantAPIError(t, "transfer to a standby node", err, api.ErrRefused, api.CodeRefused, 409)
	if !strings.Contains(err.Error(), "standby") {
		t.Fatalf("transfer refusal does not say standby: %v", err)
	}
	if _, err := alice.Unstandby(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("solo", "n1")
	if g := c.group("db"); g.Status.Owner != "n2" {
		t.Fatalf("db moved back without failback: %+v", g.Status)
	}
	if ms := memberStatus(t, c, "n1"); ms.Standby != nil {
		t.Fatalf("n1 still on standby: %+v", ms.Standby)
	}
}

// TestStandbyNodeStillTakesOverACrash: availability over maintenance.
// When the owner crashes and the only other node is on standby, the group
// fails over to it (fenced takeover, the reason says so); it stays there
// while no other node can take it (standby-stays, in its reason) and
// moves off by a planned move once the crashed node is back.
func TestStandbyNodeStillTakesOverACrash(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.leader()
	c.waitHealthy()
	dir := t.TempDir()
	ctx := ctxT(t, 60*time.Second)
	if _, err := c.leader().srv.ApplyGroups(ctx, []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	if _, err := c.member("n2").srv.SetStandby(ctx, "n2", true, "alice"); err != nil {
		t.Fatal(err)
	}
	c.kill("n1")
	g := c.waitOnline("db", "n2")
	var takeover *fsm.Event
	evs := c.events("db")
	for i := range evs {
		if evs[i].Kind == fsm.KindTakeover && evs[i].Epoch == g.Status.Epoch {
			takeover = &evs[i]
		}
	}
	if takeover == nil || !strings.Contains(takeover.Reason, "availability over maintenance") {
		t.Fatalf("takeover to the standby node not explained: %+v (%s)", takeover, kinds(evs))
	}
	waitFor(t, 10*time.Second, "standby-stays note", func() bool {
		g := c.group("db")
		return strings.Contains(g.Status.Reason, "on standby") && strings.Contains(kinds(c.events("db")), string(fsm.KindStandbyStays))
	})
	mark := c.leader().srv.State().Index
	c.start("n1")
	c.waitOnline("db", "n1")
	got := ""
	for _, e := range c.eventsSince(mark) {
		if e.Group == "db" {
			got += fmt.Sprintf(" %s/%s", e.Kind, e.Cause)
		}
	}
	if !strings.Contains(got, "stopping/standby stopped/ assigned/planned") || strings.Contains(got, "takeover") {
		t.Fatalf("not moved off the standby node by a planned move: %s", got)
	}
}
