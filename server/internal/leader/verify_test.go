package leader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftha/raftha/internal/testsupport"
)

// countingRaft counts VerifyLeader rounds; each waits for gate (when set)
// and answers err.
type countingRaft struct {
	*fakeRaft
	rounds atomic.Int32
	gate   chan struct{}
	err    error
}

func (r *countingRaft) VerifyLeader() error {
	r.rounds.Add(1)
	if r.gate != nil {
		<-r.gate
	}
	return r.err
}

// newGatherRig is newRig whose raft counts leadership rounds and whose
// heartbeats gather for window.
func newGatherRig(t *testing.T, window time.Duration) (*rig, *countingRaft) {
	r := newRig(t)
	cr := &countingRaft{fakeRaft: r.l.cfg.Raft.(*fakeRaft)}
	r.l.cfg.Raft = cr
	r.l.cfg.Gather = window
	return r, cr
}

// joined is how many callers joined the round not started yet.
func (v *verifier) joinedNext() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.next == nil {
		return 0
	}
	return v.next.joined
}

// Heartbeats that arrive within the gather window share one VerifyLeader
// round: an idle cluster's members heartbeat on the same boundaries
// (owner.Lease.Run), and each round costs an AppendEntries per follower.
func TestHeartbeatsShareOneLeadershipRound(t *testing.T) {
	r, cr := newGatherRig(t, GatherWindow)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, n := range []string{"n1", "n2", "n3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.l.Heartbeat(context.Background(), hb(n))
			errs <- err
		}()
	}
	waitFor(t, "three heartbeats to join the gathering round", func() bool { return r.l.verify.joinedNext() == 3 })
	if n := cr.rounds.Load(); n != 0 {
		t.Fatalf("%d leadership rounds before the window ended, want 0", n)
	}
	r.clk.Advance(GatherWindow)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if n := cr.rounds.Load(); n != 1 {
		t.Fatalf("three heartbeats in one window took %d leadership rounds, want 1", n)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if !r.term.Healthy(n) {
			t.Errorf("%s's contact not recorded by the shared round", n)
		}
	}
}

// A round every member joined starts at once: on an idle cluster the
// window's timer is stopped before it fires.
func TestFullRoundStartsWithoutItsWindow(t *testing.T) {
	r, cr := newGatherRig(t, time.Hour)         // the fake clock never gets there
	members := []string{"n1", "n2", "n3", "w1"} // every server in the rig's raft
	errs := make(chan error, len(members))
	for _, n := range members {
		go func() {
			_, err := r.l.Heartbeat(context.Background(), hb(n))
			errs <- err
		}()
	}
	for range members {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a round every member joined still waits out its window")
		}
	}
	if n := cr.rounds.Load(); n != 1 {
		t.Fatalf("%d leadership rounds, want the one all %d shared", n, len(members))
	}
}

// The safety of sharing: a caller never takes the answer of a round that
// started before it asked (that answer may predate a newer leader's
// election, and the caller's commit index). A caller that arrives while a
// round is in flight gets a round of its own.
func TestVerifyRoundStartedIsNeverJoined(t *testing.T) {
	r, cr := newGatherRig(t, 0)
	cr.gate = make(chan struct{})
	first := make(chan error, 1)
	go func() { _, err := r.l.LinearizableRead(context.Background()); first <- err }()
	waitFor(t, "the first round to start", func() bool { return cr.rounds.Load() == 1 })
	second := make(chan error, 1)
	go func() { _, err := r.l.LinearizableRead(context.Background()); second <- err }()
	waitFor(t, "a second round for the caller that came while the first was in flight", func() bool { return cr.rounds.Load() == 2 })
	close(cr.gate)
	for i, ch := range []chan error{first, second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("read %d: %v", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("read %d not answered", i+1)
		}
	}
}

// A confirmation before a start (clause 2) does not wait out a heartbeat's
// window: it joins the gathering round and starts it at once.
func TestUrgentReadStartsAGatheringRoundAtOnce(t *testing.T) {
	r, cr := newGatherRig(t, time.Hour) // the fake clock never gets there
	beat := make(chan error, 1)
	go func() { _, err := r.l.Heartbeat(context.Background(), hb("n1")); beat <- err }()
	waitFor(t, "the heartbeat to gather", func() bool { return r.l.verify.joinedNext() == 1 })
	if _, err := r.l.LinearizableRead(context.Background()); err != nil {
		t.Fatalf("urgent read: %v", err)
	}
	select {
	case err := <-beat:
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat that gathered was not answered by the urgent read's round")
	}
	if n := cr.rounds.Load(); n != 1 {
		t.Fatalf("%d rounds, want the one both shared", n)
	}
}

