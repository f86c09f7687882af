package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/internal/testsupport"
)

// TestShutdownWaitsForSlowHandler: an owner callback that takes longer
// than failover_timeout (but less than its stop_timeout) to return after
// its context is cancelled. Shutdown waits for it, the group moves by a
// planned move (no failure, no takeover) and Shutdown returns only once
// the callback has returned.
func TestShutdownWaitsForSlowHandler(t *testing.T) {
	for _, leader := range []string{"n1", "n2"} {
		t.Run("leader "+leader, func(t *testing.T) { testShutdownWaitsForSlowHandler(t, leader) })
	}
}

func testShutdownWaitsForSlowHandler(t *testing.T, leader string) {
	p := newProbe(t)
	p.linger = 2500 * time.Millisecond // failover_timeout 1.2s < 2.5s < stop_timeout 5s
	c, g := embedCluster(t, p)
	c.transferLeadership(leader)
	c.waitHealthy()
	n1 := c.member("n1")
	// A leadership change may let the owner's lease lapse (a self-fence,
	// not what this test is about): start from a settled, renewed lease.
	c.waitOnline("db", "n1")
	waitFor(t, 10*time.Second, "n1 owning db with a valid lease", func() bool { return n1.srv.IsOwner("db") })
	leaderBefore := c.leader().cfg.NodeID
	t0 := time.Now()
	err := n1.srv.Shutdown(ctxT(t, 20*time.Second))
	took := time.Since(t0)
	n1.srv = nil
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	returned, ok := p.find("n1", "return", g.Status.Epoch)
	if !ok || returned.at.After(t0.Add(took)) {
		t.Fatalf("Shutdown returned after %s, before n1's handler returned:%s", took, p.describe())
	}
	g2 := c.waitOnline("db", "n2")
	started := p.waitStart("n2", g2.Status.Epoch)
	if !returned.at.Before(started.at) {
		t.Fatalf("n2's handler started before n1's returned:%s", p.describe())
	}
	t.Logf("leader before: %s; shutdown took %s", leaderBefore, took)
	var hist []string
	for _, e := range c.events("db") {
		hist = append(hist, fmt.Sprintf("%s@%d", e.Kind, e.Epoch))
	}
	for _, e := range c.events("db") {
		if e.Kind == "takeover" || e.Kind == "fencing" || e.Kind == "fenced" || e.Kind == "failed" {
			t.Fatalf("shutdown with a slow handler caused a %s, not a planned move: %v", e.Kind, hist)
		}
	}
	want := fmt.Sprintf("stopping@%d stopped@%d assigned@%d online@%d", g.Status.Epoch, g.Status.Epoch, g2.Status.Epoch, g2.Status.Epoch)
	t.Logf("history %v%s", hist, p.describe())
	if !strings.Contains(strings.Join(hist, " "), want) {
		t.Fatalf("history %v does not contain %q", hist, want)
	}
}

// TestShutdownReportsAHandlerThatDoesNotStop: an owner callback that does
// not return within its stop_timeout after its context is cancelled. The
// stop failed, so the group is not handed over by a planned move (it is
// stop-failed: only a fenced takeover may move it), and Shutdown says so.
func TestShutdownReportsAHandlerThatDoesNotStop(t *testing.T) {
	p := newProbe(t)
	// > stop_timeout 5s, and past the retry at shutdown (another
	// stop_timeout) beyond fencing.stop_deadline (700ms).
	p.linger = 11 * time.Second
	c, g := embedCluster(t, p)
	n1 := c.member("n1")
	err := n1.srv.Shutdown(ctxT(t, 30*time.Second))
	n1.srv = nil
	if err == nil {
		t.Fatalf("Shutdown returned nil although n1's handler did not return within its stop_timeout:%s", p.describe())
	}
	if !errors.Is(err, ErrShutdownIncomplete) || !strings.Contains(err.Error(), "did not return within stop_timeout 5s") {
		t.Fatalf("Shutdown: %v, want ErrShutdownIncomplete naming the handler's stop_timeout", err)
	}
	var failed bool
	for _, e := range c.events("db") {
		failed = failed || (e.Kind == "failed" && e.Epoch == g.Status.Epoch)
		if e.Kind == "stopped" && e.Epoch == g.Status.Epoch {
			t.Fatalf("a stop that failed was reported as stopped: %s", kinds(c.events("db")))
		}
	}
	if !failed {
		t.Fatalf("no failed event at epoch %d: %s", g.Status.Epoch, kinds(c.events("db")))
	}
}

