package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/cluster"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// codecEcho is an RPC receiver that fails with the sentinel a code names.
type codecEcho struct{}

// Fail returns, in the reply, the sentinel registered under code wrapped
// in a message of the callee.
func (codecEcho) Fail(code rpcwire.Code, r *rpcwire.Reply[struct{}]) error {
	for _, e := range wireCodec.Entries() {
		if e.Code == code {
			r.Err = wireCodec.Encode(fmt.Errorf("on the callee: %w", e.Err))
			return nil
		}
	}
	return fmt.Errorf("no code %s", code)
}

// TestWireCodecThroughRPC sends every registered sentinel through a real
// member RPC (mTLS mux, pool, net/rpc): on the caller errors.Is holds for
// it and the API code is unchanged. ErrNotOwner in particular is matched
// as a value, not by its text (the worker's confirm relies on it).
func TestWireCodecThroughRPC(t *testing.T) {
	c := newTestCluster(t, "n1", "n2")
	muxes := map[string]*transport.Mux{}
	for _, m := range c.members {
		b, err := transport.Load(transport.Files{CA: m.cfg.TLS.CA, Cert: m.cfg.TLS.Cert, Key: m.cfg.TLS.Key})
		if err != nil {
			t.Fatal(err)
		}
		mux, err := transport.Listen(m.cfg.Bind, "", b, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mux.Close() })
		muxes[m.cfg.NodeID] = mux
	}
	srv, err := transport.NewRPCServer("Test", func(string) any { return codecEcho{} })
	if err != nil {
		t.Fatal(err)
	}
	muxes["n2"].Serve(srv.ServeConn)
	muxes["n1"].Serve(nil)
	pool := transport.NewPool(muxes["n1"])
	t.Cleanup(pool.Close)
	for _, e := range wireCodec.Entries() {
		var reply rpcwire.Reply[struct{}]
		if err := pool.Call(ctxT(t, 5*time.Second), muxes["n2"].Addr().String(), "Test.Fail", e.Code, &reply); err != nil {
			t.Fatalf("%s: %v", e.Code, err)
		}
		got := wireCodec.Decode(reply.Err)
		if !errors.Is(got, e.Err) {
			t.Errorf("%s: errors.Is(%v, %v) is false after the wire", e.Code, got, e.Err)
		}
		if code := wireCodec.Code(got); code != e.Code {
			t.Errorf("%s: decoded error has code %s", e.Code, code)
		}
		if want := "on the callee: " + e.Err.Error(); got.Error() != want {
			t.Errorf("%s: message %q, want %q", e.Code, got, want)
		}
	}
	// An error wrapping two sentinels keeps both.
	both := wireCodec.Decode(wireCodec.Encode(fmt.Errorf("%w: not verified: %w", ErrNoQuorum, context.DeadlineExceeded)))
	if !errors.Is(both, ErrNoQuorum) || !errors.Is(both, context.DeadlineExceeded) {
		t.Errorf("%v lost a sentinel", both)
	}
	if !errors.Is(wireCodec.Decode(wireCodec.Encode(errLeadershipLost)), ErrNotLeader) {
		t.Error("leadership lost is no longer a not-leader error after the wire")
	}
}

// TestRaftErrKeepsRetryClass: raft's refusals map onto the sentinels the
// cluster role's retry decision reads (its TestTookNoEffect): not the
// leader or a leadership transfer took no effect; a leadership lost
// mid-apply may still commit.
func TestRaftErrKeepsRetryClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{raftErr(raft.ErrLeadershipTransferInProgress), ErrNotLeader},
		{raftErr(raft.ErrNotLeader), ErrNotLeader},
		{raftErr(raft.ErrLeadershipLost), errLeadershipLost},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%v does not wrap %v", tc.err, tc.want)
		}
	}
	if errors.Is(raftErr(raft.ErrNotLeader), errLeadershipLost) {
		t.Error("not-the-leader became leadership-lost: it would never be retried")
	}
}

