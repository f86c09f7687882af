package integration

// The fault-injection suite's testbed: one network namespace per member on
// a bridge in the root namespace, addresses only in 198.18.0.0/15, a loop
// device as the shared disk, and a state file per run so that a run whose
// test binary died (a -timeout panic skips t.Cleanup) is swept by the next.
//
// Everything here needs root; fiRequireRoot skips the suite otherwise.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fiTools are the commands the suite runs (besides the raftha binary).
var fiTools = []string{"ip", "iptables", "losetup", "mkfs.ext4", "mount", "umount", "nsenter", "moto_server"}

// fiStateDir holds one state file per live run (see sweepStale).
const fiStateDir = "/run/raftha-fi"

var fiSweepOnce sync.Once

// fiRequireRoot skips the fault suite when not root, and fails it when a
// tool it needs is missing (as root the suite is expected to run).
func fiRequireRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run make integration as root")
	}
	var missing []string
	for _, tool := range fiTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the fault-injection suite needs %s on PATH (Debian: apt-get install iproute2 util-linux e2fsprogs mount iptables; moto_server: pip install 'moto[server]')", strings.Join(missing, ", "))
	}
	fiSweepOnce.Do(func() { sweepStale(t) })
}

// monoNow is CLOCK_MONOTONIC in nanoseconds: one clock for this process,
// the application processes in every namespace and the disk log.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// cmdOut runs a command with a deadline and returns its combined output.
func cmdOut(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cleanEnv()
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// testbed is one run's network and disk.
type testbed struct {
	t      *testing.T
	rid    string // run id: 4 hex digits
	k      int    // the run's subnet is 198.18.k.0/24
	dir    string
	bridge string
	gw     string // the bridge's address, 198.18.k.1
	state  string // state file

	mu       sync.Mutex
	hooks    []func() // run first at teardown, last registered first
	nss      []string
	links    []string
	procs    []int // root-namespace processes (moto_server) by pid
	mounts   []string
	loopDev  string
	loopImg  string
	iptables map[string]bool // namespaces with rules
}

// newTestbed creates the bridge and a namespace with one veth per member
// id. Member i (in ids order) gets 198.18.k.(11+i).
func newTestbed(t *testing.T, ids []string) *testbed {
	t.Helper()
	tb := &testbed{t: t, dir: t.TempDir(), rid: randHex(2), iptables: map[string]bool{}}
	if err := os.MkdirAll(fiStateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tb.state = filepath.Join(fiStateDir, tb.rid)
	tb.record("owner %d", os.Getpid())
	// Registered after t.TempDir: runs before the directory is removed.
	t.Cleanup(tb.teardown)

	used, _ := cmdOut(10*time.Second, "ip", "-o", "-4", "addr", "show")
	for i := 0; i < 50 && tb.k == 0; i++ {
		k := 100 + int(randByte())%150
		if !strings.Contains(used, fmt.Sprintf(" 198.18.%d.", k)) {
			tb.k = k
		}
	}
	if tb.k == 0 {
		t.Fatal("no free 198.18.k.0/24 subnet found")
	}
	tb.gw = fmt.Sprintf("198.18.%d.1", tb.k)
	tb.bridge = "rh" + tb.rid + "br"

	tb.record("link %s", tb.bridge)
	tb.ip("link", "add", tb.bridge, "type", "bridge")
	tb.ip("addr", "add", tb.gw+"/24", "dev", tb.bridge)
	tb.ip("link", "set", tb.bridge, "up")
	for i, id := range ids {
		ns, host, peer := tb.nsName(id), "rh"+tb.rid+id, "rh"+tb.rid+id+"p"
		tb.record("ns %s", ns)
		tb.record("link %s", host)
		tb.ip("netns", "add", ns)
		tb.ip("link", "add", host, "type", "veth", "peer", "name", peer)
		tb.ip("link", "set", peer, "netns", ns)
		tb.ip("-n", ns, "link", "set", peer, "name", "eth0")
		tb.ip("-n", ns, "addr", "add", tb.addr(i)+"/24", "dev", "eth0")
		tb.ip("-n", ns, "link", "set", "lo", "up")
		tb.ip("-n", ns, "link", "set", "eth0", "up")
		tb.ip("link", "set", host, "master", tb.bridge)
		tb.ip("link", "set", host, "up")
	}
	t.Logf("testbed %s: bridge %s %s/24, namespaces %s", tb.rid, tb.bridge, tb.gw, strings.Join(tb.nss, " "))
	return tb
}

func randByte() byte {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return b[0]
}

func (tb *testbed) nsName(id string) string { return "raftha-" + tb.rid + "-" + id }
func (tb *testbed) hostVeth(id string) string {
	return "rh" + tb.rid + id
}
func (tb *testbed) addr(i int) string { return fmt.Sprintf("198.18.%d.%d", tb.k, 11+i) }

// record appends a line to the state file and tracks the resource.
func (tb *testbed) record(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	f := strings.Fields(line)
	switch f[0] {
	case "ns":
		tb.nss = append(tb.nss, f[1])
	case "link":
		tb.links = append(tb.links, f[1])
	case "proc":
		pid, _ := strconv.Atoi(f[1])
		tb.procs = append(tb.procs, pid)
	case "mount":
		tb.mounts = append(tb.mounts, f[1])
	case "loop":
		tb.loopDev, tb.loopImg = f[1], f[2]
	}
	sf, err := os.OpenFile(tb.state, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.t.Errorf("state file: %v", err)
		return
	}
	fmt.Fprintln(sf, line)
	sf.Close()
}

func (tb *testbed) ip(args ...string) {
	tb.t.Helper()
	if _, err := cmdOut(15*time.Second, "ip", args...); err != nil {
		tb.t.Fatal(err)
	}
}

// onTeardown registers fn to run at the start of teardown (before the
// namespaces go), last registered first.
func (tb *testbed) onTeardown(fn func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.hooks = append(tb.hooks, fn)
}

// nsExec runs a command inside a member's namespace.
func (tb *testbed) nsExec(id string, args ...string) error {
	_, err := cmdOut(15*time.Second, "ip", append([]string{"netns", "exec", tb.nsName(id)}, args...)...)
	return err
}

// setLink sets a member's host-side veth up or down.
func (tb *testbed) setLink(id string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	_, err := cmdOut(15*time.Second, "ip", "link", "set", tb.hostVeth(id), state)
	return err
}

// partition drops (or rejects) traffic between member id and peers,
// inside id's namespace, both directions. Other addresses (the bridge:
// the AWS endpoint and the test's probes) stay reachable.
func (tb *testbed) partition(id string, peers []string, target string) error {
	tb.mu.Lock()
	tb.iptables[id] = true
	tb.mu.Unlock()
	for _, p := range peers {
		for _, rule := range [][]string{{"-A", "INPUT", "-s", p}, {"-A", "OUTPUT", "-d", p}} {
			args := append([]string{"iptables", "-w", "5"}, rule...)
			args = append(args, "-j", target)
			if err := tb.nsExec(id, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// heal flushes a member's iptables rules.
func (tb *testbed) heal(id string) error {
	tb.mu.Lock()
	had := tb.iptables[id]
	delete(tb.iptables, id)
	tb.mu.Unlock()
	if !had {
		return nil
	}
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := tb.nsExec(id, "iptables", "-w", "5", "-F", chain); err != nil {
			return err
		}
	}
	return nil
}

// loopDisk makes an ext4 filesystem on a loop device backed by a file in
// the run's directory: the shared disk (EBS Multi-Attach stand-in). Every
// member sees the device; each mounts it in its own mount namespace.
//
// With withLock the image gets a GPT partition table first, as docs/
// scenarios.md lays out a Multi-Attach volume: partition 1 a small lock
// partition (all zeros: a fresh disk lock), partition 2 the file system.
// It returns the file system's device and, withLock, the lock
// partition's ("" without).
func (tb *testbed) loopDisk(sizeMB int, withLock bool) (data, lock string) {
	tb.t.Helper()
	img := filepath.Join(tb.dir, "shared.img")
	f, err := os.Create(img)
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		tb.t.Fatal(err)
	}
	f.Close()
	args := []string{"-f", "--show", img}
	if withLock {
		partitionImage(tb.t, img)
		args = append([]string{"-P"}, args...)
	}
	out, err := cmdOut(30*time.Second, "losetup", args...)
	if err != nil {
		tb.t.Fatal(err)
	}
	dev := strings.TrimSpace(out)
	tb.record("loop %s %s", dev, img)
	data = dev
	if withLock {
		data, lock = waitPartitions(tb.t, dev)
	}
	if _, err := cmdOut(60*time.Second, "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", data); err != nil {
		tb.t.Fatal(err)
	}
	return data, lock
}

// mountedAt reports whether something is mounted on path in the test's
// mount namespace.
func mountedAt(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything stacked on path (bounded).
func unmountAll(path string) error {
	var last error
	for i := 0; i < 10 && mountedAt(path); i++ {
		if _, err := cmdOut(15*time.Second, "umount", path); err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
		}
	}
	if mountedAt(path) {
		// Teardown only, every process of the run is dead by now.
		if _, err := cmdOut(15*time.Second, "umount", "-l", path); err != nil {
			return fmt.Errorf("unmount %s: %v (last: %v)", path, err, last)
		}
	}
	return nil
}

// teardown undoes everything, whatever state the run is in.
func (tb *testbed) teardown() {
	tb.mu.Lock()
	hooks := append([]func(){}, tb.hooks...)
	tb.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i]()
	}
	st := fiState{owner: os.Getpid(), nss: tb.nss, links: tb.links, procs: tb.procs, mounts: tb.mounts, loopDev: tb.loopDev, loopImg: tb.loopImg}
	for _, err := range st.cleanup() {
		tb.t.Errorf("teardown: %v", err)
	}
	os.Remove(tb.state)
}

// fiState is what a state file records.
type fiState struct {
	owner            int
	nss, links       []string
	procs            []int
	mounts           []string
	loopDev, loopImg string
}

func readFiState(path string) (fiState, error) {
	var st fiState
	data, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "owner":
			st.owner, _ = strconv.Atoi(f[1])
		case "ns":
			st.nss = append(st.nss, f[1])
		case "link":
			st.links = append(st.links, f[1])
		case "proc":
			pid, _ := strconv.Atoi(f[1])
			st.procs = append(st.procs, pid)
		case "mount":
			st.mounts = append(st.mounts, f[1])
		case "loop":
			if len(f) == 3 {
				st.loopDev, st.loopImg = f[1], f[2]
			}
		}
	}
	return st, nil
}

