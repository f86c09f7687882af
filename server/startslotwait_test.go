package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
)

// TestStartWaitingForASlotHonoursAStop: a start that waited for a start
// slot (startslots.go) looks at the log again once it has one. Here every
// slot of n1 is taken when the group is placed there, the operator stops
// the group while its start waits, and then the slots free up: the group
// must not be started (its resource never runs), though the owner and
// epoch it waited with are still the log's (a stop keeps both, and a
// confirmation says only that they are).
func TestStartWaitingForASlotHonoursAStop(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	c.waitHealthy()
	r := c.member("n1").srv.runner
	var held []func()
	for i := 0; i < maxConcurrentStarts; i++ {
		held = append(held, r.TakeStartSlot()) // slow starts of other groups hold every slot
	}
	freed := false
	free := func() {
		if !freed {
			freed = true
			for _, release := range held {
				release()
			}
		}
	}
	t.Cleanup(free)
	work := t.TempDir()
	starts := filepath.Join(work, "starts")
	spec := fmt.Sprintf(`groups:
  - name: db
    nodes: [n1]
    resources:
      - name: app
        type: exec
        start: echo "$RAFTHA_EPOCH" >> %s
        stop: "true"
        check: "true"
        timeout: 10s
`, starts)
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(spec), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "db placed on n1 and waiting for a slot", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		g, ok := l.srv.State().Groups["db"]
		return ok && g.Status.Owner == "n1" && g.Status.State == fsm.StateStarting
	})
	time.Sleep(300 * time.Millisecond) // n1's worker is in startSlot
	stopped := make(chan error, 1)
	go func() {
		_, err := c.member("n2").srv.StopGroup(ctxT(t, 30*time.Second), "db", "test")
		stopped <- err
	}()
	waitFor(t, 10*time.Second, "stop of db applied on n1", func() bool {
		g, ok := c.member("n1").srv.State().Groups["db"]
		return ok && g.Status.State != fsm.StateStarting
	})
	free()
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	if b, err := os.ReadFile(starts); err == nil {
		t.Fatalf("db was started on n1 after its stop was requested (epochs started: %q)", b)
	}
}
