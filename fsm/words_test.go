package fsm

import (
	"bytes"
	"errors"
	"testing"
)

// oldLog is a log as the binary before the typed words wrote it: each
// entry is [type][version][JSON], the JSON spelled by hand.
var oldLog = []struct {
	t    CmdType
	json string
}{
	{CmdUpsertMember, `{"at":"2026-11-23T03:00:00Z","by":"n1","member":{"id":"n1","role":"node","address":"127.0.0.1:1","instance_id":"i-0000000000000001"}}`},
	{CmdUpsertMember, `{"at":"2026-11-23T03:00:00Z","by":"n2","member":{"id":"n2","role":"node","address":"127.0.0.1:2"}}`},
	{CmdUpsertMember, `{"at":"2026-11-23T03:00:00Z","by":"w1","member":{"id":"w1","role":"witness","address":"127.0.0.1:3"}}`},
	{CmdSetClusterSettings, `{"at":"2026-11-23T03:00:00Z","by":"leader","settings":{"fencing_mode":"aws-stop","heartbeat":500000000,"lease":3000000000,"stop_deadline":30000000000},"seed":true}`},
	{CmdApplyGroups, `{"at":"2026-11-23T03:00:00Z","by":"alice","groups":[{"name":"db","nodes":["n1","n2"],"resources":[{"name":"app","type":"exec","monitor":{"interval":0,"timeout":0,"failures_before_restart":0,"restarts_before_failover":0}}]}]}`},
	{CmdAssign, `{"at":"2026-11-23T03:00:00Z","by":"leader","group":"db","to":"n1","expect_epoch":0,"cause":"placement","reason":"first healthy node of n1, n2"}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n1","group":"db","node":"n1","epoch":6,"state":"online"}`},
	{CmdBeginTransfer, `{"at":"2026-11-23T03:00:00Z","by":"alice","group":"db","to":"n2","expect_epoch":6}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n1","group":"db","node":"n1","epoch":6,"state":"offline"}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n2","group":"db","node":"n2","epoch":9,"state":"online"}`},
	{CmdBeginTransfer, `{"at":"2026-11-23T03:00:00Z","by":"leader","group":"db","to":"n1","expect_epoch":9,"cause":"failback"}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n2","group":"db","node":"n2","epoch":9,"state":"failed","reason":"stop: exit 1","stop_failed":true}`},
	{CmdAssign, `{"at":"2026-11-23T03:00:00Z","by":"leader","group":"db","to":"n1","expect_epoch":9,"cause":"stop-failed","reason":"stop: exit 1","fence":true,"fence_wait":4000000000}`},
	{CmdNote, `{"at":"2026-11-23T03:00:00Z","kind":"fence-failed","group":"db","node":"n1","epoch":13,"reason":"try again"}`},
	{CmdFenced, `{"at":"2026-11-23T03:00:00Z","group":"db","node":"n1","epoch":13,"method":"aws-stop","took":"1.5s","instances":["i-0000000000000002"]}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n1","group":"db","node":"n1","epoch":13,"state":"online"}`},
	{CmdAssign, `{"at":"2026-11-23T03:00:00Z","by":"leader","group":"db","to":"n2","expect_epoch":13,"cause":"node-lost","reason":"n1 lost","fence":true,"fence_wait":4000000000,"fence_silence":3000000000}`},
	{CmdFenced, `{"at":"2026-11-23T03:00:00Z","group":"db","node":"n2","epoch":17,"method":"lease-only","took":"4s"}`},
	{CmdReport, `{"at":"2026-11-23T03:00:00Z","by":"n2","group":"db","node":"n2","epoch":17,"state":"failed","reason":"app: exit 2"}`},
	{CmdAssign, `{"at":"2026-11-23T03:00:00Z","by":"leader","group":"db","to":"n1","expect_epoch":17,"cause":"failure","reason":"app: exit 2"}`},
	{CmdBeginTransfer, `{"at":"2026-11-23T03:00:00Z","by":"alice","group":"db","to":"","expect_epoch":20}`},
}

