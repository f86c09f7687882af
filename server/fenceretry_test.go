package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// TestFenceRetriedSoonWhileCloudUnavailable: the winner's fence fails four
// times because the cloud's API did not serve it (cloud.ErrUnavailable:
// each such failure has already spent its call retrying), then succeeds.
// Each retry follows soon after the failure, not after a backoff that
// doubles (0.5, 1, 2, 4 s): the group is online well within what those
// backoffs alone would take, so the winner does not sleep through the
// moment the API answers again.
func TestFenceRetriedSoonWhileCloudUnavailable(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	var mu sync.Mutex
	var calls []time.Time
	fencer := FencerFunc(func(ctx context.Context, node fsm.Member) error {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		if n <= 4 {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("%w: %w: StopInstances %s: Unavailable: Service Unavailable", cloud.ErrFenceFailed, cloud.ErrUnavailable, node.InstanceID)
		}
		return nil
	})
	i := 0
	c.configure(func(m *testMember) {
		i++
		m.cfg.Fencing.Mode = config.FencingAWSStop
		m.cfg.AWS.InstanceID = fmt.Sprintf("i-%017x", i)
		m.opts.Fencer = fencer
	})
	c.startMarker("n1", "n2")
	c.kill("n1")
	c.waitOnline("db", "n2")
	online := time.Now()
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 5 {
		t.Fatalf("%d fence calls, want 5 (4 failed, then one that succeeded)", len(calls))
	}
	if took := online.Sub(calls[0]); took > 4*time.Second {
		t.Fatalf("online %s after the first fence call: the retries after unavailable-API failures backed off as if EC2 had refused (calls at %v)", took.Round(time.Millisecond), calls)
	}
}
