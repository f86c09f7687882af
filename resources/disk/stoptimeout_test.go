package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftha/raftha/resources"
)

func (f *fixture) buildDeadline(t *testing.T, p Params, stopDeadline time.Duration) resources.Resource {
	t.Helper()
	p.Device, p.MountPoint = f.dev, f.mnt
	env := testEnv()
	env.StopDeadline = stopDeadline
	r, err := Type.Build(&p, env)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestStopBoundedByStopDeadline: without stop_timeout, Stop is cut at
// min(timeout, stop_deadline): a filesystem kept alive in another mount
// namespace makes Stop wait for its release (3s at most) and then fail;
// with timeout 60s and stop_deadline 500ms it fails after 500ms.
func TestStopBoundedByStopDeadline(t *testing.T) {
	needTools(t, "unshare")
	f := newFixture(t)
	r := f.buildDeadline(t, Params{Timeout: "60s"}, 500*time.Millisecond)
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatal(err)
	}
	h := startHolder(t, "/", "exec unshare --mount --propagation private sleep 60", nil)
	self, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", h.pid))
		if ns != "" && ns != self && comm(h.pid) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never entered its own mount namespace", h.pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	err := r.Stop(c, tok())
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "other mount namespaces") {
		t.Fatalf("Stop with the filesystem alive in another namespace: %v", err)
	}
	if took > 1500*time.Millisecond {
		t.Fatalf("Stop took %s, want it cut at stop_deadline 500ms", took)
	}
	if err := syscall.Kill(h.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, h, 5*time.Second)
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop after the namespace went: %v", err)
	}
}

// TestKillTimeoutCutToFitStopDeadline: a kill_timeout longer than the
// stop bound (here 10s against stop_deadline 4s) would let the stop end
// before SIGKILL and fail; the grace is cut to half the bound, so a holder
// that ignores SIGTERM is killed and the unmount finishes in time (after
// about 1s of EBUSY retries and the 2s grace).
func TestKillTimeoutCutToFitStopDeadline(t *testing.T) {
	f := newFixture(t)
	r := f.buildDeadline(t, Params{ForceUnmount: true, KillTimeout: "10s", Timeout: "60s"}, 4*time.Second)
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(f.mnt, "held")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	h := startHolder(t, "/", "trap '' TERM; exec sleep 60", in)
	in.Close()
	waitHeld(t, f.mnt, h.pid)
	t0 := time.Now()
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop with force_unmount: %v", err)
	}
	if took := time.Since(t0); took > 4*time.Second {
		t.Fatalf("Stop took %s, want within stop_deadline 4s", took)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted: %q", got)
	}
	if sig := signalOf(waitExit(t, h, 5*time.Second)); sig != syscall.SIGKILL {
		t.Fatalf("holder ended by %v, want SIGKILL", sig)
	}
}

// TestStopTimeouts: the stop bound and the kill grace derived from
// timeout, stop_timeout, kill_timeout and the cluster's stop_deadline.
func TestStopTimeouts(t *testing.T) {
	for _, tc := range []struct {
		p              Params
		deadline       time.Duration
		wantStop, kill time.Duration
	}{
		{Params{}, 0, 60 * time.Second, 5 * time.Second},
		{Params{}, 10 * time.Second, 10 * time.Second, 5 * time.Second},
		{Params{}, 2 * time.Second, 2 * time.Second, time.Second},
		{Params{Timeout: "20s", KillTimeout: "500ms"}, time.Second, time.Second, 500 * time.Millisecond},
		{Params{Timeout: "20s", KillTimeout: "3s"}, time.Second, time.Second, 500 * time.Millisecond},
		{Params{Timeout: "5m", StopTimeout: "30s"}, 10 * time.Second, 30 * time.Second, 5 * time.Second},
		{Params{Timeout: "5m", StopTimeout: "30s", KillTimeout: "20s"}, 10 * time.Second, 30 * time.Second, 20 * time.Second},
	} {
		env := resources.Env{StopDeadline: tc.deadline}
		if s, k := tc.p.stopTimeout(env), tc.p.killTimeout(env); s != tc.wantStop || k != tc.kill {
			t.Errorf("%+v, stop_deadline %s: stop %s kill %s, want %s and %s", tc.p, tc.deadline, s, k, tc.wantStop, tc.kill)
		}
	}
	if d := (&Params{Timeout: "5m"}).ExplicitStopTimeout(); d != 0 {
		t.Errorf("no stop_timeout: %s, want 0", d)
	}
	if d := (&Params{StopTimeout: "9s"}).ExplicitStopTimeout(); d != 9*time.Second {
		t.Errorf("stop_timeout 9s: %s", d)
	}
}

func TestValidateKillTimeout(t *testing.T) {
	base := Params{Device: "/dev/vdb", MountPoint: "/srv/db"}
	for _, tc := range []struct {
		kill, stop, timeout string
		want                string
	}{
		{"5s", "", "", ""},
		{"5s", "10s", "", ""},
		{"500ms", "", "1s", ""},
		{"10s", "10s", "", "kill_timeout: 10s must be shorter than stop_timeout 10s, or the stop ends before the holders get SIGKILL"},
		{"10s", "", "5s", "kill_timeout: 10s must be shorter than timeout 5s, or the stop ends before the holders get SIGKILL"},
		{"10s", "20s", "5s", ""}, // stop_timeout, not timeout, bounds the stop
		{"", "1s", "", ""},       // the default grace is cut to fit
		{"", "0s", "", `stop_timeout: expected a positive duration like 5s, got "0s"`},
	} {
		p := base
		p.KillTimeout, p.StopTimeout, p.Timeout = tc.kill, tc.stop, tc.timeout
		err := p.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && err.Error() != tc.want) {
			t.Errorf("kill_timeout %q stop_timeout %q timeout %q: %v, want %q", tc.kill, tc.stop, tc.timeout, err, tc.want)
		}
	}
}
