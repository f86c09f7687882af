package integration

// The fault suite's checkers on made-up histories: they must flag what
// they claim to flag (no root needed).

import (
	"strings"
	"testing"
	"time"
)

// mkLog builds log lines: each spec is node, epoch, first seq, count,
// first mono and step (ms).
func mkLog(specs ...struct {
	node       string
	epoch, seq uint64
	n          int
	at, stepMS int64
}) []logLine {
	var out []logLine
	for _, s := range specs {
		for i := 0; i < s.n; i++ {
			out = append(out, logLine{node: s.node, epoch: s.epoch, seq: s.seq + uint64(i), mono: s.at + int64(i)*s.stepMS*int64(time.Millisecond)})
		}
	}
	return out
}

type spec = struct {
	node       string
	epoch, seq uint64
	n          int
	at, stepMS int64
}

func TestCheckLogFlagsViolations(t *testing.T) {
	ms := int64(time.Millisecond)
	cases := []struct {
		name  string
		lines []logLine
		want  []string // substrings of expected violations; none: clean
	}{
		{"failover", mkLog(spec{"n1", 5, 0, 10, 0, 5}, spec{"n2", 9, 0, 10, 200 * ms, 5}), nil},
		{"restart at the same epoch", mkLog(spec{"n1", 5, 0, 10, 0, 5}, spec{"n1", 5, 0, 10, 300 * ms, 5}), nil},
		{"planned moves back and forth", mkLog(spec{"n1", 5, 0, 5, 0, 5}, spec{"n2", 9, 0, 5, 100 * ms, 5}, spec{"n1", 13, 0, 5, 200 * ms, 5}), nil},
		{"old owner writes again", mkLog(spec{"n1", 5, 0, 5, 0, 5}, spec{"n2", 9, 0, 5, 100 * ms, 5}, spec{"n1", 5, 5, 5, 200 * ms, 5}),
			[]string{"interleaving", "epoch went down"}},
		{"concurrent writers", mkLog(spec{"n1", 5, 0, 20, 0, 5}, spec{"n2", 9, 0, 5, 50 * ms, 5}), []string{"overlap in time"}},
		{"two nodes at one epoch", mkLog(spec{"n1", 5, 0, 5, 0, 5}, spec{"n2", 5, 0, 5, 100 * ms, 5}), []string{"two nodes wrote at epoch 5"}},
		{"two writers of one key", mkLog(spec{"n1", 5, 0, 3, 0, 5}, spec{"n1", 5, 0, 2, 20 * ms, 5}, spec{"n1", 5, 3, 2, 40 * ms, 5}),
			[]string{"a second writer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := checkLog(tc.lines)
			if len(tc.want) == 0 && len(got) > 0 {
				t.Fatalf("clean history flagged: %v", got)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Fatalf("want a violation containing %q, got %v", w, got)
				}
			}
		})
	}
}

func TestProberRecovery(t *testing.T) {
	ms := int64(time.Millisecond)
	p := &prober{recs: map[string][]probeRec{
		// n1 answers at epoch 5, dies at 100ms; n2 answers at epoch 9 from 400ms.
		"n1": {{0, 1 * ms, true, 5}, {50 * ms, 51 * ms, true, 5}, {120 * ms, 121 * ms, false, 0}, {400 * ms, 401 * ms, false, 0}},
		"n2": {{0, 1 * ms, false, 0}, {200 * ms, 201 * ms, false, 0}, {390 * ms, 391 * ms, false, 0}, {420 * ms, 425 * ms, true, 9}, {480 * ms, 481 * ms, true, 9}},
	}}
	if d, ok := p.recovery(100*ms, 0, "n2", 9); !ok || d != 325*time.Millisecond {
		t.Fatalf("recovery = %s, %v; want 325ms", d, ok)
	}
	// n1 never stopped answering at epoch 5 within [0, 60ms].
	if d, ok := p.recovery(0, 60*ms, "n1", 5); !ok || d != 0 {
		t.Fatalf("no outage: recovery = %s, %v; want 0", d, ok)
	}
	if _, ok := p.recovery(100*ms, 0, "n1", 5); ok {
		t.Fatal("n1 never came back: recovery must not be measurable")
	}
	by := p.answeredBy(300*ms, 0)
	if len(by["n1"]) != 0 || len(by["n2"]) != 1 || by["n2"][0] != 9 {
		t.Fatalf("answeredBy = %v", by)
	}
}

