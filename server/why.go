package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// OwnershipChange is one line of `raftha why`: an ownership change of a
// group reconstructed from the event history in the log.
type OwnershipChange struct {
	// At is when the change was committed.
	At time.Time `json:"at"`
	// From is the previous owner ("" when none).
	From string `json:"from"`
	// To is the new owner.
	To string `json:"to"`
	// Epoch is the new epoch (the Raft index of the change).
	Epoch uint64 `json:"epoch"`
	// Cause is planned, failback, shutdown, node-lost, failure,
	// stop-failed or placement.
	Cause string `json:"cause"`
	// Reason is the recorded explanation.
	Reason string `json:"reason,omitempty"`
	// By is who asked (an operator certificate, "leader", a member).
	By string `json:"by,omitempty"`
	// Fence is how the previous owner was fenced (aws-stop or lease-only;
	// "" when no fence was needed or none was recorded yet).
	Fence string `json:"fence,omitempty"`
	// FenceTook is how long the fence itself took, as a Go duration
	// string.
	FenceTook string `json:"fence_took,omitempty"`
	// FenceVerified says how the fenced instances were verified to be
	// the fenced node's.
	FenceVerified string `json:"fence_verified,omitempty"`
	// Override is an operator's fence override at this epoch: who
	// accepted the risk and why.
	Override string `json:"override,omitempty"`
	// FenceFailures is how many fence attempts failed at this epoch.
	FenceFailures int `json:"fence_failures,omitempty"`
	// StopTook is how long the previous owner took to stop (planned moves).
	StopTook config.Duration `json:"stop_took,omitempty"`
	// OnlineAfter is the time from the change to the group being online on
	// To.
	OnlineAfter config.Duration `json:"online_after,omitempty"`
	// Online is false when the group never came online at this epoch.
	Online bool `json:"online"`
	// Outcome is what happened at this epoch in the end (online, failed:
	// reason, superseded).
	Outcome string `json:"outcome,omitempty"`
}

// Why reconstructs a group's ownership history from the events in st (the
// bounded history: older changes may have been dropped).
func Why(st *fsm.State, group string) []OwnershipChange {
	var evs []fsm.Event
	for _, e := range st.Events {
		if e.Group == group {
			evs = append(evs, e)
		}
	}
	var out []OwnershipChange
	var stopping *fsm.Event
	for i, e := range evs {
		switch e.Kind {
		case "stopping":
			stopping = &evs[i]
		case "assigned", "takeover":
			c := OwnershipChange{At: e.At, From: e.From, To: e.To, Epoch: e.Epoch, Cause: e.Cause, Reason: e.Reason, By: e.By}
			if stopping != nil && stopping.Epoch < e.Epoch && stopping.From == e.From && stopping.To == e.To {
				c.StopTook = config.Duration(e.At.Sub(stopping.At))
				if stopping.Cause != "" {
					c.Cause = stopping.Cause
				}
				if c.By == "" || c.By == e.From {
					c.By = stopping.By
				}
			}
			stopping = nil
			for _, f := range evs[i+1:] {
				if f.Epoch != e.Epoch && (f.Kind == "assigned" || f.Kind == "takeover") {
					c.Outcome = "superseded at epoch " + fmt.Sprint(f.Epoch)
					break
				}
				if f.Epoch != e.Epoch {
					continue
				}
				switch f.Kind {
				case "fence-failed":
					c.FenceFailures++
				case "fenced":
					took, verified, _ := strings.Cut(f.Reason, "; ")
					c.Fence, c.FenceTook, c.FenceVerified = f.Cause, took, verified
				case fsm.KindFenceOverride:
					c.Override = fmt.Sprintf("%s overrode the fence of %s: %s", f.By, f.From, f.Reason)
					if c.Fence == "" {
						c.Fence = "operator-override"
					}
				case "online":
					c.Online, c.OnlineAfter, c.Outcome = true, config.Duration(f.At.Sub(e.At)), "online"
				case "failed":
					if c.Outcome == "" || c.Outcome == "online" {
						c.Outcome = "failed: " + f.Reason
					}
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// String formats one change for a terminal.
func (c OwnershipChange) String() string {
	from := c.From
	if from == "" {
		from = "(none)"
	}
	s := fmt.Sprintf("%s  %s -> %s  epoch %d  cause %s", c.At.Local().Format("2006-01-02 15:04:05.000"), from, c.To, c.Epoch, c.Cause)
	if c.Fence != "" {
		s += "  fence " + c.Fence
		if c.FenceTook != "" {
			s += " (" + c.FenceTook + ")"
		}
	} else if c.Cause == "node-lost" || c.Cause == "stop-failed" {
		s += "  fence pending"
	} else {
		s += "  no fence needed"
	}
	if c.FenceVerified != "" {
		s += "  [" + c.FenceVerified + "]"
	}
	if c.FenceFailures > 0 {
		s += fmt.Sprintf(" after %d failed attempt(s)", c.FenceFailures)
	}
	if c.StopTook > 0 {
		s += fmt.Sprintf("  stop %s", c.StopTook.D().Round(time.Millisecond))
	}
	if c.Online {
		s += fmt.Sprintf("  online after %s", c.OnlineAfter.D().Round(time.Millisecond))
	} else if c.Outcome != "" {
		s += "  " + c.Outcome
	} else {
		s += "  not online yet"
	}
	if c.By != "" {
		s += "  by " + c.By
	}
	if c.Override != "" {
		s += "  RISK ACCEPTED: " + c.Override
	}
	if c.Reason != "" {
		s += "  (" + c.Reason + ")"
	}
	return s
}
