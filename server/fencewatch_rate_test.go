package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/resources"
)

// countedFence is a resource whose fence check always passes and notes
// when it was called.
type countedFence struct {
	mu    sync.Mutex
	calls []time.Time
}

func (r *countedFence) Start(ctx context.Context, tok resources.Token) error { return nil }
func (r *countedFence) Stop(ctx context.Context, tok resources.Token) error  { return nil }
func (r *countedFence) Check(ctx context.Context, tok resources.Token) error { return nil }
func (r *countedFence) CheckFence(ctx context.Context, tok resources.Token) error {
	r.mu.Lock()
	r.calls = append(r.calls, time.Now())
	r.mu.Unlock()
	return nil
}

func (r *countedFence) since(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if !c.Before(t) {
			n++
		}
	}
	return n
}

// TestFenceCheckEveryHeartbeatWhileLeaseRenews: an owner whose lease
// renews normally (nothing cut, the runner's tick stands down) still runs
// its fence checks every heartbeat: a renewal's pass comes once an
// interval, at the answer's time, which varies from one interval to the
// next; a check due "one heartbeat after the last" must not skip the
// pass of an interval whose answer came a little earlier than the last.
func TestFenceCheckEveryHeartbeatWhileLeaseRenews(t *testing.T) {
	counted := &countedFence{}
	reg := DefaultRegistry()
	if err := reg.Register(resources.Type{Name: "counted", NewParams: func() any { return &struct{}{} },
		Build: func(_ any, env resources.Env) (resources.Resource, error) {
			if env.NodeID == "n1" {
				return counted, nil
			}
			return &countedFence{}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, _ := faultCluster(t, dir, 500*time.Millisecond, func(m *testMember) { m.opts.Registry = reg })
	c.apply(t, "groups:\n  - name: db\n    nodes: [n1, n2]\n    resources:\n      - name: data\n        type: counted\n")
	c.waitOnline("db", "n1")
	hb := c.member("n1").cfg.Timing.Heartbeat.D()
	time.Sleep(5 * hb) // past the start's own passes
	const beats = 40
	began := time.Now()
	time.Sleep(beats * hb)
	n := counted.since(began)
	t.Logf("%d fence checks in %d heartbeats", n, beats)
	if n < beats*85/100 {
		t.Fatalf("%d fence checks in %d heartbeats of a renewing lease; want one a heartbeat (at least %d)", n, beats, beats*85/100)
	}
}