// A failed round fails every caller that shared it, as no quorum.
func TestFailedSharedRoundFailsEveryCaller(t *testing.T) {
	r, cr := newGatherRig(t, GatherWindow)
	cr.err = errors.New("node is not the leader")
	errs := make(chan error, 2)
	for _, n := range []string{"n1", "n2"} {
		go func() { _, err := r.l.Heartbeat(context.Background(), hb(n)); errs <- err }()
	}
	waitFor(t, "both heartbeats to gather", func() bool { return r.l.verify.joinedNext() == 2 })
	r.clk.Advance(GatherWindow)
	for range 2 {
		if err := <-errs; !errors.Is(err, errNoQuorum) {
			t.Fatalf("heartbeat after a failed round: %v, want ErrNoQuorum", err)
		}
	}
	if n := cr.rounds.Load(); n != 1 {
		t.Fatalf("%d rounds, want 1", n)
	}
}

// waitFor is testsupport.Eventually.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, cond)
}

// reelectedRaft is a raft whose leadership can change under the caller:
// term and commit index move, VerifyLeader answers as the leader of the
// current term (raft's VerifyLeader only proves leadership when it runs).
type reelectedRaft struct {
	*fakeRaft
	term   atomic.Uint64
	commit atomic.Uint64
}

func (r *reelectedRaft) CurrentTerm() uint64 { return r.term.Load() }
func (r *reelectedRaft) CommitIndex() uint64 {
	if c := r.commit.Load(); c != 0 {
		return c
	}
	return r.f.AppliedIndex()
}
func (r *reelectedRaft) VerifyLeader() error { return nil }

// Found by review (older than the shared rounds, whose gather window
// widened it): a heartbeat reads its Term (Ready) and commit index in term 2, then waits
// GatherWindow. Meanwhile this member loses leadership, another leader
// commits entries this member has not applied (a takeover, say), and this
// member is elected again in term 4 (not ready yet: its barrier has not
// run). The shared round then runs and VerifyLeader succeeds (this member
// leads term 4), so the heartbeat answers from the FSM at the term-2
// commit index: entries committed before the answer by the intermediate
// leader are missing, and the member's lease is renewed from that stale
// view. A read whose term changed between its commit-index read and the
// round must be refused, also while the leader role has not yet been told
// of the loss (Monitor lags: its Term is still set).
func TestReadSpanningALeadershipChangeIsRefused(t *testing.T) {
	for _, monitorLags := range []bool{false, true} {
		t.Run(map[bool]string{false: "term cleared", true: "monitor not yet told"}[monitorLags], func(t *testing.T) { readAcrossTerms(t, monitorLags) })
	}
}

func readAcrossTerms(t *testing.T, monitorLags bool) {
	r := newRig(t)
	rr := &reelectedRaft{fakeRaft: r.l.cfg.Raft.(*fakeRaft)}
	rr.term.Store(2)
	r.l.cfg.Raft = rr
	r.l.cfg.Gather = GatherWindow

	done := make(chan error, 1)
	go func() { _, err := r.l.Heartbeat(context.Background(), hb("n1")); done <- err }()
	waitFor(t, "the heartbeat to gather", func() bool { return r.l.verify.joinedNext() == 1 })

	// Leadership lost (Monitor cleared the term), another leader
	// committed 5 entries, this member leads again in term 4 and waits
	// for its barrier (not ready).
	if !monitorLags {
		r.l.mu.Lock()
		r.l.term = nil
		r.l.mu.Unlock()
	}
	rr.commit.Store(r.f.AppliedIndex() + 5)
	rr.term.Store(4)

	r.clk.Advance(GatherWindow)
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("heartbeat read in term 2 answered after a round in term 4 (FSM applied %d, commit index now %d): stale read renews the lease",
				r.f.AppliedIndex(), rr.CommitIndex())
		}
		if !errors.Is(err, errNotLeader) && !errors.Is(err, errNoQuorum) {
			t.Fatalf("heartbeat across a leadership change: %v, want NotLeader or NoQuorum", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("heartbeat not answered")
	}
}
