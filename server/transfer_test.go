package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// slowStartGroup is markerGroup whose start takes startDelay on every node.
func slowStartGroup(dir string, startDelay time.Duration) string {
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [n1, n2]
    resources:
      - name: app
        type: exec
        start: sleep %g; echo "$RAFTHA_NODE $RAFTHA_EPOCH" > %s/running.$RAFTHA_NODE
        stop: rm -f %s/running.$RAFTHA_NODE
        check: test -f %s/running.$RAFTHA_NODE
        timeout: 10s
`, startDelay.Seconds(), dir, dir, dir)
}

// TestTransferExpiredDeadlineCommitsNothing: a transfer whose deadline has
// already passed is refused before anything is committed, on the leader
// and through a follower (whose forwarded remaining time is <= 0 and must
// never be replaced by the default).
func TestTransferExpiredDeadlineCommitsNothing(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	for _, m := range c.members {
		_, err := m.srv.Transfer(expired, "db", "n2", "test")
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("transfer via %s with an expired deadline: err %v, want context.DeadlineExceeded", m.cfg.NodeID, err)
		}
		if errors.Is(err, ErrInProgress) {
			t.Fatalf("transfer via %s: %v claims a committed move", m.cfg.NodeID, err)
		}
	}
	// Nothing was committed: the group stays where it was, at its epoch.
	time.Sleep(time.Second)
	g := c.group("db")
	if g.Status.Owner != "n1" || g.Status.Epoch != before.Status.Epoch || g.Status.State != fsm.StateOnline {
		t.Fatalf("group moved after refused transfers: %+v (before: owner n1 epoch %d)", g.Status, before.Status.Epoch)
	}
}

// TestTransferTimeoutAfterCommitSaysInProgress: when the deadline runs out
// after BeginTransfer committed, the answer is ErrInProgress (also through
// a follower, across the RPC), with the group's status, and the move
// completes on the target; the HTTP API answers 202 with code in_progress.
func TestTransferTimeoutAfterCommitSaysInProgress(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(slowStartGroup(work, 1500*time.Millisecond)), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")
	var via *testMember
	for _, m := range c.members {
		if !m.srv.IsLeader() {
			via = m
			break
		}
	}
	gs, err := via.srv.Transfer(ctxT(t, 500*time.Millisecond), "db", "n2", "test")
	if !errors.Is(err, ErrInProgress) {
		t.Fatalf("transfer via %s with a short deadline: err %v, want ErrInProgress", via.cfg.NodeID, err)
	}
	if gs.Epoch <= before.Status.Epoch || gs.Name != "db" {
		t.Fatalf("in-progress answer carries status %+v; want the committed move (epoch > %d)", gs, before.Status.Epoch)
	}
	after := c.waitOnline("db", "n2")
	if after.Status.Epoch <= before.Status.Epoch {
		t.Fatalf("epoch did not increase: %d -> %d", before.Status.Epoch, after.Status.Epoch)
	}

	// The HTTP mapping: 202, code in_progress, the group's status.
	rec := httptest.NewRecorder()
	writeTransferResult(rec, gs, err)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("HTTP status %d for %v, want 202", rec.Code, err)
	}
	if body := rec.Body.String(); !containsAll(body, `"code": "in_progress"`, `"owner"`, `committed`) {
		t.Fatalf("HTTP body: %s", body)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
