package systemd

// This machine runs no systemd (PID 1 is not systemd), so real systemd is
// NOT exercised here. The tests drive the resource through a fake
// systemctl: a shell script in t.TempDir() that keeps each unit's state in
// a file, records every call, and misbehaves on request (start fails, the
// unit dies at once, start hangs, stop fails, the unit is still
// activating or stays deactivating, the unit is unknown).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

const fakeSystemctl = `#!/bin/sh
# Fake systemctl for raftha's tests. State lives in DIR/<unit>.state.
DIR='@DIR@'
echo "$*" >> "$DIR/calls.log"
cmd=; unit=
for a in "$@"; do
	case "$a" in
	-*) ;;
	*) if [ -z "$cmd" ]; then cmd=$a; elif [ -z "$unit" ]; then unit=$a; fi ;;
	esac
done
state() { if [ -f "$DIR/$unit.state" ]; then cat "$DIR/$unit.state"; else echo inactive; fi; }
set_state() { echo "$1" > "$DIR/$unit.state"; }
if [ -f "$DIR/$unit.notfound" ]; then
	case "$cmd" in
	is-active) echo inactive; exit 3 ;;
	start) echo "Failed to start $unit: Unit $unit not found." >&2; exit 5 ;;
	*) echo "Failed to $cmd $unit: Unit $unit not loaded." >&2; exit 5 ;;
	esac
fi
case "$cmd" in
start)
	[ -f "$DIR/$unit.hang" ] && sleep 30
	if [ -f "$DIR/$unit.start-fails" ]; then
		set_state failed
		echo "Job for $unit failed because the control process exited with error code." >&2
		exit 1
	fi
	if [ -f "$DIR/$unit.dies" ]; then set_state failed; exit 0; fi
	if [ -f "$DIR/$unit.activating" ]; then
		set_state activating
		( sleep 0.6; echo active > "$DIR/$unit.state" ) >/dev/null 2>&1 &
		exit 0
	fi
	set_state active ;;
stop)
	if [ -f "$DIR/$unit.stop-fails" ]; then
		echo "Job for $unit canceled." >&2
		exit 1
	fi
	if [ -f "$DIR/$unit.deactivating" ]; then set_state deactivating; exit 0; fi
	if [ "$(state)" = failed ]; then :; else set_state inactive; fi ;;
kill) set_state failed ;;
is-active)
	s=$(state); echo "$s"
	[ "$s" = active ] && exit 0
	exit 3 ;;
*) echo "fake systemctl: unknown command $cmd" >&2; exit 1 ;;
esac
exit 0
`

