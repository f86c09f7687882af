package history

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestWhySplitsTakeoverTime: from fixed takeover, fenced and online events
// Why computes detection, total, fence, start, overhead and the parts of
// the overhead, and gives no split where the members recorded no timing.
func TestWhySplitsTakeoverTime(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	at := func(n int) time.Time { return t0.Add(ms(n)) }
	d := func(n int) api.Duration { return api.Duration(ms(n)) }
	takeover := fsm.Event{Kind: fsm.KindTakeover, Group: "db", From: "n1", To: "n2", Epoch: 10, Cause: fsm.CauseNodeLost, At: at(0), Timing: &fsm.Timing{Silence: ms(2010)}}
	fenced := fsm.Event{Kind: fsm.KindFenced, Group: "db", Node: "n2", From: "n1", Epoch: 10, Cause: fsm.Cause(fsm.FencingAWSStop), Reason: "480ms; i-1 verified", At: at(600),
		Timing: &fsm.Timing{SeenBefore: ms(560), Confirm: ms(10), Fence: ms(500)}}
	online := fsm.Event{Kind: fsm.KindOnline, Group: "db", Node: "n2", Epoch: 10, At: at(800),
		Timing: &fsm.Timing{FenceCommit: ms(20), BeganBefore: ms(150), Confirm: ms(5), Start: ms(100), Record: ms(15)}}
	with := func(e fsm.Event, f func(*fsm.Event)) fsm.Event { f(&e); return e }
	for _, tc := range []struct {
		name   string
		events []fsm.Event
		want   *api.FailoverSplit
	}{
		{"every part recorded", []fsm.Event{takeover, fenced, online}, &api.FailoverSplit{
			Detection: d(2010), Total: d(800), Fence: d(500), Start: d(100), Overhead: d(200),
			// decision: seen at 600-560 = 40; wake: began at 650, 600 + 20 commit
			Decision: d(40), FenceConfirm: d(10), FenceCommit: d(20), Wake: d(30), StartConfirm: d(5), Record: d(15), Other: d(80),
		}},
		{"the start waited for a start slot", []fsm.Event{takeover, fenced, with(online, func(e *fsm.Event) {
			e.Timing = &fsm.Timing{FenceCommit: ms(20), BeganBefore: ms(150), Confirm: ms(5), Start: ms(100), Record: ms(15), SlotWait: ms(60)}
		})}, &api.FailoverSplit{
			Detection: d(2010), Total: d(800), Fence: d(500), Start: d(100), Overhead: d(200),
			Decision: d(40), FenceConfirm: d(10), FenceCommit: d(20), Wake: d(30), SlotWait: d(60), StartConfirm: d(5), Record: d(15), Other: d(20),
		}},
		{"fence timing from an older winner: Took", []fsm.Event{takeover, with(fenced, func(e *fsm.Event) { e.Timing = nil }), online}, &api.FailoverSplit{
			Detection: d(2010), Total: d(800), Fence: d(480), Start: d(100), Overhead: d(220),
			FenceCommit: d(20), Wake: d(30), StartConfirm: d(5), Record: d(15), Other: d(150),
		}},
		{"leader's clock ahead of the winner's", []fsm.Event{with(takeover, func(e *fsm.Event) { e.At = at(300) }), fenced, online}, &api.FailoverSplit{
			Detection: d(2010), Total: d(500), Fence: d(500), Start: d(100), Overhead: 0,
			FenceConfirm: d(10), FenceCommit: d(20), Wake: d(30), StartConfirm: d(5), Record: d(15), ClockSkew: true,
		}},
		{"winner's log applied the Fenced before its commit returned", []fsm.Event{takeover, fenced, with(online, func(e *fsm.Event) {
			e.Timing = &fsm.Timing{FenceCommit: ms(20), BeganBefore: ms(190), Confirm: ms(5), Start: ms(100)}
		})}, &api.FailoverSplit{
			Detection: d(2010), Total: d(800), Fence: d(500), Start: d(100), Overhead: d(200),
			Decision: d(40), FenceConfirm: d(10), FenceCommit: d(20), StartConfirm: d(5), Other: d(125),
		}},
		{"sub-millisecond figures rounded before the sums", []fsm.Event{takeover,
			with(fenced, func(e *fsm.Event) {
				e.Timing = &fsm.Timing{SeenBefore: ms(560), Confirm: ms(10), Fence: 500*time.Millisecond + 400*time.Microsecond}
			}),
			with(online, func(e *fsm.Event) {
				e.Timing = &fsm.Timing{FenceCommit: ms(20), BeganBefore: ms(150), Confirm: 5*time.Millisecond + 600*time.Microsecond, Start: 99*time.Millisecond + 600*time.Microsecond}
			})}, &api.FailoverSplit{
			Detection: d(2010), Total: d(800), Fence: d(500), Start: d(100), Overhead: d(200),
			Decision: d(40), FenceConfirm: d(10), FenceCommit: d(20), Wake: d(30), StartConfirm: d(6), Other: d(94),
		}},
		{"no timing on the online report", []fsm.Event{takeover, fenced, with(online, func(e *fsm.Event) { e.Timing = nil })}, nil},
		{"not fenced (operator override)", []fsm.Event{takeover, {Kind: fsm.KindFenceOverride, Group: "db", Epoch: 10, At: at(700)}, online}, nil},
		{"never online", []fsm.Event{takeover, fenced}, nil},
		{"superseded before online", []fsm.Event{takeover, fenced, {Kind: fsm.KindTakeover, Group: "db", From: "n2", To: "n1", Epoch: 12, Cause: fsm.CauseNodeLost, At: at(700)}, with(online, func(e *fsm.Event) { e.Epoch = 12 })}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := fsm.NewState()
			st.Events = tc.events
			ch := Why(st, "db")
			if len(ch) == 0 {
				t.Fatal("no changes")
			}
			got := ch[0].Split
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("split %+v, want none", *got)
			case tc.want != nil && got == nil:
				t.Fatalf("no split, want %+v", *tc.want)
			case tc.want != nil && *got != *tc.want:
				t.Fatalf("split\n got %+v\nwant %+v", *got, *tc.want)
			}
		})
	}
}

// TestSplitString: the one-line form names every measured part.
func TestSplitString(t *testing.T) {
	ms := func(n int) api.Duration { return api.Duration(time.Duration(n) * time.Millisecond) }
	s := api.FailoverSplit{Detection: ms(2010), Total: ms(800), Fence: ms(500), Start: ms(100), Overhead: ms(200), Decision: ms(40), FenceConfirm: ms(10), FenceCommit: ms(20), Wake: ms(30), SlotWait: ms(60), StartConfirm: ms(5), Record: ms(15), Other: ms(20)}.String()
	want := "detection 2.01s, then 800ms = fence 500ms + start 100ms + overhead 200ms (decision 40ms, fence confirm 10ms, fence commit 20ms, wake 30ms, start slot 60ms, start confirm 5ms, run record 15ms, other 20ms)"
	if s != want {
		t.Fatalf("got  %q\nwant %q", s, want)
	}
	if s := (api.FailoverSplit{Total: ms(1), ClockSkew: true}).String(); !strings.Contains(s, "clocks differ") {
		t.Fatalf("skew not shown: %q", s)
	}
}
