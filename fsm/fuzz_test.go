package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fuzzSeeds are encoded commands of every type against fuzzState (group
// db online on n1 at epoch 5), some valid and some refused, plus entries
// Decode refuses or ignores. They run in plain `go test`.
func fuzzSeeds() [][]byte {
	hd := Header{At: t0, By: "fuzz"}
	cmds := []Command{
		&UpsertMember{Header: hd, Member: Member{ID: "n3", Role: RoleNode, Address: "127.0.0.1:4", InstanceID: "i-0000000000000003"}},
		&UpsertMember{Header: hd, Member: Member{ID: "n1", Role: RoleWitness}},
		&RemoveMember{Header: hd, ID: "n2"},
		&RemoveMember{Header: hd, ID: "n1"},
		&ApplyGroups{Header: hd, Groups: []GroupSpec{{Name: "web", Nodes: []string{"n2", "n1"}, Resources: []ResourceSpec{{Name: "a", Type: "exec", Params: json.RawMessage(`{"start":"true"}`)}}}}},
		&ApplyGroups{Header: hd, Groups: []GroupSpec{{Name: "bad name", Nodes: []string{"w1"}}}},
		&DeleteGroup{Header: hd, Name: "db"},
		&Assign{Header: hd, Group: "db", To: "n2", ExpectEpoch: 5, Cause: CauseFailure, Fence: true, FenceWait: time.Second},
		&Assign{Header: hd, Group: "db", To: "n1", ExpectEpoch: 4, Cause: CausePlacement},
		&Report{Header: hd, Group: "db", Node: "n1", Epoch: 5, State: StateFailed, Reason: "check failed", StopFailed: true},
		&Report{Header: hd, Group: "db", Node: "n1", Epoch: 5, State: StateOffline},
		&BeginTransfer{Header: hd, Group: "db", To: "n2", ExpectEpoch: 5},
		&Fenced{Header: hd, Group: "db", Node: "n1", Epoch: 5, Method: FencingAWSStop, Instances: []string{"i-0000000000000001"}},
		&Note{Header: hd, Kind: KindFenceOverride, Group: "db", Node: "n1", Epoch: 5, Reason: "note"},
		&SetSuspended{Header: hd, Group: "db", Suspended: true},
		&SetClusterSettings{Header: hd, Settings: ClusterSettings{FencingMode: FencingLeaseOnly, Heartbeat: 100 * time.Millisecond, Lease: 600 * time.Millisecond, StopDeadline: time.Second}},
		&FenceOverride{Header: hd, Group: "db", ExpectEpoch: 5, Reason: "operator accepts"},
		&SetStandby{Header: hd, Node: "n1", Standby: true},
		&StandbyMove{Header: hd, Group: "db", To: "n2", ExpectEpoch: 5},
	}
	var seeds [][]byte
	for _, c := range cmds {
		seeds = append(seeds, MustEncode(c))
	}
	return append(seeds,
		nil, []byte{3}, []byte{13, 1, '{', '}'}, // short; unknown type
		[]byte{0x85, 1, 'x'}, []byte{4, 2, '{', '}'}, // ignorable; newer version
		[]byte{4, 1, '{', '"', 'g', 'r', 'o', 'u', 'p', '"', ':', '1', '}'}, // wrong field type
		[]byte{6, 1, 'n', 'u', 'l', 'l'},
	)
}

// fuzzState is seeded's state with db online on n1 at epoch 5.
func fuzzState(t *testing.T) *State {
	s, idx := seeded(t)
	if r := s.Apply(idx+1, &Assign{Header: h(), Group: "db", To: "n1", Cause: CausePlacement}); r.Err != nil || r.Epoch != 5 {
		t.Fatalf("assign: %+v", r)
	}
	if r := s.Apply(idx+2, &Report{Header: h(), Group: "db", Node: "n1", Epoch: 5, State: StateOnline}); r.Err != nil {
		t.Fatal(r.Err)
	}
	return s
}

// FuzzDecode: Decode never panics, and what it decodes encodes again to
// an entry that decodes to the same command.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil || c == nil {
			return
		}
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", c, err)
		}
		c2, err := Decode(b)
		if err != nil || c2 == nil || c2.Type() != c.Type() {
			t.Fatalf("re-encoded %T decodes to %T, %v", c, c2, err)
		}
		if b2 := MustEncode(c2); !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b, b2)
		}
	})
}

// applyPanicPrefix starts the FSM's documented panic for an entry it
// cannot decode (FSM.Apply).
const applyPanicPrefix = "raftha fsm: cannot apply log entry"

// fsmApply runs FSM.Apply on st and returns what it panicked with.
func fsmApply(st *State, l *raft.Log) (res any, panicked any) {
	f := &FSM{st: st, changed: make(chan struct{})}
	defer func() { panicked = recover() }()
	return f.Apply(l), nil
}

// FuzzApply: a committed entry either decodes and applies without
// panicking, deterministically (two replicas end in the same state with
// the same result) and leaving a state that snapshots and restores; or it
// does not decode and the FSM stops with its documented panic, and no
// other.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const index = 7
		a, b := fuzzState(t), fuzzState(t)
		_, decErr := Decode(data)
		ra, pa := fsmApply(a, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		if decErr != nil {
			msg, _ := pa.(string)
			if !strings.HasPrefix(msg, applyPanicPrefix) {
				t.Fatalf("undecodable entry (%v): FSM.Apply panicked with %v, want the documented %q panic", decErr, pa, applyPanicPrefix)
			}
			return
		}
		if pa != nil {
			t.Fatalf("decodable entry %q: FSM.Apply panicked: %v", data, pa)
		}
		rb, pb := fsmApply(b, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		if pb != nil {
			t.Fatalf("second replica panicked: %v", pb)
		}
		if fmt.Sprint(ra) != fmt.Sprint(rb) {
			t.Fatalf("replicas disagree on the result: %v vs %v", ra, rb)
		}
		var sa, sb bytes.Buffer
		if err := WriteSnapshot(&sa, a); err != nil {
			t.Fatalf("snapshot after applying %q: %v", data, err)
		}
		if err := WriteSnapshot(&sb, b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
			t.Fatalf("replicas diverged after %q:\n%s\n%s", data, sa.Bytes(), sb.Bytes())
		}
		if a.Index != index {
			t.Fatalf("applied index %d after entry %d", a.Index, index)
		}
		restored, err := ReadSnapshot(bytes.NewReader(sa.Bytes()))
		if err != nil {
			t.Fatalf("snapshot after applying %q does not restore: %v", data, err)
		}
		var again bytes.Buffer
		if err := WriteSnapshot(&again, restored); err != nil || !bytes.Equal(again.Bytes(), sa.Bytes()) {
			t.Fatalf("snapshot round trip changed the state (%v):\n%s\n%s", err, sa.Bytes(), again.Bytes())
		}
	})
}
