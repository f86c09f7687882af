package history

import (
	"strings"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// split splits the time of a takeover (event tk) that the winner fenced
// (fe) and brought online (on): Total = on.At - tk.At, Overhead = Total -
// fence - start, and the parts of Overhead the events' Timing allows.
// It returns nil unless the winner recorded the start's timing and the
// fence was recorded (an operator's override records none).
func split(tk, fe, on *fsm.Event) *api.FailoverSplit {
	if tk == nil || fe == nil || on == nil || on.Timing == nil {
		return nil
	}
	sp := &api.FailoverSplit{}
	// A negative Total, Overhead or Decision compares two members'
	// clocks that differ; a negative figure of one member's clock (Wake,
	// Other) comes from the 1 ms rounding of Header.At: both count as 0.
	// Every figure is rounded to 1 ms, as Header.At is, before the sums,
	// so that the parts add up exactly.
	nonneg := func(d time.Duration) api.Duration {
		if d < 0 {
			sp.ClockSkew = true
			return 0
		}
		return api.Duration(d.Round(time.Millisecond))
	}
	atLeast0 := func(d time.Duration) api.Duration { return api.Duration(max(d, 0).Round(time.Millisecond)) }
	if tk.Timing != nil {
		sp.Detection = atLeast0(tk.Timing.Silence)
	}
	total := on.At.Sub(tk.At)
	fence := fenceTook(fe)
	start := on.Timing.Start
	sp.Total, sp.Fence, sp.Start = nonneg(total), atLeast0(fence), atLeast0(start)
	overhead := sp.Total.D() - sp.Fence.D() - sp.Start.D()
	sp.Overhead = nonneg(overhead)
	known := time.Duration(0)
	if ft := fe.Timing; ft != nil {
		sp.Decision = nonneg(fe.At.Add(-ft.SeenBefore).Sub(tk.At))
		sp.FenceConfirm = atLeast0(ft.Confirm)
		known += sp.Decision.D() + sp.FenceConfirm.D()
	}
	ot := on.Timing
	sp.FenceCommit, sp.StartConfirm, sp.Record = atLeast0(ot.FenceCommit), atLeast0(ot.Confirm), atLeast0(ot.Record)
	sp.SlotWait = atLeast0(ot.SlotWait)
	known += sp.FenceCommit.D() + sp.StartConfirm.D() + sp.Record.D() + sp.SlotWait.D()
	if ot.BeganBefore > 0 {
		began := on.At.Add(-ot.BeganBefore)
		sp.Wake = atLeast0(began.Sub(fe.At) - ot.FenceCommit)
		known += sp.Wake.D()
	}
	sp.Other = atLeast0(sp.Overhead.D() - known)
	return sp
}

// fenceTook is the fence's duration: the winner's Timing, else the Took
// it recorded as the fenced event's reason ("480ms; verified ...").
func fenceTook(fe *fsm.Event) time.Duration {
	if fe.Timing != nil && fe.Timing.Fence > 0 {
		return fe.Timing.Fence
	}
	took, _, _ := strings.Cut(fe.Reason, "; ")
	d, err := time.ParseDuration(took)
	if err != nil {
		return 0
	}
	return d
}