// TestMountRefusalKinds: the agent log lines checkMountRefusals judges,
// as the agents write them (from runs of the fault suite).
func TestMountRefusalKinds(t *testing.T) {
	cases := []struct {
		line string
		want refusalKind
	}{
		{`[ERROR] raftha.runner: resource failed to start; stopping the group, that resource included: group=db member=n1 resource=shared epoch=30 error="refusing to mount: device /dev/loop0 (7:0) is still mounted in other mount namespaces: pid 10773 (raftha) in mnt:[4026532392] at /tmp/x/shared"`, refusalBad},
		{`[ERROR] raftha.runner: resource failed to start; stopping the group, that resource included: group=db member=n1 resource=shared epoch=30 error="e2fsck -p /dev/loop0p2 exited with status 4 (errors left uncorrected; run fsck manually); refusing to mount: \"…\""`, refusalBad},
		{`[ERROR] raftha.runner: resource failed to start; stopping the group, that resource included: group=db member=n1 resource=shared epoch=30 error="refusing to mount: disk lock I/O failed: write of lock block on /dev/loop0p1 did not return within lock_io_timeout 2s"`, refusalStale},
		{`[ERROR] raftha.runner: resource failed to start; stopping the group, that resource included: group=db member=n1 resource=shared epoch=30 error="refusing to mount: superseded: the disk lock holds a higher epoch: lock_device /dev/loop0p1 holds epoch 35 (group db owner n2 epoch 35 written 2026-11-29T22:11:50Z), this node's epoch is 30: a newer owner has the disk"`, refusalStale},
		{`[ERROR] raftha.runner: resource failed to start; stopping the group, that resource included: group=db member=n1 resource=shared epoch=30 error="refusing to mount: lock_device /dev/loop0p1: settling: context canceled"`, refusalStale},
		{`[ERROR] raftha.runner: resource failed to stop: group=db member=n1 resource=shared epoch=30 error="unmounted from /tmp/x/shared, but device /dev/loop0p2 (259:1) is still mounted in other mount namespaces: pid 10773 (raftha) in mnt:[4026532392] at /tmp/x/shared"`, refusalNone},
		{`[INFO]  raftha.runner.shared: mounting: group=db member=n2 device=/dev/loop0p2 epoch=35`, refusalNone},
	}
	for i, tc := range cases {
		if got := mountRefusal(tc.line); got != tc.want {
			t.Errorf("case %d: mountRefusal = %d, want %d: %s", i, got, tc.want, tc.line)
		}
	}
}

// TestLogWindowKeepsTheRunnerLinesAroundAViolation: logAround's window
// keeps the runner's lines stamped within it, from the member named, and
// nothing else (raft lines, lines outside it, unstamped lines).
func TestLogWindowKeepsTheRunnerLinesAroundAViolation(t *testing.T) {
	log := strings.Join([]string{
		`2026-11-30T14:16:11.000Z [INFO]  raftha.runner: stopping group: group=db member=n2 epoch=28`,
		`2026-11-30T14:16:12.500Z [INFO]  raftha.runner.shared: unmounting: group=db member=n2`,
		`2026-11-30T14:16:13.000Z [INFO]  raftha.raft: entering follower state: member=n2`,
		`        continuation of a multi-line value`,
		`2026-11-30T14:16:13.900Z [WARN]  raftha.runner: report not recorded; will retry: group=db member=n2 state=failed epoch=28`,
		`2026-11-30T14:16:15.000Z [INFO]  raftha.runner: group online: group=db member=n2 epoch=40`,
	}, "\n")
	at, ok := logStamp(`2026-11-30T14:16:13.931Z [ERROR] raftha.runner: resource failed to start`)
	if !ok {
		t.Fatal("the violation's stamp was not read")
	}
	got := windowOf("n2", log, at.Add(-logBefore), at.Add(logAfter))
	want := []string{
		"n2: 2026-11-30T14:16:12.500Z [INFO]  raftha.runner.shared: unmounting: group=db member=n2",
		"n2: 2026-11-30T14:16:13.900Z [WARN]  raftha.runner: report not recorded; will retry: group=db member=n2 state=failed epoch=28",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("window:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
