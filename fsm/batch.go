package fsm

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// ApplyBatch implements raft.BatchingFSM: raft hands over the entries it
// committed together, and they are applied in order under one lock and
// announced by one change. Each entry is applied exactly as on its own
// (same index, same result, the same panic on an entry this build cannot
// decode); readers only see fewer changes. That matters with many groups:
// the runner copies the state once per change (Shared), and a copy of
// 1,000 groups per entry held the apply loop back while the leader
// committed placements and the owners reported them online.
//
// On raft's batching path configuration entries come here, not to
// StoreConfiguration, so they advance the applied index here too.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	cmds := make([]Command, len(logs))
	for i, l := range logs { // decoded before the lock is taken
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := Decode(l.Data)
		if err != nil {
			// A replica that skipped it would silently diverge from
			// the others: it stops loudly instead (upgrade it and it
			// replays the entry).
			panic(fmt.Sprintf("raftha fsm: cannot apply log entry %d: %v; this member stops rather than diverge (upgrade it)", l.Index, err))
		}
		cmds[i] = c
	}
	out := make([]interface{}, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		switch {
		case l.Type == raft.LogCommand && cmds[i] != nil:
			out[i] = f.st.Apply(l.Index, cmds[i])
		case l.Type == raft.LogCommand: // unknown but marked ignorable
			out[i] = Result{}
			f.advance(l.Index)
		case l.Type == raft.LogConfiguration:
			f.advance(l.Index)
		}
	}
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return out
}

// advance moves the applied index to index (f.mu held): an entry that
// changes nothing else was still applied.
func (f *FSM) advance(index uint64) {
	if index > f.st.Index {
		f.st.Index = index
	}
}
