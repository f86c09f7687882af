package hooks

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// TestHookQueueFullDropsAndCounts: with nothing draining the queue, runs
// past hookQueueSize are dropped, each counted in
// raftha_hook_dropped_total, and the warning is rate-limited.
func TestHookQueueFullDropsAndCounts(t *testing.T) {
	logs := &bytes.Buffer{}
	reg := prometheus.NewRegistry()
	h, err := New(Deps{
		NodeID:     "n1",
		Hooks:      []config.HookConfig{{Name: "a", Command: []string{"/bin/true"}, Events: []fsm.EventKind{fsm.KindOnline}, Timeout: config.Duration(time.Second)}, {Name: "b", Command: []string{"/bin/true"}, Events: []fsm.EventKind{fsm.KindFailed}, Timeout: config.Duration(time.Second)}},
		FSM:        fsm.New(),
		Logger:     hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	const extra = 5
	for i := range hookQueueSize + extra {
		h.enqueue(fsm.Event{Kind: fsm.KindOnline, Group: "db", Epoch: uint64(i + 1)})
	}
	h.enqueue(fsm.Event{Kind: fsm.KindStopped, Group: "db"}) // no hook takes it
	if got := dropped(t, reg); len(got) != 1 || got["a"] != extra {
		t.Errorf("raftha_hook_dropped_total = %v, want only a: %d", got, extra)
	}
	if len(h.queue) != hookQueueSize {
		t.Errorf("queue holds %d, want %d", len(h.queue), hookQueueSize)
	}
	if n := strings.Count(logs.String(), "hook queue full"); n != 1 {
		t.Errorf("%d warnings for %d drops, want 1 (rate-limited):\n%s", n, extra, logs)
	}
	// The first queued run is the first event: order is kept.
	if j := <-h.queue; j.ev.Epoch != 1 || j.hook.Name != "a" {
		t.Errorf("first queued run %+v", j)
	}
}

// TestHookNoteRunsOnlySelfFenceKinds: a note queues the hooks of
// self-fenced and self-fence-action only; other kinds run from the log.
func TestHookNoteRunsOnlySelfFenceKinds(t *testing.T) {
	h, err := New(Deps{
		NodeID:     "n1",
		Hooks:      []config.HookConfig{{Name: "a", Command: []string{"/bin/true"}, Events: []fsm.EventKind{fsm.KindSelfFenced, fsm.KindSelfFenceAction, fsm.KindFailed}, Timeout: config.Duration(time.Second)}},
		FSM:        fsm.New(),
		Logger:     hclog.NewNullLogger(),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []fsm.EventKind{fsm.KindFailed, fsm.KindSelfFenced, fsm.KindSelfFenceAction} {
		h.Note(&fsm.Note{Kind: k, Group: "db", Node: "n1", Epoch: 3})
	}
	if len(h.queue) != 2 {
		t.Fatalf("queue holds %d runs, want 2 (self-fenced, self-fence-action)", len(h.queue))
	}
	for _, want := range []fsm.EventKind{fsm.KindSelfFenced, fsm.KindSelfFenceAction} {
		if j := <-h.queue; j.ev.Kind != want || j.ev.Group != "db" || j.ev.Epoch != 3 {
			t.Errorf("queued %+v, want %s of db at 3", j.ev, want)
		}
	}
}

// dropped reads raftha_hook_dropped_total from reg, by hook.
func dropped(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "raftha_hook_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hook" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
