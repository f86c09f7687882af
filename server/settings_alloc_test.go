package server

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/leader"
)

// TestCheckMemberSettingsDoesNotCopyTheState: the leader checks the
// settings of every member's heartbeat (each member every heartbeat
// interval), so the check must read the log's settings, not deep-copy a
// state of 1,000 groups each time (idle CPU that grew with the groups).
func TestCheckMemberSettingsDoesNotCopyTheState(t *testing.T) {
	cs := fsm.ClusterSettings{FencingMode: fsm.FencingLeaseOnly, Heartbeat: 300 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: 2 * time.Second}
	st := fsm.NewState()
	st.Settings = &cs
	for i := range 1000 {
		name := fmt.Sprintf("g%04d", i)
		st.Groups[name] = &fsm.Group{Spec: fsm.GroupSpec{Name: name}}
	}
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, st); err != nil {
		t.Fatal(err)
	}
	s := &Server{fsm: fsm.New()}
	if err := s.fsm.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	var refused leader.Refusals
	reported := cs
	if err := s.checkMemberSettings(&refused, "n2", &reported); err != nil {
		t.Fatalf("same settings refused: %v", err)
	}
	allocs := testing.AllocsPerRun(20, func() { _ = s.checkMemberSettings(&refused, "n2", &reported) })
	if allocs > 16 {
		t.Fatalf("checkMemberSettings made %.0f allocations per heartbeat with 1,000 groups; want at most 16 (no copy of the state)", allocs)
	}
}
