package fsm

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// randomCommand builds a command that is valid, stale or nonsensical at
// random, shaped by the current state so that most of them take effect.
func randomCommand(rng *rand.Rand, s *State, step int) Command {
	hd := Header{At: t0.Add(time.Duration(step) * time.Millisecond), By: "fuzz"}
	nodes := []string{"n1", "n2", "n3", "w1", "zz"}
	groups := []string{"g1", "g2", "g3"}
	node := nodes[rng.Intn(len(nodes))]
	group := groups[rng.Intn(len(groups))]
	epoch := uint64(0)
	owner := ""
	if g, ok := s.Groups[group]; ok {
		epoch, owner = g.Status.Epoch, g.Status.Owner
	}
	if rng.Intn(6) == 0 {
		epoch = uint64(rng.Intn(step + 1)) // often stale
	}
	if owner != "" && rng.Intn(3) > 0 {
		node = owner
	}
	states := []GroupState{StateOnline, StateOffline, StateFailed, StateStopping}
	switch rng.Intn(10) {
	case 0:
		role := RoleNode
		if node == "w1" {
			role = RoleWitness
		}
		if rng.Intn(10) == 0 {
			role = RoleWitness
		}
		return &UpsertMember{Header: hd, Member: Member{ID: node, Role: role, Address: "127.0.0.1:" + string(rune('1'+rng.Intn(9))), InstanceID: "i-0123456789abcdef" + string(rune('0'+rng.Intn(10)))}}
	case 1:
		if rng.Intn(4) == 0 {
			return &RemoveMember{Header: hd, ID: node}
		}
		return &DeleteGroup{Header: hd, Name: group}
	case 2:
		n := rng.Intn(3) + 1
		specs := make([]GroupSpec, 0, n)
		for i := 0; i < n; i++ {
			specs = append(specs, GroupSpec{Name: groups[rng.Intn(3)], Nodes: []string{nodes[rng.Intn(3)], nodes[rng.Intn(4)]}, Resources: []ResourceSpec{{Name: "r", Type: "exec", Params: json.RawMessage(`{"start":"true"}`)}}})
		}
		return &ApplyGroups{Header: hd, Groups: specs}
	case 3, 4:
		return &Assign{Header: hd, Group: group, To: node, ExpectEpoch: epoch, Fence: rng.Intn(3) == 0, Cause: CauseNodeLost}
	case 5, 6:
		return &Report{Header: hd, Group: group, Node: node, Epoch: epoch, State: states[rng.Intn(len(states))], Reason: "r", StopFailed: rng.Intn(4) == 0}
	case 7:
		if rng.Intn(3) == 0 {
			return &SetSuspended{Header: hd, Group: group, Suspended: rng.Intn(2) == 0}
		}
		if rng.Intn(3) == 0 {
			return &SetStandby{Header: hd, Node: nodes[rng.Intn(len(nodes))], Standby: rng.Intn(3) > 0}
		}
		if rng.Intn(2) == 0 {
			return &StandbyMove{Header: hd, Group: group, To: nodes[rng.Intn(len(nodes))], ExpectEpoch: epoch}
		}
		return &BeginTransfer{Header: hd, Group: group, To: node, ExpectEpoch: epoch}
	case 8:
		if rng.Intn(3) == 0 {
			return &RetryFailed{Header: hd, Group: group, To: node, ExpectEpoch: epoch, Reason: "retry"}
		}
		return &Fenced{Header: hd, Group: group, Node: node, Epoch: epoch, Method: "aws-stop"}
	default:
		return &Note{Header: hd, Kind: "note", Group: group, Epoch: epoch, Reason: "n"}
	}
}

