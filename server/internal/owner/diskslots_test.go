package owner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources/builtin/core"
)

// diskBeatRunner is a runner of node n1 over n groups, none with a slot
// device: beatDisksOnce has nothing to write, only the log to look at.
func diskBeatRunner(tb testing.TB, n int) *Runner {
	tb.Helper()
	st := fsm.NewState()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("g%04d", i)
		st.Groups[name] = &fsm.Group{Spec: fsm.GroupSpec{Name: name, Nodes: []string{"n1", "n2"},
			Resources: []fsm.ResourceSpec{{Name: "app", Type: "exec", Params: json.RawMessage(`{"start":"true","stop":"true"}`)}}}}
	}
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, st); err != nil {
		tb.Fatal(err)
	}
	f := fsm.New()
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		tb.Fatal(err)
	}
	var cfg config.Config
	cfg.NodeID = "n1"
	a := &agent{cfg: cfg, fsm: f, registry: core.Registry(), logger: hclog.NewNullLogger()}
	return &Runner{s: a, log: a.logger}
}

// An idle member's disk heartbeat does not re-read every group's spec
// each heartbeat: with the log unchanged since the last round, a round
// over 1,000 groups allocates next to nothing (it used to marshal every
// candidate group's spec to JSON to see whether it changed, and to look
// each group up in a list: about 7% of an idle node's CPU at 1,000
// groups).
func TestDiskBeatIdleRoundSkipsUnchangedLog(t *testing.T) {
	r := diskBeatRunner(t, 1000)
	ctx := t.Context()
	r.beatDisksOnce(ctx) // first round: builds what it needs
	allocs := testing.AllocsPerRun(5, func() { r.beatDisksOnce(ctx) })
	if allocs > 50 {
		t.Fatalf("an idle disk-heartbeat round over 1,000 groups made %.0f allocations; want at most 50 when the log has not changed", allocs)
	}
}

// BenchmarkDiskBeatIdleRound is one disk-heartbeat round of an idle node
// with 1,000 candidate groups and an unchanged log.
func BenchmarkDiskBeatIdleRound(b *testing.B) {
	r := diskBeatRunner(b, 1000)
	ctx := b.Context()
	r.beatDisksOnce(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.beatDisksOnce(ctx)
	}
}

// A changed log is read again: a group that gains a disk with a
// lock_device gets its slot resource, and a group that leaves the node's
// candidates loses it.
func TestDiskBeatRefreshFollowsTheLog(t *testing.T) {
	r := diskBeatRunner(t, 3)
	d := &r.slots
	r.refreshSlotResources(r.s.fsm.Shared())
	if len(d.names) != 3 || len(d.res["g0001"]) != 0 {
		t.Fatalf("names %v, slot resources of g0001 %d; want 3 names and none", d.names, len(d.res["g0001"]))
	}
	st := r.s.fsm.Shared().Clone()
	g := st.Groups["g0001"]
	g.Spec.Resources = append(g.Spec.Resources, fsm.ResourceSpec{Name: "data", Type: "disk",
		Params: json.RawMessage(`{"device":"/dev/loop-none","mount_point":"/mnt/x","lock_device":"/dev/loop-none-lock"}`)})
	st.Groups["g0002"].Spec.Nodes = []string{"n2"}
	r.refreshSlotResources(st)
	if len(d.res["g0001"]) != 1 {
		t.Fatalf("g0001 gained a disk with a lock_device: %d slot resources, want 1", len(d.res["g0001"]))
	}
	if _, ok := d.specs["g0002"]; ok || len(d.names) != 2 {
		t.Fatalf("g0002 left this node's candidates: names %v, still built: %v", d.names, ok)
	}
}
