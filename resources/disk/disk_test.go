package disk

// These tests use real loop devices, ext4 and mount(2); they need root and
// losetup, mkfs.ext4, e2fsck, tune2fs and debugfs (e2fsprogs). Every
// mount, loop device, file and process they create is removed in
// t.Cleanup, also when a test fails.

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

func testEnv() resources.Env {
	return resources.Env{
		Logger: hclog.New(&hclog.LoggerOptions{Name: "disk", Level: hclog.Debug, Output: os.Stderr}),
		NodeID: "node-a",
	}
}

func tok() resources.Token {
	return resources.Token{Group: "g1", Node: "node-a", Epoch: 7, Resource: "data"}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk tests need root (loop devices, mkfs.ext4, mount); skipping")
	}
	for _, tool := range tools {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skipf("disk tests need %s (util-linux / e2fsprogs), not found in PATH; skipping", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := osexec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) build(t *testing.T, p Params) resources.Resource {
	t.Helper()
	if p.Device == "" && p.VolumeID == "" {
		p.Device = f.dev
	}
	if p.MountPoint == "" {
		p.MountPoint = f.mnt
	}
	r, err := Type.Build(&p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mountedAt returns the source mounted (top-most) at mp, or "".
func mountedAt(t *testing.T, mp string) string {
	t.Helper()
	mounts, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(mp); err == nil {
		mp = real
	}
	if top := topMountAt(mounts, mp); top != nil {
		return top.Source
	}
	return ""
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// proc is a test process keeping the mount busy.
type proc struct {
	pid  int
	done chan struct{}
	err  error // valid after done is closed
}

// startHolder starts script under /bin/sh in dir; its cleanup kills it by
// PID and reaps it.
func startHolder(t *testing.T, dir, script string, stdin *os.File) *proc {
	t.Helper()
	c := osexec.Command("/bin/sh", "-c", script)
	c.Dir = dir
	c.Stdin = stdin
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{pid: c.Process.Pid, done: make(chan struct{})}
	go func() { p.err = c.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Logf("holder %d not reaped", p.pid)
		}
	})
	return p
}

// waitExit returns how p ended, failing after d.
func waitExit(t *testing.T, p *proc, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("process %d still running after %s", p.pid, d)
		return nil
	}
}

func signalOf(err error) syscall.Signal {
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func TestStartStopIdempotent(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{Options: "noatime"})
	c := ctx(t)
	if err := r.Check(c, tok()); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Fatalf("Check before Start: %v", err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	if err := r.Start(c, tok()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != f.dev {
		t.Fatalf("mounted at %s: %q, want %s", f.mnt, got, f.dev)
	}
	if err := r.Start(c, tok()); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if err := r.Check(c, tok()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := os.WriteFile(filepath.Join(f.mnt, "test.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted after Stop: %q", got)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := r.Check(c, tok()); err == nil {
		t.Fatal("Check after Stop succeeded")
	}
	// The data moves with the disk.
	if err := r.Start(c, tok()); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(f.mnt, "test.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("test.txt after remount: %q, %v", b, err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestMkdirFalse(t *testing.T) {
	f := newFixture(t)
	no := false
	r := f.build(t, Params{Mkdir: &no})
	if err := r.Start(ctx(t), tok()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Start with missing mount_point and mkdir false: %v", err)
	}
}

func fsState(t *testing.T, dev string) string {
	for _, l := range strings.Split(run(t, "tune2fs", "-l", dev), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == "Filesystem state" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("tune2fs -l %s: no Filesystem state", dev)
	return ""
}

// The kernel keeps an ext4 superblock's "not clean" state across a mount
// and a clean unmount; only e2fsck marks it clean. So the state after
// Start+Stop tells whether Start ran fsck.
func TestFsckRunsBeforeMount(t *testing.T) {
	needTools(t, "debugfs")
	for _, tc := range []struct {
		name string
		fsck *bool
		want string
	}{
		{"default", nil, "clean"},
		{"disabled", new(bool), "not clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			run(t, "debugfs", "-w", "-R", "ssv state 0", f.dev)
			if got := fsState(t, f.dev); got != "not clean" {
				t.Fatalf("state after debugfs: %q", got)
			}
			r := f.build(t, Params{Fsck: tc.fsck})
			c := ctx(t)
			if err := r.Start(c, tok()); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if err := r.Stop(c, tok()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if got := fsState(t, f.dev); got != tc.want {
				t.Fatalf("filesystem state after Start/Stop with fsck=%v: %q, want %q", tc.fsck, got, tc.want)
			}
		})
	}
}

func TestFsckFailureRefusesMount(t *testing.T) {
	needTools(t, "debugfs")
	f := newFixture(t)
	// Clear the root inode and mark the fs unclean: e2fsck -p exits 4.
	run(t, "debugfs", "-w", "-R", "clri <2>", f.dev)
	run(t, "debugfs", "-w", "-R", "ssv state 0", f.dev)
	r := f.build(t, Params{})
	err := r.Start(ctx(t), tok())
	if err == nil || !strings.Contains(err.Error(), "status 4") || !strings.Contains(err.Error(), "UNEXPECTED INCONSISTENCY") {
		t.Fatalf("Start on a corrupt fs: %v", err)
	}
	t.Log(err)
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("mounted despite fsck failure: %q", got)
	}
}

func TestRefusesDeviceMountedElsewhere(t *testing.T) {
	f := newFixture(t)
	if err := unix.Mount(f.dev, f.other, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	// Through a symlink to the device, to exercise resolution.
	link := filepath.Join(f.dir, "dev-link")
	if err := os.Symlink(f.dev, link); err != nil {
		t.Fatal(err)
	}
	r := f.build(t, Params{Device: link, Fsck: new(bool)})
	err := r.Start(ctx(t), tok())
	if err == nil || !strings.Contains(err.Error(), "already mounted at "+f.other) {
		t.Fatalf("Start with device mounted elsewhere: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("mounted twice: %q", got)
	}
}

func TestRefusesBusyMountPoint(t *testing.T) {
	f := newFixture(t)
	if err := os.Mkdir(f.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("raftha-test", f.mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	r := f.build(t, Params{})
	c := ctx(t)
	err := r.Start(c, tok())
	if err == nil || !strings.Contains(err.Error(), "device busy") || !strings.Contains(err.Error(), "raftha-test") {
		t.Fatalf("Start on a busy mount_point: %v", err)
	}
	// Stop leaves a mount that is not ours alone.
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "raftha-test" {
		t.Fatalf("Stop touched a foreign mount: %q", got)
	}
	if err := r.Check(c, tok()); err == nil || !strings.Contains(err.Error(), "raftha-test") {
		t.Fatalf("Check with a foreign mount: %v", err)
	}
}

func TestStopBusyWithoutForce(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{})
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatal(err)
	}
	h := startHolder(t, f.mnt, "exec sleep 60", nil)
	waitHeld(t, f.mnt, h.pid)
	start := time.Now()
	err := r.Stop(c, tok())
	if err == nil || !strings.Contains(err.Error(), "EBUSY") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(h.pid)) ||
		!strings.Contains(err.Error(), "force_unmount") {
		t.Fatalf("Stop of a busy mount without force_unmount: %v", err)
	}
	t.Logf("Stop failed as expected after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if got := mountedAt(t, f.mnt); got != f.dev {
		t.Fatalf("mount gone although busy (lazy unmount?): %q", got)
	}
	if err := syscall.Kill(h.pid, 0); err != nil {
		t.Fatalf("holder was signalled without force_unmount: %v", err)
	}
}

// waitHeld waits until pid shows up as holding mp (the shell has exec'ed).
func waitHeld(t *testing.T, mp string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, h := range findHolders(mp) {
			if h.PID == pid && h.Comm == "sleep" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d never held %s", pid, mp)
}

func TestForceUnmountKillsHolder(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{ForceUnmount: true, KillTimeout: "3s"})
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatal(err)
	}
	h := startHolder(t, f.mnt, "exec sleep 60", nil)
	waitHeld(t, f.mnt, h.pid)
	start := time.Now()
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop with force_unmount: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted: %q", got)
	}
	if sig := signalOf(waitExit(t, h, 5*time.Second)); sig != syscall.SIGTERM {
		t.Fatalf("holder ended by %v, want SIGTERM", sig)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Stop took %s although the holder obeyed SIGTERM", d)
	}
}

func TestForceUnmountEscalatesToSIGKILL(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{ForceUnmount: true, KillTimeout: "500ms"})
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
	// Held through an open descriptor (stdin), cwd elsewhere; SIGTERM ignored.
	h := startHolder(t, "/", "trap '' TERM; exec sleep 60", in)
	in.Close()
	waitHeld(t, f.mnt, h.pid)
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop with force_unmount: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted: %q", got)
	}
	if sig := signalOf(waitExit(t, h, 5*time.Second)); sig != syscall.SIGKILL {
		t.Fatalf("holder ended by %v, want SIGKILL", sig)
	}
}

func TestProbe(t *testing.T) {
	f := newFixture(t)
	r := f.build(t, Params{Probe: true, Timeout: "10s"})
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := r.Check(c, tok()); err != nil {
			t.Fatalf("Check with probe: %v", err)
		}
	}
	ents, err := os.ReadDir(f.mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".raftha-probe") {
			t.Fatalf("probe file left behind: %s", e.Name())
		}
	}
	// A filesystem remounted read-only (as ext4 errors=remount-ro does)
	// fails the check.
	if err := unix.Mount("", f.mnt, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(c, tok()); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Check on a read-only mount: %v", err)
	}
	// The write probe itself fails too (mount check off: ro requested).
	ro := f.build(t, Params{Options: "ro"})
	if err := ro.Check(c, tok()); err != nil {
		t.Fatalf("Check of ro resource: %v", err)
	}
	if err := probeFile(filepath.Join(f.mnt, ".raftha-probe-x"), []byte("x")); err == nil || !errors.Is(err, unix.EROFS) {
		t.Fatalf("probe on ro fs: %v", err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestVolumeID(t *testing.T) {
	f := newFixture(t)
	env := testEnv()
	env.ResolveVolume = func(id, _ string) (string, error) {
		if id != "vol-0123456789abcdef0" {
			return "", errors.New("unknown volume " + id)
		}
		return f.dev, nil
	}
	r, err := Type.Build(&Params{VolumeID: "vol-0123456789abcdef0", MountPoint: f.mnt}, env)
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	if err := r.Start(c, tok()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := r.Check(c, tok()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted: %q", got)
	}
}

// A process that unshared its mount namespace while the disk was mounted
// (private propagation) keeps the filesystem alive after raftha unmounts
// it: Stop must fail and name it, not report the disk as stopped.
func TestStopDetectsMountInOtherNamespace(t *testing.T) {
	needTools(t, "unshare")
	f := newFixture(t)
	r := f.build(t, Params{})
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
	err := r.Stop(c, tok())
	if err == nil || !strings.Contains(err.Error(), "other mount namespaces") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d (sleep)", h.pid)) {
		t.Fatalf("Stop with the filesystem alive in another namespace: %v", err)
	}
	t.Log(err)
	if got := mountedAt(t, f.mnt); got != "" {
		t.Fatalf("still mounted here: %q", got)
	}
	// Start refuses too: the device is still in use.
	if err := r.Start(c, tok()); err == nil || !strings.Contains(err.Error(), "other mount namespaces") {
		t.Fatalf("Start while mounted in another namespace: %v", err)
	}
	// Once that namespace is gone, Stop succeeds and Start works again.
	if err := syscall.Kill(h.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, h, 5*time.Second)
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop after the namespace went: %v", err)
	}
	if err := r.Start(c, tok()); err != nil {
		t.Fatalf("Start after the namespace went: %v", err)
	}
	if err := r.Stop(c, tok()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