func stateJSON(t *testing.T, s *State) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSnapshot(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// applyAll feeds entries through the raft.FSM adapter, as Raft would.
func applyAll(f *FSM, log []*raft.Log) {
	for _, l := range log {
		f.Apply(l)
	}
}

// TestRandomSequencesSnapshotAndReplay checks, over many random command
// sequences, that (1) snapshot→restore at any point gives an equal state,
// (2) replaying the whole log into a fresh FSM gives an equal state, and
// (3) restoring a mid-way snapshot and replaying the rest gives an equal
// state. It also checks the epoch invariants on every step.
func TestRandomSequencesSnapshotAndReplay(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		live := New()
		var log []*raft.Log
		var midSnap []byte
		var midAt int
		effective := 0
		steps := 300 + rng.Intn(300)
		for i := 1; i <= steps; i++ {
			var c Command
			live.Read(func(s *State) { c = randomCommand(rng, s, i) })
			before := live.View()
			l := &raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: MustEncode(c)}
			log = append(log, l)
			res := live.Apply(l).(Result)
			if res.Err == nil {
				effective++
			}
			after := live.View()
			if res.Err != nil {
				// A refused command changes nothing but the applied index.
				b := before.Clone()
				b.Index = after.Index
				if stateJSON(t, b) != stateJSON(t, after) {
					t.Fatalf("seed %d step %d: refused %T (%v) changed the state", seed, i, c, res.Err)
				}
			}
			for name, g := range after.Groups {
				if old, ok := before.Groups[name]; ok && g.Status.Epoch < old.Status.Epoch {
					t.Fatalf("seed %d step %d: epoch of %s went down %d -> %d", seed, i, name, old.Status.Epoch, g.Status.Epoch)
				}
				if g.Status.Owner != "" {
					if m, ok := after.Members[g.Status.Owner]; ok && m.Role == RoleWitness && g.Status.Active() {
						t.Fatalf("seed %d step %d: witness %s owns %s", seed, i, m.ID, name)
					}
				}
				if old, ok := before.Groups[name]; ok && g.Status.Owner != old.Status.Owner && g.Status.Epoch == old.Status.Epoch && g.Status.Owner != "" {
					t.Fatalf("seed %d step %d: owner of %s changed without a new epoch", seed, i, name)
				}
			}
			if rng.Intn(40) == 0 {
				// snapshot → restore equals live state
				snap, _ := live.Snapshot()
				sink := &memSink{}
				if err := snap.Persist(sink); err != nil {
					t.Fatal(err)
				}
				restored := New()
				if err := restored.Restore(sink.reader()); err != nil {
					t.Fatal(err)
				}
				if a, b := stateJSON(t, live.View()), stateJSON(t, restored.View()); a != b {
					t.Fatalf("seed %d step %d: restored state differs\nlive:     %s\nrestored: %s", seed, i, a, b)
				}
				if midSnap == nil {
					midSnap, midAt = sink.Bytes(), i
				}
			}
		}
		if effective < steps/10 {
			t.Fatalf("seed %d: only %d of %d commands took effect; the generator is too weak", seed, effective, steps)
		}
		want := stateJSON(t, live.View())
		replay := New()
		applyAll(replay, log)
		if got := stateJSON(t, replay.View()); got != want {
			t.Fatalf("seed %d: replay differs", seed)
		}
		if midSnap != nil {
			f := New()
			if err := f.Restore(&memSink{Buffer: *bytes.NewBuffer(midSnap)}); err != nil {
				t.Fatal(err)
			}
			applyAll(f, log[midAt:])
			if got := stateJSON(t, f.View()); got != want {
				t.Fatalf("seed %d: snapshot at %d + replay differs", seed, midAt)
			}
		}
	}
}

func TestUndecodableEntryStopsReplica(t *testing.T) {
	f := New()
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown command was skipped silently")
		}
	}()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{77, 1, '{', '}'}})
}

func TestRestoreFailureKeepsLiveState(t *testing.T) {
	f := New()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: MustEncode(&Note{Header: h(), Kind: "x", Reason: "keep"})})
	want := stateJSON(t, f.View())
	if err := f.Restore(&memSink{Buffer: *bytes.NewBufferString("\x01{\"members\": [broken")}); err == nil {
		t.Fatal("broken snapshot restored")
	}
	if got := stateJSON(t, f.View()); got != want {
		t.Fatal("a failed restore changed the live state")
	}
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }
func (m *memSink) reader() *memSink {
	return &memSink{Buffer: *bytes.NewBuffer(append([]byte(nil), m.Bytes()...))}
}