// cleanup kills every process in the run's namespaces and the recorded
// root-namespace processes (by pid), unmounts, detaches the loop device
// and deletes the namespaces (their iptables rules go with them), veths
// and bridge. It returns what it could not undo.
func (st fiState) cleanup() []error {
	var errs []error
	// Processes: everything inside the namespaces is ours.
	for round := 0; round < 3; round++ {
		var pids []int
		for _, ns := range st.nss {
			if _, err := os.Stat("/run/netns/" + ns); err != nil {
				continue
			}
			out, _ := cmdOut(10*time.Second, "ip", "netns", "pids", ns)
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					pids = append(pids, pid)
				}
			}
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			killTree(pid)
		}
	}
	for _, pid := range st.procs {
		if !alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), "moto_server") {
			continue // the pid was reused
		}
		killTree(pid)
	}
	for _, m := range st.mounts {
		if err := unmountAll(m); err != nil {
			errs = append(errs, err)
		}
	}
	if st.loopDev != "" {
		out, _ := cmdOut(10*time.Second, "losetup", "--list", "--noheadings", "--output", "BACK-FILE", st.loopDev)
		if strings.TrimSpace(out) == st.loopImg || strings.HasPrefix(strings.TrimSpace(out), st.loopImg+" ") {
			if _, err := cmdOut(15*time.Second, "losetup", "-d", st.loopDev); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, ns := range st.nss {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if _, err := cmdOut(15*time.Second, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range st.links {
		if _, err := os.Stat("/sys/class/net/" + l); err != nil {
			continue
		}
		// A veth goes with its peer's namespace, asynchronously: it may
		// vanish between the check above and the delete. Gone is the goal.
		if _, err := cmdOut(15*time.Second, "ip", "link", "del", l); err != nil {
			if _, serr := os.Stat("/sys/class/net/" + l); serr == nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// sweepStale cleans up after runs whose test binary is gone (killed by a
// -timeout panic or a signal, so its t.Cleanup never ran).
func sweepStale(t *testing.T) {
	ents, err := os.ReadDir(fiStateDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		path := filepath.Join(fiStateDir, e.Name())
		st, err := readFiState(path)
		if err != nil {
			continue
		}
		if st.owner > 0 && alive(st.owner) {
			continue // a live run (maybe another test binary's)
		}
		errs := st.cleanup()
		for _, err := range errs {
			t.Logf("stale run %s: %v", e.Name(), err)
		}
		if len(errs) == 0 {
			os.Remove(path)
		}
		t.Logf("swept the leftovers of stale run %s (test binary pid %d gone)", e.Name(), st.owner)
	}
}

// nsPids lists the processes inside a member's namespace.
func (tb *testbed) nsPids(id string) []int {
	out, _ := cmdOut(10*time.Second, "ip", "netns", "pids", tb.nsName(id))
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signalPid sends sig to pid, ignoring a pid that is gone.
func signalPid(pid int, sig syscall.Signal) {
	if pid > 0 {
		_ = syscall.Kill(pid, sig)
	}
}