// callsNeedingStart calls every exported method of s that needs a running
// server and returns each one's error by name.
func callsNeedingStart(s *Server) map[string]error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := map[string]error{}
	_, out["ApplyGroups"] = s.ApplyGroups(ctx, []byte("groups: []\n"), "test")
	_, out["Transfer"] = s.Transfer(ctx, "db", "n2", "test")
	_, out["Status"] = s.Status(ctx)
	out["SetSuspended"] = s.SetSuspended(ctx, "db", true, "test")
	_, out["StopGroup"] = s.StopGroup(ctx, "db", "test")
	_, out["FenceOverride"] = s.FenceOverride(ctx, "db", "test", "test")
	out["AddMember"] = s.AddMember(ctx, api.MemberRequest{ID: "n9", Address: "127.0.0.1:1", Role: "node"}, "")
	out["RemoveMember"] = s.RemoveMember(ctx, "n9", "test")
	_, out["SetClusterSettings"] = s.SetClusterSettings(ctx, api.SettingsRequest{}, "test")
	out["Shutdown"] = s.Shutdown(ctx)
	return out
}

// checkZeroValues checks the calls that answer from local state with a
// zero value when the server is not running.
func checkZeroValues(t *testing.T, s *Server, when string) {
	t.Helper()
	if s.LeaderID() != "" || s.RaftAddr() == "" && when == "after Shutdown" || s.IsLeader() || s.LeaseValid("db", 1) {
		t.Fatalf("%s: LeaderID %q RaftAddr %q IsLeader %v LeaseValid %v", when, s.LeaderID(), s.RaftAddr(), s.IsLeader(), s.LeaseValid("db", 1))
	}
	if s.State() == nil || s.Registry() == nil || s.Config().NodeID == "" || s.Logger() == nil {
		t.Fatalf("%s: State, Registry, Config or Logger empty", when)
	}
}

// TestLifecycleCallsBeforeStartAndAfterShutdown: every exported method
// works before Start and after Shutdown: the cluster calls return
// ErrNotStarted / ErrStopped, the local ones a zero value; nothing panics.
// Right after WaitReady, ApplyGroups succeeds at the first try.
func TestLifecycleCallsBeforeStartAndAfterShutdown(t *testing.T) {
	c := newTestCluster(t, "n1")
	m := c.members[0]
	m.logs = &testsupport.SyncBuffer{}
	s, err := New(m.cfg, Options{LogOutput: m.logs})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range callsNeedingStart(s) {
		if !errors.Is(err, ErrNotStarted) {
			t.Errorf("%s before Start: %v, want ErrNotStarted", name, err)
		}
	}
	checkZeroValues(t, s, "before Start")
	if s.RaftAddr() != "" || s.APIAddr() != "" {
		t.Fatalf("addresses before Start: %q %q", s.RaftAddr(), s.APIAddr())
	}
	select {
	case <-s.Done():
		t.Fatal("Done closed before Start")
	case <-s.Ready():
		t.Fatal("Ready closed before Start")
	default:
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady before Start: %v", err)
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	m.srv = s
	if err := s.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v", err)
	}
	if err := s.WaitReady(ctxT(t, 15*time.Second)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if _, err := s.ApplyGroups(ctxT(t, 5*time.Second), []byte(markerGroup(t.TempDir(), "n1")), "test"); err != nil {
		t.Fatalf("ApplyGroups right after WaitReady: %v", err)
	}
	if s.LeaderID() != "n1" || s.RaftAddr() == "" || s.APIAddr() == "" {
		t.Fatalf("running: LeaderID %q RaftAddr %q APIAddr %q", s.LeaderID(), s.RaftAddr(), s.APIAddr())
	}

	if err := s.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	m.srv = nil
	for name, err := range callsNeedingStart(s) {
		if !errors.Is(err, ErrStopped) {
			t.Errorf("%s after Shutdown: %v, want ErrStopped", name, err)
		}
	}
	checkZeroValues(t, s, "after Shutdown")
	if err := s.Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Shutdown")
	}
	if err := s.WaitReady(ctxT(t, time.Second)); err != nil {
		t.Fatalf("WaitReady after a ready member stopped: %v (Ready stays closed)", err)
	}

	// Killed before Start: stopped for good.
	k, err := New(m.cfg, Options{LogOutput: m.logs})
	if err != nil {
		t.Fatal(err)
	}
	k.Kill()
	if err := k.Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Kill: %v", err)
	}
	if err := k.WaitReady(ctxT(t, time.Second)); !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitReady of a killed server: %v", err)
	}
}

// TestWaitReadyThenApplyOnAFollower: every member of a three-member
// cluster becomes ready, and a follower's ApplyGroups right after its
// WaitReady succeeds without a retry.
func TestWaitReadyThenApplyOnAFollower(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	for _, m := range c.members {
		if err := m.srv.WaitReady(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("%s: WaitReady: %v", m.cfg.NodeID, err)
		}
	}
	var follower *testMember
	for _, m := range c.members {
		if !m.srv.IsLeader() {
			follower = m
			break
		}
	}
	if _, err := follower.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatalf("ApplyGroups on follower %s right after WaitReady: %v", follower.cfg.NodeID, err)
	}
}
