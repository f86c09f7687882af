package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// hungStartResource marks dir/on.GROUP at Start and then blocks, ignoring
// its context, until release is closed: a script stuck in the kernel or a
// plugin that never returns. It declares a short start deadline
// (resources.StartTimeouter) that it does not keep.
type hungStartResource struct {
	dir     string
	release chan struct{}
}

func (r *hungStartResource) Start(_ context.Context, tok resources.Token) error {
	if err := os.WriteFile(filepath.Join(r.dir, "on."+tok.Group), nil, 0o600); err != nil {
		return err
	}
	<-r.release
	return nil
}

func (r *hungStartResource) Stop(context.Context, resources.Token) error  { return nil }
func (r *hungStartResource) Check(context.Context, resources.Token) error { return nil }

// StartTimeout is the deadline the resource says its Start keeps.
func (r *hungStartResource) StartTimeout() time.Duration { return 200 * time.Millisecond }

// TestHungStartsGiveTheirStartSlotsBack: maxConcurrentStarts groups on n1
// hang in a Start that ignores its context, long past their start
// deadline (self_fence_action none: nothing reboots the node). A further
// group placed on n1 must still come online there: a start whose deadline
// passed gives its start slot back even though its call has not returned,
// and says so in the log, naming the group and resource. The hung groups
// stay starting (their resources count as started). The further group's
// online report records its wait for a slot (`raftha why`'s "start slot").
func TestHungStartsGiveTheirStartSlotsBack(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	reg := DefaultRegistry()
	if err := reg.Register(resources.Type{Name: "hungstart", NewParams: func() any { return &struct{}{} },
		Build: func(_ any, _ resources.Env) (resources.Resource, error) {
			return &hungStartResource{dir: dir, release: release}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) { m.opts.Registry = reg })
	t.Cleanup(func() { close(release) }) // before the cluster's own cleanup
	c.startAll()
	c.leader()
	c.waitHealthy()
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := 0; i < maxConcurrentStarts; i++ {
		fmt.Fprintf(&b, "  - name: hung%02d\n    nodes: [n1]\n    resources:\n      - name: app\n        type: hungstart\n", i)
	}
	c.apply(t, b.String())
	waitFor(t, 20*time.Second, "every hung group inside its Start on n1", func() bool {
		for i := 0; i < maxConcurrentStarts; i++ {
			if !exists(filepath.Join(dir, fmt.Sprintf("on.hung%02d", i))) {
				return false
			}
		}
		return true
	})
	fmt.Fprintf(&b, "  - name: db\n    nodes: [n1]\n    resources:\n      - name: app\n        type: exec\n        start: \"true\"\n        stop: \"true\"\n")
	c.apply(t, b.String())
	waitFor(t, 10*time.Second, "db online on n1 beside the hung starts", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		g, ok := l.srv.State().Groups["db"]
		return ok && g.Status.State == fsm.StateOnline && g.Status.Owner == "n1"
	})
	st := c.leader().srv.State()
	var slotWait time.Duration
	for _, e := range st.Events {
		if e.Kind == fsm.KindOnline && e.Group == "db" && e.Timing != nil {
			slotWait = e.Timing.SlotWait
		}
	}
	// The hung starts hold every slot until their deadline (200ms) and
	// then some: db waited at least that long.
	if slotWait < 200*time.Millisecond {
		t.Fatalf("db's online report records a start-slot wait of %s; it waited for a slot held past a 200ms start deadline", slotWait)
	}
	for i := 0; i < maxConcurrentStarts; i++ {
		name := fmt.Sprintf("hung%02d", i)
		if g := st.Groups[name]; g.Status.State != fsm.StateStarting || g.Status.Owner != "n1" {
			t.Fatalf("hung group %s is %s on %q, want still starting on n1", name, g.Status.State, g.Status.Owner)
		}
	}
	logs := c.member("n1").logs.String()
	found := false
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "start slot given back") && strings.Contains(l, "group=hung") && strings.Contains(l, "resource=app") {
			found = true
			t.Logf("n1: %s", l)
			break
		}
	}
	if !found {
		t.Fatal("n1 gave start slots back without a log line naming the group and resource")
	}
}