// TestOldSpellingDecodesAndReplays: entries written before the words were
// types decode into the typed constants, re-encode to the same bytes, and
// replay to the state and events the old binary computed.
func TestOldSpellingDecodesAndReplays(t *testing.T) {
	s := NewState()
	for i, e := range oldLog {
		raw := append([]byte{byte(e.t), 1}, e.json...)
		c, err := Decode(raw)
		if err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		if again := MustEncode(c); !bytes.Equal(again, raw) {
			t.Fatalf("entry %d re-encodes differently:\n got %s\nwant %s", i+1, again[2:], raw[2:])
		}
		if r := s.Apply(uint64(i+1), c); r.Err != nil {
			t.Fatalf("entry %d (%T): %v", i+1, c, r.Err)
		}
	}
	if s.Members["w1"].Role != RoleWitness || s.Settings.FencingMode != FencingAWSStop {
		t.Fatalf("members or settings: %+v %+v", s.Members["w1"], s.Settings)
	}
	gs := s.Groups["db"].Status
	if gs.Owner != "n1" || gs.State != StateStopping || gs.Epoch != 20 {
		t.Fatalf("status %+v", gs)
	}
	type kc struct {
		k EventKind
		c Cause
	}
	var got []kc
	for _, ev := range s.Events {
		if ev.Group == "db" {
			got = append(got, kc{ev.Kind, ev.Cause})
		}
	}
	want := []kc{
		{KindGroupCreated, ""}, {KindAssigned, CausePlacement}, {KindOnline, ""},
		{KindStopping, CausePlanned}, {KindStopped, ""}, {KindAssigned, CausePlanned}, {KindOnline, ""},
		{KindStopping, CauseFailback}, {KindFailed, ""}, {KindTakeover, CauseStopFailed},
		{KindFenceFailed, ""}, {KindFenced, Cause(FencingAWSStop)}, {KindOnline, ""},
		{KindTakeover, CauseNodeLost}, {KindFenced, Cause(FencingLeaseOnly)}, {KindFailed, ""},
		{KindAssigned, CauseFailure}, {KindStopping, CauseStop},
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d is %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}

// TestUnknownCauseRefused: an Assign or BeginTransfer with a cause that is
// not a move cause is refused with ErrInvalid and changes nothing; every
// move cause is accepted.
func TestUnknownCauseRefused(t *testing.T) {
	for _, c := range []Cause{"", "fuzz", "Planned", CauseStop, CauseOperator} {
		s, idx := seeded(t)
		if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: c}); !errors.Is(r.Err, ErrInvalid) {
			t.Fatalf("assign with cause %q: %v", c, r.Err)
		}
		if c != "" {
			if r := apply(s, &idx, &BeginTransfer{Header: h(), Group: "db", To: "n1", Cause: c}); !errors.Is(r.Err, ErrInvalid) {
				t.Fatalf("transfer with cause %q: %v", c, r.Err)
			}
		}
		if gs := s.Groups["db"].Status; gs.Owner != "" || gs.Epoch != 0 || len(s.Events) != 4 {
			t.Fatalf("cause %q changed the state: %+v, %d events", c, gs, len(s.Events))
		}
	}
	for _, c := range []Cause{CausePlacement, CausePlanned, CauseFailback, CauseShutdown, CauseNodesChanged, CauseNodeLost, CauseStopFailed, CauseFailure} {
		s, idx := seeded(t)
		if r := apply(s, &idx, &Assign{Header: h(), Group: "db", To: "n1", Cause: c}); r.Err != nil {
			t.Fatalf("assign with cause %q: %v", c, r.Err)
		}
		s, idx = seeded(t)
		if r := apply(s, &idx, &BeginTransfer{Header: h(), Group: "db", To: "n1", Cause: c}); r.Err != nil {
			t.Fatalf("transfer with cause %q: %v", c, r.Err)
		}
		if e := s.Events[len(s.Events)-1]; e.Kind != KindAssigned || e.Cause != c {
			t.Fatalf("transfer with cause %q recorded %+v", c, e)
		}
	}
}