type fake struct {
	dir, path string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	dir := t.TempDir()
	f := &fake{dir: dir, path: filepath.Join(dir, "systemctl")}
	if err := os.WriteFile(f.path, []byte(strings.ReplaceAll(fakeSystemctl, "@DIR@", dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fake) touch(t *testing.T, unit, what string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, unit+"."+what), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fake) state(t *testing.T, unit string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, unit+".state"))
	if os.IsNotExist(err) {
		return "inactive"
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (f *fake) calls(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join(f.dir, "calls.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (f *fake) build(t *testing.T, unit, timeout string) resources.Resource {
	t.Helper()
	r, err := Type.Build(&Params{Unit: unit, Systemctl: f.path, Timeout: timeout}, resources.Env{
		Logger: hclog.New(&hclog.LoggerOptions{Name: "systemd", Level: hclog.Debug, Output: os.Stderr}),
		NodeID: "node-a",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var tok = resources.Token{Group: "g1", Node: "node-a", Epoch: 3, Resource: "db"}

func TestStartStopCheck(t *testing.T) {
	f := newFake(t)
	r := f.build(t, "postgresql.service", "")
	c := ctx(t)
	if err := r.Check(c, tok); err == nil || !strings.Contains(err.Error(), "is inactive") {
		t.Fatalf("Check before Start: %v", err)
	}
	if err := r.Start(c, tok); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := f.state(t, "postgresql.service"); got != "active" {
		t.Fatalf("state after Start: %s", got)
	}
	if err := r.Check(c, tok); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := r.Start(c, tok); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if err := r.Stop(c, tok); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := f.state(t, "postgresql.service"); got != "inactive" {
		t.Fatalf("state after Stop: %s", got)
	}
	if err := r.Stop(c, tok); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := r.Check(c, tok); err == nil {
		t.Fatal("Check after Stop succeeded")
	}
	want := []string{
		"is-active postgresql.service",
		"start --no-ask-password postgresql.service", "is-active postgresql.service",
		"is-active postgresql.service",
		"start --no-ask-password postgresql.service", "is-active postgresql.service",
		"stop --no-ask-password postgresql.service", "is-active postgresql.service",
		"stop --no-ask-password postgresql.service", "is-active postgresql.service",
		"is-active postgresql.service",
	}
	if got := f.calls(t); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("systemctl calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStartFails(t *testing.T) {
	f := newFake(t)
	f.touch(t, "app.service", "start-fails")
	err := f.build(t, "app.service", "").Start(ctx(t), tok)
	if err == nil || !strings.Contains(err.Error(), "control process exited with error code") {
		t.Fatalf("Start of a failing unit: %v", err)
	}
}

func TestStartUnitDiesAtOnce(t *testing.T) {
	f := newFake(t)
	f.touch(t, "app.service", "dies")
	err := f.build(t, "app.service", "").Start(ctx(t), tok)
	if err == nil || !strings.Contains(err.Error(), "is failed after systemctl start") {
		t.Fatalf("Start of a unit that dies: %v", err)
	}
}

func TestStartWaitsWhileActivating(t *testing.T) {
	f := newFake(t)
	f.touch(t, "app.service", "activating")
	start := time.Now()
	if err := f.build(t, "app.service", "10s").Start(ctx(t), tok); err != nil {
		t.Fatalf("Start of a slowly activating unit: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("Start returned after %s, before the unit became active", d)
	}
}

func TestStartTimeout(t *testing.T) {
	f := newFake(t)
	f.touch(t, "app.service", "hang")
	start := time.Now()
	err := f.build(t, "app.service", "1s").Start(ctx(t), tok)
	if err == nil || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("Start of a hanging unit: %v", err)
	}
	// The fake's sleep is in systemctl's process group and is killed with
	// it, so nothing holds the output pipes open.
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("Start took %s with timeout 1s", d)
	}
}

func TestStopFails(t *testing.T) {
	f := newFake(t)
	r := f.build(t, "app.service", "2s")
	c := ctx(t)
	if err := r.Start(c, tok); err != nil {
		t.Fatal(err)
	}
	f.touch(t, "app.service", "stop-fails")
	err := r.Stop(c, tok)
	if err == nil || !strings.Contains(err.Error(), "canceled") || !strings.Contains(err.Error(), "still active") {
		t.Fatalf("Stop that fails: %v", err)
	}
}

func TestStopUnknownUnitSucceeds(t *testing.T) {
	f := newFake(t)
	f.touch(t, "gone.service", "notfound")
	r := f.build(t, "gone.service", "")
	if err := r.Stop(ctx(t), tok); err != nil {
		t.Fatalf("Stop of an unknown unit: %v", err)
	}
	if err := r.Start(ctx(t), tok); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Start of an unknown unit: %v", err)
	}
}

func TestStopFailedUnit(t *testing.T) {
	f := newFake(t)
	r := f.build(t, "app.service", "")
	c := ctx(t)
	if err := r.Start(c, tok); err != nil {
		t.Fatal(err)
	}
	r.(resources.Killer).Kill()
	if err := r.Check(c, tok); err == nil || !strings.Contains(err.Error(), "is failed") {
		t.Fatalf("Check after Kill: %v", err)
	}
	if err := r.Stop(c, tok); err != nil {
		t.Fatalf("Stop of a failed unit: %v", err)
	}
	if calls := f.calls(t); !strings.Contains(strings.Join(calls, "|"), "kill --signal=SIGKILL app.service") {
		t.Fatalf("Kill did not call systemctl kill: %v", calls)
	}
}

func TestSystemctlMissing(t *testing.T) {
	r, err := Type.Build(&Params{Unit: "app.service", Systemctl: "/nonexistent/raftha/systemctl"}, resources.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx(t), tok); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Start without systemctl: %v", err)
	}
	if err := r.Check(ctx(t), tok); err == nil {
		t.Fatal("Check without systemctl succeeded")
	}
}

// On a host with a systemctl binary but no running systemd (like this test
// machine), every action fails with systemctl's own explanation.
func TestRealSystemctlWithoutSystemd(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("no systemctl in PATH")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd is running here; not starting real units from a test")
	}
	r, err := Type.Build(&Params{Unit: "raftha-test-nonexistent.service", Timeout: "10s"}, resources.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func(context.Context, resources.Token) error{"Start": r.Start, "Stop": r.Stop, "Check": r.Check} {
		if err := fn(ctx(t), tok); err == nil {
			t.Errorf("%s succeeded without systemd", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (&Params{Unit: "postgresql@14-main.service", Timeout: "2m"}).Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    Params
		want string
	}{
		{Params{}, "unit is required"},
		{Params{Unit: "bad unit"}, "unit:"},
		{Params{Unit: "--now"}, "unit:"},
		{Params{Unit: "a.service", Systemctl: "bin/systemctl"}, "systemctl:"},
		{Params{Unit: "a.service", Timeout: "0"}, "timeout:"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want error naming %q", c.p, err, c.want)
		}
	}
}
