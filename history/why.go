// Package history reconstructs a group's ownership changes from the event
// history in the Raft log (pure over fsm.State).
package history

import (
	"fmt"
	"strings"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// Why reconstructs a group's ownership history from the events in st (the
// bounded history: older changes may have been dropped).
func Why(st *fsm.State, group string) []api.OwnershipChange {
	var evs []fsm.Event
	for _, e := range st.Events {
		if e.Group == group {
			evs = append(evs, e)
		}
	}
	var out []api.OwnershipChange
	var stopping *fsm.Event
	for i, e := range evs {
		switch e.Kind {
		case fsm.KindStopping:
			stopping = &evs[i]
		case fsm.KindAssigned, fsm.KindTakeover:
			c := api.OwnershipChange{At: e.At, From: e.From, To: e.To, Epoch: e.Epoch, Cause: e.Cause, Reason: e.Reason, By: e.By}
			if stopping != nil && stopping.Epoch < e.Epoch && stopping.From == e.From && stopping.To == e.To {
				c.StopTook = api.Duration(e.At.Sub(stopping.At))
				if stopping.Cause != "" {
					c.Cause = stopping.Cause
				}
				if c.By == "" || c.By == e.From {
					c.By = stopping.By
				}
				if c.Reason == "" { // a standby move: whose standby, since when
					c.Reason = stopping.Reason
				}
			}
			stopping = nil
			var fenced, online *fsm.Event
			for j, f := range evs[i+1:] {
				if f.Epoch != e.Epoch && (f.Kind == fsm.KindAssigned || f.Kind == fsm.KindTakeover) {
					c.Outcome = "superseded at epoch " + fmt.Sprint(f.Epoch)
					break
				}
				if f.Epoch != e.Epoch {
					continue
				}
				switch f.Kind {
				case fsm.KindFenceFailed:
					c.FenceFailures++
				case fsm.KindStartRetry:
					c.StartRetries++
				case fsm.KindFenced:
					fenced = &evs[i+1+j]
					took, verified, _ := strings.Cut(f.Reason, "; ")
					c.Fence, c.FenceTook, c.FenceVerified = string(f.Cause), took, verified
				case fsm.KindFenceOverride:
					c.Override = fmt.Sprintf("%s overrode the fence of %s: %s", f.By, f.From, f.Reason)
					if c.Fence == "" {
						c.Fence = "operator-override"
					}
				case fsm.KindOnline:
					online = &evs[i+1+j]
					c.Online, c.OnlineAfter, c.Outcome = true, api.Duration(f.At.Sub(e.At)), "online"
				case fsm.KindFailed:
					if c.Outcome == "" || c.Outcome == "online" {
						c.Outcome = "failed: " + f.Reason
					}
				}
			}
			if e.Kind == fsm.KindTakeover {
				c.Split = split(&evs[i], fenced, online)
			}
			out = append(out, c)
		}
	}
	return out
}
