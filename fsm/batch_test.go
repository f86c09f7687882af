package fsm

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// batchLogs is a log of members, two groups, placements (one refused at a
// stale epoch), a configuration entry and an ignorable entry of a later
// build, from index 1.
func batchLogs(t *testing.T) []*raft.Log {
	t.Helper()
	cmds := []Command{
		&UpsertMember{Header: h(), Member: Member{ID: "n1", Role: RoleNode, Address: "127.0.0.1:1"}},
		&UpsertMember{Header: h(), Member: Member{ID: "n2", Role: RoleNode, Address: "127.0.0.1:2"}},
		&ApplyGroups{Header: h(), Groups: []GroupSpec{
			{Name: "a", Nodes: []string{"n1", "n2"}, Resources: []ResourceSpec{{Name: "app", Type: "exec"}}},
			{Name: "b", Nodes: []string{"n2", "n1"}, Resources: []ResourceSpec{{Name: "app", Type: "exec"}}},
		}},
		nil, // configuration entry
		&Assign{Header: h(), Group: "a", To: "n1", Cause: CausePlacement},
		&Assign{Header: h(), Group: "b", To: "n2", Cause: CausePlacement},
		&Assign{Header: h(), Group: "b", To: "n1", Cause: CausePlacement}, // stale epoch: refused
		&Report{Header: h(), Group: "a", Node: "n1", Epoch: 5, State: StateOnline},
	}
	var logs []*raft.Log
	for i, c := range cmds {
		l := &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand}
		if c == nil {
			l.Type, l.Data = raft.LogConfiguration, raft.EncodeConfiguration(raft.Configuration{})
		} else {
			data, err := Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			l.Data = data
		}
		logs = append(logs, l)
	}
	ignorable := &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: []byte{byte(FlagIgnorable | 42), 1, '{', '}'}}
	return append(logs, ignorable)
}

func snapshotOf(t *testing.T, f *FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSnapshot(&b, f.View()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestApplyBatchIsApplyInOrder: a batch applies each entry as raft's
// one-by-one path would (Apply for commands, StoreConfiguration for
// configuration entries): the same state, index and results, refusals
// included, and readers are told of the batch by one change.
func TestApplyBatchIsApplyInOrder(t *testing.T) {
	logs := batchLogs(t)
	one := New()
	var want []interface{}
	for _, l := range logs {
		if l.Type == raft.LogConfiguration {
			one.StoreConfiguration(l.Index, raft.Configuration{})
			want = append(want, nil)
			continue
		}
		want = append(want, one.Apply(l))
	}

	batched := New()
	before := batched.Changed()
	got := batched.ApplyBatch(logs)
	select {
	case <-before:
	default:
		t.Fatal("the batch did not announce a change")
	}
	select {
	case <-batched.Changed():
		t.Fatal("the batch announced more than one change")
	default:
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("results differ:\nbatch    %#v\none-by-one %#v", got, want)
	}
	if r, _ := got[6].(Result); r.Err == nil {
		t.Fatalf("the stale placement was not refused in the batch: %#v", got[6])
	}
	if a, b := batched.AppliedIndex(), one.AppliedIndex(); a != b || a != uint64(len(logs)) {
		t.Fatalf("applied index: batch %d, one by one %d, want %d", a, b, len(logs))
	}
	if !bytes.Equal(snapshotOf(t, batched), snapshotOf(t, one)) {
		t.Fatal("the batch left another state than applying the entries one by one")
	}
}

// TestApplyBatchPanicsOnAnUndecodableEntry: as Apply, a batch holding an
// entry this build cannot decode stops the member, before it applies any
// entry of the batch.
func TestApplyBatchPanicsOnAnUndecodableEntry(t *testing.T) {
	logs := batchLogs(t)[:3]
	logs = append(logs, &raft.Log{Index: 4, Type: raft.LogCommand, Data: []byte{42, 1, '{', '}'}})
	f := New()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "cannot apply log entry 4") {
			t.Fatalf("panic %v, want one naming entry 4", r)
		}
		if f.AppliedIndex() != 0 {
			t.Fatalf("applied index %d: part of the batch was applied", f.AppliedIndex())
		}
	}()
	f.ApplyBatch(logs)
}