// TestForwardReachesLeader: a leader-bound call made on a follower runs on
// the leader (its refusal comes back over the wire, as a value), and a
// follower asked directly answers not-leader without running it.
func TestForwardReachesLeader(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3") // nodes: a witness forwards no changes
	l, others := startedFollowers(c)
	f := others[0]
	err := f.srv.RemoveMember(ctxT(t, 10*time.Second), "nosuch", "test")
	var re *rpcwire.RemoteError
	if !errors.Is(err, fsm.ErrNoMember) || !errors.As(err, &re) {
		t.Fatalf("remove of an unknown member via follower %s: %v (%T), want fsm.ErrNoMember from the leader", f.cfg.NodeID, err, err)
	}
	var reply rpcwire.Reply[struct{}]
	if err := l.srv.pool.Call(ctxT(t, 5*time.Second), f.srv.RaftAddr(), string(cluster.MethodRemoveMember), rpcwire.MemberArgs{ID: "nosuch", By: "test", Caller: &rpcwire.Caller{Identity: "test", Role: "operate"}}, &reply); err != nil {
		t.Fatal(err)
	}
	if err := wireCodec.Decode(reply.Err); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower %s served a leader call: %v, want ErrNotLeader", f.cfg.NodeID, err)
	}
}

// TestForwardRetriesAcrossLeaderChange: an operator call made on a
// follower just as the leader dies is sent again, within the caller's
// deadline, until the new leader takes it.
func TestForwardRetriesAcrossLeaderChange(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	l, others := startedFollowers(c)
	// f has no group: it has no operator connection to the leader yet (an
	// owner's reports would leave one, and a call sent on a connection
	// that then breaks is never retried: it may have taken effect).
	f := others[0]
	nodes := []string{others[1].cfg.NodeID}
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, nodes...)), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "")
	old := l.cfg.NodeID
	c.kill(old)
	start := time.Now()
	if err := f.srv.SetSuspended(ctxT(t, 20*time.Second), "db", true, "test"); err != nil {
		t.Fatalf("suspend via %s while leader %s died: %v", f.cfg.NodeID, old, err)
	}
	nl := c.leader()
	if nl.cfg.NodeID == old {
		t.Fatalf("leader still %s", old)
	}
	if g := nl.srv.State().Groups["db"]; !g.Status.Suspended {
		t.Fatalf("group not suspended on the new leader %s", nl.cfg.NodeID)
	}
	t.Logf("suspend committed by new leader %s %s after the old leader died", nl.cfg.NodeID, time.Since(start).Round(time.Millisecond))
}

// startedFollowers starts c and returns its leader and the other members,
// once every member is healthy.
func startedFollowers(c *testCluster) (*testMember, []*testMember) {
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	var others []*testMember
	for _, m := range c.members {
		if m != l {
			others = append(others, m)
		}
	}
	return l, others
}

// TestOperatorCallRetriedWhileLeadershipMoves: an operator's command that
// reaches the leader while it hands leadership on (raft refuses every
// apply until the hand-over ends) is sent again within the caller's
// deadline instead of failing. The CI failure of stop 19 was a transfer
// refused this way ("transfer of db to n2 failed: leadership transfer in
// progress"): the hand-over began between its read and its commit, a
// window this test cannot hit on purpose, so it holds the hand-over open
// and commits directly.
func TestOperatorCallRetriedWhileLeadershipMoves(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	l, others := startedFollowers(c)
	f, p := others[0], others[1]
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, f.cfg.NodeID, l.cfg.NodeID)), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", f.cfg.NodeID)
	// p is cut off and then misses an entry, so a hand-over to it waits
	// for p to catch up until raft gives up on it (ElectionTimeout).
	c.partition(p.cfg.NodeID)
	if err := l.srv.SetSuspended(ctxT(t, 10*time.Second), "db", false, "test"); err != nil {
		t.Fatal(err)
	}
	handover := make(chan error, 1)
	go func() {
		handover <- l.srv.raft.LeadershipTransferToServer(raft.ServerID(p.cfg.NodeID), raft.ServerAddress(p.srv.RaftAddr())).Error()
	}()
	waitFor(t, 5*time.Second, "the hand-over to begin", func() bool {
		return errors.Is(l.srv.raft.Barrier(time.Second).Error(), raft.ErrLeadershipTransferInProgress)
	})
	if err := l.srv.SetSuspended(ctxT(t, 20*time.Second), "db", true, "test"); err != nil {
		t.Fatalf("suspend during a leadership hand-over: %v", err)
	}
	if err := <-handover; err == nil {
		t.Fatalf("the hand-over to the cut-off %s succeeded; the test did not hold it under way", p.cfg.NodeID)
	}
	if g := c.leader().srv.State().Groups["db"]; !g.Status.Suspended {
		t.Fatal("db is not suspended")
	}
}
