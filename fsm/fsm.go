package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// FSM adapts State to raft.FSM. Reads go through View or Read; writers are
// the Raft apply loop only.
type FSM struct {
	mu      sync.RWMutex
	st      *State
	changed chan struct{}

	// shared is the copy Shared hands out, made for the state of
	// sharedOf (the changed channel of that state: every change
	// replaces it).
	sharedMu sync.Mutex
	shared   *State
	sharedOf chan struct{}
}

// New returns an FSM over an empty state.
func New() *FSM {
	return &FSM{st: NewState(), changed: make(chan struct{})}
}

// Apply implements raft.FSM. An entry this build cannot decode panics: a
// replica that skipped it would silently diverge from the others, so it
// must stop loudly instead (upgrade it and it replays the entry).
func (f *FSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// StoreConfiguration implements raft.ConfigurationStore so that the
// applied index also advances on membership changes; linearizable reads
// wait on it.
func (f *FSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.mu.Lock()
	f.advance(index)
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
}

// AppliedIndex is the index of the last entry the FSM applied.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Index
}

// Changed returns a channel closed at the next state change.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// View returns a deep copy of the current state.
func (f *FSM) View() *State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Clone()
}

// Shared returns a deep copy of the current state that is shared with
// every other caller until the state changes: callers must not modify it.
// Readers that look at the state after every change (one worker per
// group) use it, so a change costs one copy, not one per group.
func (f *FSM) Shared() *State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.sharedMu.Lock()
	defer f.sharedMu.Unlock()
	if f.shared == nil || f.sharedOf != f.changed {
		f.shared, f.sharedOf = f.st.Clone(), f.changed
	}
	return f.shared
}

// Read runs fn with the live state under the read lock. fn must not keep
// references to it.
func (f *FSM) Read(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.st)
}

// Snapshot implements raft.FSM: it captures a deep copy under the lock and
// serializes it later, off the apply path.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{st: f.View()}, nil
}

// Restore implements raft.FSM. It decodes into a new State and swaps it in
// only when decoding succeeded; the live state is never half-restored.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := ReadSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return nil
}

// snapshotVersion is the first byte of the snapshot format.
const snapshotVersion = 1

// WriteSnapshot serializes st in the snapshot format.
func WriteSnapshot(w io.Writer, st *State) error {
	if _, err := w.Write([]byte{snapshotVersion}); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(st)
}

// ReadSnapshot parses the snapshot format into a new State.
func ReadSnapshot(r io.Reader) (*State, error) {
	var v [1]byte
	if _, err := io.ReadFull(r, v[:]); err != nil {
		return nil, fmt.Errorf("fsm: read snapshot header: %w", err)
	}
	if v[0] != snapshotVersion {
		return nil, fmt.Errorf("fsm: snapshot version %d, this build reads %d", v[0], snapshotVersion)
	}
	st := NewState()
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return nil, fmt.Errorf("fsm: decode snapshot: %w", err)
	}
	if st.Members == nil {
		st.Members = map[string]*Member{}
	}
	if st.Groups == nil {
		st.Groups = map[string]*Group{}
	}
	// A null member or group would panic every later View (Clone): a
	// restored file is checked before the whole cluster installs it.
	for id, m := range st.Members {
		if m == nil {
			return nil, fmt.Errorf("fsm: decode snapshot: member %q is null", id)
		}
	}
	for name, g := range st.Groups {
		if g == nil {
			return nil, fmt.Errorf("fsm: decode snapshot: group %q is null", name)
		}
	}
	return st, nil
}

type snapshot struct{ st *State }

// Persist implements raft.FSMSnapshot: it writes the snapshot format to
// sink and closes it, or cancels it on error.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(sink, s.st); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot; the copy needs no cleanup.
func (s *snapshot) Release() {}
