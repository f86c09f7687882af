package exec

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

func buildEnv(t *testing.T, p Params, env resources.Env) *Resource {
	t.Helper()
	env.Logger, env.DataDir, env.NodeID = hclog.NewNullLogger(), t.TempDir(), "n1"
	res, err := Type.Build(&p, env)
	if err != nil {
		t.Fatal(err)
	}
	return res.(*Resource)
}

// TestStopBoundedByStopDeadline: without stop_timeout, a stop script is
// cut at min(timeout, stop_deadline), not at the 30s timeout, while the
// start keeps the whole timeout.
func TestStopBoundedByStopDeadline(t *testing.T) {
	r := buildEnv(t, Params{Start: "sleep 0.5", Stop: "sleep 5", Timeout: "30s"}, resources.Env{StopDeadline: 300 * time.Millisecond})
	if err := r.Start(context.Background(), resources.Token{}); err != nil {
		t.Fatalf("a 0.5s start under timeout 30s (stop_deadline 300ms must not bound it): %v", err)
	}
	t0 := time.Now()
	err := r.Stop(context.Background(), resources.Token{})
	took := time.Since(t0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed after 300ms") {
		t.Fatalf("stop of sleep 5 under stop_deadline 300ms: %v, want killed after 300ms", err)
	}
	if took > time.Second {
		t.Fatalf("stop took %s, want about 300ms", took)
	}
}

// TestStopTimeoutExplicit: stop_timeout bounds the stop whatever the
// stop_deadline (the group apply refuses one beyond it), and an unknown
// stop_deadline (0) leaves timeout as the bound.
func TestStopTimeoutExplicit(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		env  resources.Env
		want time.Duration
	}{
		{Params{Start: "true", Stop: "sleep 5", Timeout: "30s", StopTimeout: "200ms"}, resources.Env{StopDeadline: 10 * time.Second}, 200 * time.Millisecond},
		{Params{Start: "true", Stop: "sleep 5", Timeout: "400ms"}, resources.Env{}, 400 * time.Millisecond},
		{Params{Start: "true", Stop: "sleep 5", Timeout: "400ms"}, resources.Env{StopDeadline: 10 * time.Second}, 400 * time.Millisecond},
	} {
		r := buildEnv(t, tc.p, tc.env)
		t0 := time.Now()
		err := r.Stop(context.Background(), resources.Token{})
		took := time.Since(t0)
		if !errors.Is(err, context.DeadlineExceeded) || took < tc.want || took > tc.want+700*time.Millisecond {
			t.Fatalf("%+v with stop_deadline %s: stop took %s (%v), want a timeout after %s", tc.p, tc.env.StopDeadline, took, err, tc.want)
		}
	}
}

// TestRunStopKillsAtStopDeadline: a run command that ignores SIGTERM gets
// SIGKILL at min(timeout, stop_deadline), not after the whole timeout.
func TestRunStopKillsAtStopDeadline(t *testing.T) {
	r := buildEnv(t, Params{Run: "trap '' TERM; while :; do sleep 0.05; done", Timeout: "30s"}, resources.Env{StopDeadline: 300 * time.Millisecond})
	if err := r.Start(context.Background(), resources.Token{}); err != nil {
		t.Fatal(err)
	}
	pid := r.proc.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	t0 := time.Now()
	if err := r.Stop(context.Background(), resources.Token{}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("stop of a SIGTERM-proof run command took %s, want SIGKILL after about 300ms", took)
	}
	if !waitGone(t, pid, 2*time.Second) {
		t.Fatalf("run process %d survived the stop", pid)
	}
}

func TestValidateStopTimeout(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{Start: "true", Stop: "true", StopTimeout: "0s"}, `stop_timeout: expected a positive duration like 10s, got "0s"`},
		{Params{Start: "true", StopTimeout: "5s"}, "stop_timeout: there is no stop or run command to bound"},
		{Params{Run: "sleep 1", StopTimeout: "5s"}, ""},
		{Params{Start: "true", Stop: "true", Timeout: "2m", StopTimeout: "5s"}, ""},
	} {
		err := tc.p.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && err.Error() != tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
	if d := (&Params{StopTimeout: "7s"}).ExplicitStopTimeout(); d != 7*time.Second {
		t.Errorf("explicit stop_timeout 7s: %s", d)
	}
	if d := (&Params{Timeout: "2m"}).ExplicitStopTimeout(); d != 0 {
		t.Errorf("no stop_timeout: %s, want 0 (nothing for the group apply to check)", d)
	}
}

// TestStartTimeoutDeclared: the start deadline the agent reads
// (resources.StartTimeouter) is timeout for a start command; for a run
// command, timeout plus twice the stop bound plus the 5 s SIGKILL wait (a
// process an earlier agent recorded is stopped first, and a run that
// never came up is stopped before Start returns).
func TestStartTimeoutDeclared(t *testing.T) {
	var r resources.Resource = buildEnv(t, Params{Start: "true", Timeout: "7s"}, resources.Env{})
	if d := r.(resources.StartTimeouter).StartTimeout(); d != 7*time.Second {
		t.Fatalf("start command: StartTimeout %s, want 7s", d)
	}
	r = buildEnv(t, Params{Run: "sleep 60", Timeout: "7s", StopTimeout: "2s"}, resources.Env{})
	if d := r.(resources.StartTimeouter).StartTimeout(); d != 16*time.Second {
		t.Fatalf("run command: StartTimeout %s, want 16s", d)
	}
}

// TestRunStartKeepsItsDeclaredStartTimeout (found by review): the
// declared start deadline of a run command once left out the stop of
// a process an earlier agent recorded, which spawn does first and bounds
// only by the stop bound plus a 5s SIGKILL wait. A Start that keeps every
// bound of its own then runs past StartTimeout() plus the default
// heartbeat (300ms), and the agent gives its slot back as if it hung.
func TestRunStartKeepsItsDeclaredStartTimeout(t *testing.T) {
	dataDir := t.TempDir()
	tok := resources.Token{Group: "db", Node: "n1", Epoch: 7, Resource: "app"}
	env := resources.Env{Logger: hclog.NewNullLogger(), DataDir: dataDir, NodeID: "n1"}
	mk := func(p Params) *Resource {
		res, err := Type.Build(&p, env)
		if err != nil {
			t.Fatal(err)
		}
		return res.(*Resource)
	}
	run := "trap '' TERM; exec sleep 300" // ignores SIGTERM: stopped at the stop bound
	first := mk(Params{Run: run, Timeout: "1s", StopTimeout: "1s"})
	if err := first.Start(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	pid := first.proc.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	first = nil // the agent crashed; its process runs on, recorded

	second := mk(Params{Run: run, Check: "false", Timeout: "1s", StopTimeout: "1s"})
	t.Cleanup(func() { second.Kill() })
	began := time.Now()
	err := second.Start(context.Background(), tok)
	took := time.Since(began)
	if err == nil {
		t.Fatal("start with a failing check succeeded")
	}
	if limit := second.StartTimeout() + 300*time.Millisecond; took > limit {
		t.Fatalf("Start kept its own bounds yet took %s, past StartTimeout %s + heartbeat 300ms", took.Round(10*time.Millisecond), second.StartTimeout())
	}
}
