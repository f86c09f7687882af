package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestStatusShowsRetries: the group table shows the start retries made at
// this epoch and when a group failed everywhere is retried.
func TestStatusShowsRetries(t *testing.T) {
	at := time.Date(2026, 11, 29, 15, 4, 5, 0, time.Local)
	st := &api.Status{Leader: "n1", Groups: []api.GroupStatus{
		{Name: "db", Owner: "n1", State: fsm.StateStarting, Nodes: []string{"n1", "n2"}, StartRetries: 2, StartRetriesDone: 1},
		{Name: "web", Owner: "n2", State: fsm.StateFailed, Nodes: []string{"n1", "n2"}, NextRetry: &at},
		{Name: "app", Owner: "n1", State: fsm.StateOnline, Nodes: []string{"n1"}, StartRetries: 2, StartRetriesDone: 2},
	}}
	var b strings.Builder
	printStatus(&b, st, 0)
	out := b.String()
	for _, want := range []string{"starting (start retry 1/2)", "failed (auto-retry at 15:04:05)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "online (") {
		t.Fatalf("an online group shows retries:\n%s", out)
	}
}
