package history

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

func TestWhyReconstructsChanges(t *testing.T) {
	st := fsm.NewState()
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	idx := uint64(0)
	at := func(ms int) fsm.Header {
		return fsm.Header{At: t0.Add(time.Duration(ms) * time.Millisecond), By: "ops"}
	}
	apply := func(c fsm.Command) uint64 {
		t.Helper()
		idx++
		r := st.Apply(idx, c)
		if r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
		return r.Epoch
	}
	apply(&fsm.UpsertMember{Header: at(0), Member: fsm.Member{ID: "n1", Role: fsm.RoleNode, InstanceID: "i-0000000000000001"}})
	apply(&fsm.UpsertMember{Header: at(0), Member: fsm.Member{ID: "n2", Role: fsm.RoleNode}})
	apply(&fsm.ApplyGroups{Header: at(0), Groups: []fsm.GroupSpec{{Name: "db", Nodes: []string{"n1", "n2"}}}})
	e1 := apply(&fsm.Assign{Header: at(100), Group: "db", To: "n1", Cause: "placement"})
	apply(&fsm.Report{Header: at(400), Group: "db", Node: "n1", Epoch: e1, State: fsm.StateOnline})
	apply(&fsm.BeginTransfer{Header: at(1000), Group: "db", To: "n2", ExpectEpoch: e1})
	e2 := apply(&fsm.Report{Header: at(1250), Group: "db", Node: "n1", Epoch: e1, State: fsm.StateOffline})
	apply(&fsm.Report{Header: at(1300), Group: "db", Node: "n2", Epoch: e2, State: fsm.StateOnline})
	e3 := apply(&fsm.Assign{Header: at(5000), Group: "db", To: "n1", ExpectEpoch: e2, Fence: true, Cause: "node-lost", Reason: "n2 not heard from for 2s"})
	apply(&fsm.Note{Header: at(5100), Kind: "fence-failed", Group: "db", Epoch: e3, Reason: "throttled"})
	apply(&fsm.Fenced{Header: at(5600), Group: "db", Node: "n1", Epoch: e3, Method: "aws-stop", Took: "480ms"})
	apply(&fsm.Report{Header: at(5700), Group: "db", Node: "n1", Epoch: e3, State: fsm.StateOnline})

	ch := Why(st, "db")
	if len(ch) != 3 {
		t.Fatalf("%d changes: %+v", len(ch), ch)
	}
	if c := ch[0]; c.Cause != "placement" || c.To != "n1" || !c.Online || c.OnlineAfter != api.Duration(300*time.Millisecond) {
		t.Fatalf("placement: %+v", c)
	}
	if c := ch[1]; c.Cause != "planned" || c.From != "n1" || c.To != "n2" || c.Epoch != e2 || c.StopTook != api.Duration(250*time.Millisecond) || c.Fence != "" || c.By != "ops" {
		t.Fatalf("planned: %+v", c)
	}
	c := ch[2]
	if c.Cause != "node-lost" || c.Fence != "aws-stop" || c.FenceTook != "480ms" || c.FenceFailures != 1 || c.OnlineAfter != api.Duration(700*time.Millisecond) {
		t.Fatalf("takeover: %+v", c)
	}
	line := c.String()
	for _, want := range []string{"n2 -> n1", "epoch", "cause node-lost", "fence aws-stop (480ms) after 1 failed attempt(s)", "online after 700ms"} {
		if !strings.Contains(line, want) {
			t.Fatalf("line %q lacks %q", line, want)
		}
	}
}

// TestWhyShowsStartRetriesAndAutoRetry: the start retries of an owner are
// counted on its change, and a group placed again after failing everywhere
// shows cause auto-retry.
func TestWhyShowsStartRetriesAndAutoRetry(t *testing.T) {
	st := fsm.NewState()
	h := fsm.Header{At: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC), By: "leader"}
	for _, c := range []fsm.Command{
		&fsm.UpsertMember{Header: h, Member: fsm.Member{ID: "n1", Role: fsm.RoleNode}},
		&fsm.ApplyGroups{Header: h, Groups: []fsm.GroupSpec{{Name: "db", Nodes: []string{"n1"}, StartRetries: 2, RetryFailedAfter: time.Minute}}},
	} {
		if r := st.Apply(st.Index+1, c); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	apply := func(c fsm.Command) uint64 {
		t.Helper()
		r := st.Apply(st.Index+1, c)
		if r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
		return r.Epoch
	}
	e1 := apply(&fsm.Assign{Header: h, Group: "db", To: "n1", Cause: fsm.CausePlacement})
	for i := 0; i < 2; i++ {
		apply(&fsm.Note{Header: h, Kind: fsm.KindStartRetry, Group: "db", Node: "n1", Epoch: e1, Reason: "exit 1; retry"})
	}
	apply(&fsm.Report{Header: h, Group: "db", Node: "n1", Epoch: e1, State: fsm.StateFailed, Reason: "exit 1 (after 2 start retries on n1)"})
	e2 := apply(&fsm.RetryFailed{Header: h, Group: "db", To: "n1", ExpectEpoch: e1, Reason: "retried automatically"})
	apply(&fsm.Note{Header: h, Kind: fsm.KindStartRetry, Group: "db", Node: "n1", Epoch: e2, Reason: "exit 1; retry"})
	apply(&fsm.Report{Header: h, Group: "db", Node: "n1", Epoch: e2, State: fsm.StateOnline})

	ch := Why(st, "db")
	if len(ch) != 2 {
		t.Fatalf("%d changes: %+v", len(ch), ch)
	}
	if c := ch[0]; c.StartRetries != 2 || !strings.Contains(c.String(), "after 2 start retries") {
		t.Fatalf("first change: %+v %q", c, c.String())
	}
	if c := ch[1]; c.Cause != fsm.CauseAutoRetry || c.StartRetries != 1 || !c.Online || !strings.Contains(c.String(), "cause auto-retry") || !strings.Contains(c.String(), "after 1 start retry ") {
		t.Fatalf("auto-retry change: %+v %q", c, c.String())
	}
}
