package api

import (
	"fmt"
	"strings"
	"time"
)

// FailoverSplit splits the time of a takeover from a lost owner that came
// online: detection (the owner's silence when the leader declared it
// lost), then Total from that decision to the group online on the winner,
// made of the fence, the resource starts and the agent's own Overhead
// (Total - Fence - Start). The parts of Overhead are given where the
// members measured them. Total and Decision compare the leader's clock
// with the winner's; the other parts are each one member's clock.
type FailoverSplit struct {
	// Detection is how long the lost owner had not been heard from when
	// the leader declared it lost (0 when not recorded).
	Detection Duration `json:"detection,omitempty"`
	// Total is from the takeover decision to the group being online.
	Total Duration `json:"total"`
	// Fence is the fence on the winner, every attempt included.
	Fence Duration `json:"fence"`
	// Start is the time in the resources' Start calls on the winner.
	Start Duration `json:"start"`
	// Overhead is Total - Fence - Start: what raftha itself took.
	Overhead Duration `json:"overhead"`
	// Decision is from the decision to the winner's first look at the
	// takeover: the commit of the takeover, its delivery to the winner
	// and the winner's worker waking up.
	Decision Duration `json:"decision,omitempty"`
	// FenceConfirm is the winner's leader confirmation before fencing.
	FenceConfirm Duration `json:"fence_confirm,omitempty"`
	// FenceCommit is the commit of the winner's Fenced.
	FenceCommit Duration `json:"fence_commit,omitempty"`
	// Wake is from the Fenced committed to the winner beginning to start
	// the group (its own log applying the entry, its worker waking up).
	Wake Duration `json:"wake,omitempty"`
	// StartConfirm is the winner's leader confirmations before each
	// resource start.
	StartConfirm Duration `json:"start_confirm,omitempty"`
	// Record is the winner's durable write of its run record before the
	// first start.
	Record Duration `json:"record,omitempty"`
	// SlotWait is how long the winner's start waited for a start slot:
	// a node starts a bounded number of groups at once, and a takeover
	// of many groups queues the rest.
	SlotWait Duration `json:"slot_wait,omitempty"`
	// Other is the rest of Overhead (the winner's own bookkeeping
	// between steps).
	Other Duration `json:"other,omitempty"`
	// ClockSkew is set when Total, Overhead or Decision came out
	// negative (the leader's and the winner's clocks differ) and was
	// counted as 0.
	ClockSkew bool `json:"clock_skew,omitempty"`
}

// String formats the split on one line, e.g. "detection 2.01s, then 1.3s
// = fence 1.1s + start 150ms + overhead 50ms (decision 20ms, ...)".
func (s FailoverSplit) String() string {
	ms := func(d Duration) string { return d.D().Round(time.Millisecond).String() }
	out := ""
	if s.Detection > 0 {
		out = "detection " + ms(s.Detection) + ", then "
	}
	out += fmt.Sprintf("%s = fence %s + start %s + overhead %s", ms(s.Total), ms(s.Fence), ms(s.Start), ms(s.Overhead))
	var parts []string
	for _, p := range []struct {
		name string
		d    Duration
	}{
		{"decision", s.Decision}, {"fence confirm", s.FenceConfirm}, {"fence commit", s.FenceCommit},
		{"wake", s.Wake}, {"start slot", s.SlotWait}, {"start confirm", s.StartConfirm}, {"run record", s.Record},
		{"other", s.Other},
	} {
		if p.d.D().Round(time.Millisecond) > 0 {
			parts = append(parts, p.name+" "+ms(p.d))
		}
	}
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	if s.ClockSkew {
		out += " [clocks differ: a negative figure counted as 0]"
	}
	return out
}
