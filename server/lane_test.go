package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// TestCancelledOperatorCallsKeepTheLease is issue 12's read-only attack on
// an owner that is not the leader: its forwarded calls (status, a member
// removal), each cancelled after 3ms, hammered for a few seconds. Before
// lease traffic had connections of its own, every cancelled call closed the
// one connection to the leader that the owner's heartbeats and confirms
// shared, so heartbeats failed and the owner self-fenced. Now the owner's
// heartbeats never fail, it never self-fences and the group keeps its
// owner and epoch.
func TestCancelledOperatorCallsKeepTheLease(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "n3")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	var owner, other string
	for _, m := range c.members {
		if m.cfg.NodeID == l.cfg.NodeID {
			continue
		}
		if owner == "" {
			owner = m.cfg.NodeID
		} else {
			other = m.cfg.NodeID
		}
	}
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, owner, other)), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", owner)
	o := c.member(owner)
	time.Sleep(3 * o.cfg.Timing.Heartbeat.D()) // heartbeats flowing
	logsBefore := len(o.logs.String())

	hammer := 4 * time.Second
	stop := time.Now().Add(hammer)
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(stop); j++ {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
				if j%2 == 0 {
					_, _ = o.srv.Status(ctx)
				} else {
					_ = o.srv.RemoveMember(ctx, "nosuch", "test")
				}
				cancel()
				calls.Add(1)
			}
		}()
	}
	// Sample the owner's lease while the calls run: it must never lapse.
	var lapsed []string
	for time.Now().Before(stop) {
		if left := o.srv.lease.remaining(); left <= 0 {
			lapsed = append(lapsed, left.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d cancelled calls in %s", calls.Load(), hammer)

	logs := o.logs.String()[logsBefore:]
	if n := strings.Count(logs, "heartbeat to leader failed"); n > 0 {
		t.Errorf("the owner's heartbeats failed %d times while its operator calls were cancelled:\n%s", n, firstLines(logs, "heartbeat to leader failed", 3))
	}
	if len(lapsed) > 0 {
		t.Errorf("the owner's lease lapsed %d times", len(lapsed))
	}
	if strings.Contains(logs, "self-fencing") {
		t.Errorf("the owner self-fenced")
	}
	g := c.group("db")
	if g.Status.Owner != owner || g.Status.Epoch != before.Status.Epoch || g.Status.State != fsm.StateOnline {
		t.Errorf("group moved: %s on %s at epoch %d, was online on %s at %d", g.Status.State, g.Status.Owner, g.Status.Epoch, owner, before.Status.Epoch)
	}
}

// firstLines returns up to n lines of logs that contain s.
func firstLines(logs, s string, n int) string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, s) && len(out) < n {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
