package server

// Fence checks (issue #13): a resource whose own storage shows a newer
// owner (the disk resource's lock_device) makes the agent give the group
// up at once, through the self-fence path, while its lease is still good.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

var errTestSuperseded = errors.New("test: storage shows a higher epoch")

// fencedResource marks dir/on.NODE while it runs. Its fence check fails
// while dir/superseded.NODE exists; its stop fails while
// dir/fail-stop.NODE exists; it hangs until its context ends while
// dir/hang-stop.NODE exists.
type fencedResource struct{ dir string }

func (r *fencedResource) Start(ctx context.Context, tok resources.Token) error {
	return os.WriteFile(filepath.Join(r.dir, "on."+tok.Node), nil, 0o600)
}

func (r *fencedResource) Stop(ctx context.Context, tok resources.Token) error {
	if exists(filepath.Join(r.dir, "fail-stop."+tok.Node)) {
		return errors.New("test: stop fails")
	}
	if exists(filepath.Join(r.dir, "hang-stop."+tok.Node)) {
		<-ctx.Done() // an unmount stuck on a dead device
		return ctx.Err()
	}
	if err := os.Remove(filepath.Join(r.dir, "on."+tok.Node)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (r *fencedResource) Check(ctx context.Context, tok resources.Token) error { return nil }

func (r *fencedResource) CheckFence(ctx context.Context, tok resources.Token) error {
	if exists(filepath.Join(r.dir, "superseded."+tok.Node)) {
		return errTestSuperseded
	}
	return nil
}

// fencedCluster is n1, n2, w1 (lease-only, self_fence_action exit caught
// by h) with the "fenced" type, and group db on [n1, n2] online on n1.
func fencedCluster(t *testing.T, dir string) (*testCluster, *hardActions) {
	reg := DefaultRegistry()
	if err := reg.Register(resources.Type{Name: "fenced", NewParams: func() any { return &struct{}{} },
		Build: func(_ any, env resources.Env) (resources.Resource, error) { return &fencedResource{dir: dir}, nil }}); err != nil {
		t.Fatal(err)
	}
	c, h := faultCluster(t, dir, 500*time.Millisecond, func(m *testMember) { m.opts.Registry = reg })
	c.apply(t, "groups:\n  - name: db\n    nodes: [n1, n2]\n    resources:\n      - name: data\n        type: fenced\n")
	c.waitOnline("db", "n1")
	return c, h
}

// TestFenceCheckSupersededStopsGroupAtOnce: n1 holds db with a good
// lease (nothing is cut); its storage starts to show a newer owner. n1
// stops the group within a couple of heartbeats, records the self-fence,
// gives the epoch up (never starts it again there) and the group moves.
func TestFenceCheckSupersededStopsGroupAtOnce(t *testing.T) {
	dir := t.TempDir()
	c, h := fencedCluster(t, dir)
	hb := c.member("n1").cfg.Timing.Heartbeat.D()
	began := time.Now()
	touch(t, filepath.Join(dir, "superseded.n1"))
	waitFor(t, 10*hb, "n1 stopping the superseded group", func() bool { return !exists(filepath.Join(dir, "on.n1")) })
	t.Logf("stopped %s after the storage showed a newer owner (heartbeat %s)", time.Since(began).Round(time.Millisecond), hb)
	if !strings.Contains(c.member("n1").logs.String(), "superseded: fence check of data (fenced) failed") {
		t.Fatal("n1's log does not show the superseded self-fence")
	}
	c.waitOnline("db", "n2")
	if exists(filepath.Join(dir, "on.n1")) {
		t.Fatal("n1 started the group again")
	}
	var fenced bool
	for _, e := range c.events("db") {
		fenced = fenced || (e.Kind == fsm.KindSelfFenced && e.Node == "n1" && strings.Contains(e.Reason, "superseded"))
	}
	if !fenced {
		t.Fatalf("no self_fenced event from n1: %s", kinds(c.events("db")))
	}
	if _, ok := h.when("n1"); ok {
		t.Fatal("n1 took its hard action although its stop succeeded")
	}
}

// TestFenceCheckSupersededStopFailureTakesHardAction: the same, but the
// stop fails: n1 takes its hard action within fencing.stop_deadline of
// the failed stop, while its lease is still good.
func TestFenceCheckSupersededStopFailureTakesHardAction(t *testing.T) {
	supersededHardAction(t, "fail-stop.n1")
}

// TestFenceCheckSupersededHungStopTakesHardActionWithinStopDeadline: the
// stop hangs (an unmount stuck on the device) instead of failing: the
// hard action must still come within fencing.stop_deadline of the
// superseded check, not stop_deadline (the stop's own bound) plus another
// stop_deadline counted from the failed stop, while a newer owner already
// has the disk.
func TestFenceCheckSupersededHungStopTakesHardActionWithinStopDeadline(t *testing.T) {
	supersededHardAction(t, "hang-stop.n1")
}

// supersededHardAction: n1's stop misbehaves (stopFile), then its storage
// shows a newer owner; n1 must take its hard action within stop_deadline
// + 3 heartbeats, while its lease is still good.
func supersededHardAction(t *testing.T, stopFile string) {
	dir := t.TempDir()
	c, h := fencedCluster(t, dir)
	cfg := c.member("n1").cfg
	touch(t, filepath.Join(dir, stopFile))
	began := time.Now()
	touch(t, filepath.Join(dir, "superseded.n1"))
	limit := cfg.Fencing.StopDeadline.D() + 3*cfg.Timing.Heartbeat.D()
	waitFor(t, 4*limit, "n1's hard action", func() bool { _, ok := h.when("n1"); return ok })
	at, _ := h.when("n1")
	if at.Sub(began) > limit {
		t.Fatalf("hard action %s after the storage showed a newer owner; want within stop_deadline + 3 heartbeats (%s)", at.Sub(began), limit)
	}
	if !strings.Contains(c.member("n1").logs.String(), "superseded: fence check of data (fenced) failed") {
		t.Fatal("n1's log does not show the superseded self-fence")
	}
}
