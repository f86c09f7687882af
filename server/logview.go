package server

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// maxLogViewEntries bounds how many unapplied log entries logView replays
// (the log keeps about rc.TrailingLogs + rc.SnapshotThreshold of them).
const maxLogViewEntries = 16384

// logView is this member's view from its own storage: the state it
// applied, plus the entries its log holds beyond that. A member restarted
// without quorum has applied only its latest snapshot (Raft applies an
// entry once it learns it is committed, which takes a leader), while its
// log still holds everything it received; this view shows those groups
// instead of an empty cluster. The extra entries are not known to be
// committed: unconfirmed counts them. last is when the last entry read
// was appended by its leader (zero when unknown).
func (s *Server) logView() (st *fsm.State, unconfirmed uint64, last time.Time) {
	st = s.fsm.View()
	if s.store == nil {
		return st, 0, time.Time{}
	}
	lastIdx, err := s.store.LastIndex()
	if err != nil {
		return st, 0, time.Time{}
	}
	// The FSM's index is its last command's; the entries after it up to
	// the latest snapshot (Barriers: readiness, nudge) may be compacted
	// away, and hold no command the snapshot lacks. So the replay starts
	// at the log's first entry when that is later.
	start := st.Index + 1
	if first, err := s.store.FirstIndex(); err == nil && first > start {
		start = first
	}
	if lastIdx >= start && lastIdx-start >= maxLogViewEntries {
		lastIdx = start + maxLogViewEntries - 1 // a consistent prefix, never a gap
	}
	for i := start; i <= lastIdx; i++ {
		var l raft.Log
		if err := s.store.GetLog(i, &l); err != nil {
			break // compacted or closed: show what was read
		}
		if !l.AppendedAt.IsZero() {
			last = l.AppendedAt
		}
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := fsm.Decode(l.Data)
		if err != nil {
			break // a newer build's entry: stop here rather than guess
		}
		if c != nil && i > st.Index {
			st.Apply(i, c)
			unconfirmed++
		}
	}
	if last.IsZero() && st.Index > 0 {
		var l raft.Log
		if s.store.GetLog(st.Index, &l) == nil {
			last = l.AppendedAt
		}
	}
	return st, unconfirmed, last
}

// markStale fills the staleness fields of a view that did not come from a
// ready leader: since when it may be out of date, and on what basis.
func (s *Server) markStale(v *api.Status, why string, unconfirmed uint64, lastEntry time.Time) {
	v.Stale, v.StaleReason = true, why
	v.Unconfirmed = unconfirmed
	now := time.Now()
	since, basis := time.Time{}, ""
	if t := s.raft.LastContact(); !t.IsZero() {
		since, basis = t, "last contact with a leader"
	} else if !lastEntry.IsZero() {
		since, basis = lastEntry, "last entry in its log"
	}
	if since.IsZero() {
		v.StaleBasis = "never heard from a leader since it started, and its log holds no entry time"
		return
	}
	v.StaleSince = &since
	v.StaleAgeMS = now.Sub(since).Milliseconds()
	v.StaleBasis = fmt.Sprintf("%s at %s", basis, since.UTC().Format(time.RFC3339))
}
