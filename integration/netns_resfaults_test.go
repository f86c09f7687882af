package integration

// Resource-level faults (the third kind DESIGN.md names) for the fault
// suite. A cluster made with withResFaults runs the group with one more
// resource, ctl: an exec resource whose start and stop scripts read a
// per-node control file the test writes (fault.NODE in the run's
// directory) and then misbehave on purpose:
//
//	start-fail-after-effect  start the sidecar (the side effect), exit 1
//	start-hang               start the sidecar, then sleep fiHang
//	stop-fail                exit 1, leaving the sidecar running
//	stop-hang                sleep fiHang before stopping the sidecar
//
// The sidecar is this test binary (RAFTHA_FI_SIDECAR): a daemon, as a
// start script would leave one, with its working directory on the shared
// disk, appending "node epoch seq mono" to side.log there every 10ms; so a
// sidecar that outlives a failed start or stop keeps the mount busy and
// shows on the disk (checkSideLog). In that cluster the disk resource does
// not kill the processes that hold the mount (force_unmount false, the
// product's default): a stop that cannot unmount fails. Members self-fence
// with poweroff through a sysrq file the test watches (and powers the
// member off as a hypervisor would), in both fencing modes.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Control-file words of the ctl resource.
const (
	faultStartFail = "start-fail-after-effect"
	faultStartHang = "start-hang"
	faultStopFail  = "stop-fail"
	faultStopHang  = "stop-hang"
)

// fiHang is how long a hanging ctl script sleeps: past the lease, the
// failover timeout and the lease-only wait, inside ctl's timeout.
const (
	fiHang       = 6 * time.Second
	fiCtlTimeout = "8s"
)

// fiSideMaxLife bounds a sidecar or holder process that nobody stops.
const fiSideMaxLife = 5 * time.Minute

// withResFaults is the newFCluster option of the resource-fault scenarios.
func withResFaults(c *fcluster) { c.resFaults = true }

// withSnapshots makes every agent snapshot its Raft log within a second
// and keep only two entries after it (server/raft_testknobs.go).
func withSnapshots(c *fcluster) {
	c.agentEnv = append(c.agentEnv, "RAFTHA_TEST_SNAPSHOT_THRESHOLD=2", "RAFTHA_TEST_SNAPSHOT_INTERVAL=200ms", "RAFTHA_TEST_TRAILING_LOGS=2")
}

func (c *fcluster) sysrqFile(m *member) string { return filepath.Join(c.dir, "sysrq."+m.id) }
func (c *fcluster) faultFile(m *member) string { return filepath.Join(c.dir, "fault."+m.id) }
func (c *fcluster) hangFile(m *member) string  { return filepath.Join(c.dir, "hang."+m.id) }

// selfFenceYAML is the fencing section's self-fence lines for m.
func (c *fcluster) selfFenceYAML(m *member) string {
	// These kernels have no softdog: a lease-only node runs without a
	// watchdog, which it must say explicitly.
	wd := ""
	if c.fencing == "lease-only" {
		wd = "  watchdog: none\n"
	}
	if !c.resFaults {
		return wd + "  self_fence_action: none\n"
	}
	return wd + fmt.Sprintf("  self_fence_action: poweroff\n  sysrq_trigger: %s\n", c.sysrqFile(m))
}

// ctlScriptHead is shared by ctl's scripts: the control word and the
// sidecar's pid file, and is_side, which tells a live sidecar from a
// reused pid.
const ctlScriptHead = `d=$RAFTHA_FI_DIR; n=$RAFTHA_NODE
mode=$(cat "$d/fault.$n" 2>/dev/null)
pidf=$d/side.$n.pid
is_side() { [ -n "$1" ] && tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | grep -qx RAFTHA_FI_SIDECAR=1; }
stop_side() {
  p=$(cat "$pidf" 2>/dev/null)
  if is_side "$p"; then
    kill -TERM "$p" 2>/dev/null
    i=0; while is_side "$p" && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
    is_side "$p" && kill -KILL "$p" 2>/dev/null
  fi
  rm -f "$pidf"
}
`

const ctlStart = ctlScriptHead + `stop_side
cd "$RAFTHA_FI_MOUNT" || exit 1
RAFTHA_FI_SIDECAR=1 RAFTHA_FI_PIDFILE="$pidf" setsid "$RAFTHA_FI_BIN" </dev/null >>"$d/side.$n.out" 2>&1 &
i=0; while [ ! -s "$pidf" ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done
[ -s "$pidf" ] || { echo "sidecar did not start" >&2; exit 1; }
case "$mode" in
start-fail-after-effect) echo "fault injected: start fails after its side effect" >&2; exit 1 ;;
start-hang) echo "start $RAFTHA_EPOCH" > "$d/hang.$n"; exec sleep "$RAFTHA_FI_HANG" ;;
esac
exit 0
`

const ctlStop = ctlScriptHead + `case "$mode" in
stop-fail) echo "fault injected: stop fails" >&2; exit 1 ;;
stop-hang) echo "stop $RAFTHA_EPOCH" > "$d/hang.$n"; sleep "$RAFTHA_FI_HANG" ;;
esac
stop_side
exit 0
`

// ctlYAML is the ctl resource, last in the group.
func (c *fcluster) ctlYAML(self string) string {
	return fmt.Sprintf(`      - name: ctl
        type: exec
        start: %q
        stop: %q
        timeout: %s
        env:
          RAFTHA_FI_DIR: %s
          RAFTHA_FI_BIN: %q
          RAFTHA_FI_SIDELOG: %s
          RAFTHA_FI_MOUNT: %s
          RAFTHA_FI_HANG: "%d"
`, ctlStart, ctlStop, fiCtlTimeout, c.dir, self, c.sideLog, c.mountPoint, int(fiHang/time.Second))
}

// setFault writes m's control word ("" clears it).
func (c *fcluster) setFault(m *member, word string) {
	c.t.Helper()
	if err := os.WriteFile(c.faultFile(m), []byte(word), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if word != "" {
		c.note("fault armed: ctl on %s will %s", m.id, word)
	}
}

// waitHang waits until a ctl script on m reports it is hanging.
func (c *fcluster) waitHang(m *member, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		if data, err := os.ReadFile(c.hangFile(m)); err == nil && len(data) > 0 {
			c.note("ctl on %s hangs (%s)", m.id, strings.TrimSpace(string(data)))
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.failure("ctl on %s never reported hanging within %s", m.id, d)
	return false
}

// startSysrqWatcher plays the hardware behind each member's sysrq file:
// a write to it (self_fence_action poweroff or reboot) powers the member
// off at once, as the hypervisor does on StopInstances.
func (c *fcluster) startSysrqWatcher() {
	for _, m := range c.members {
		if err := os.WriteFile(c.sysrqFile(m), nil, 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 20*60*50; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, m := range c.members {
				data, err := os.ReadFile(c.sysrqFile(m))
				if err != nil || len(data) == 0 {
					continue
				}
				_ = os.WriteFile(c.sysrqFile(m), nil, 0o600)
				c.powerOff(m, fmt.Sprintf("self-fence sysrq %q", data))
			}
		}
	}()
	c.tb.onTeardown(func() {
		cancel()
		<-done
	})
}

// killAgent SIGKILLs m's agent process only: its resources' processes
// (daemons, a start script in progress) live on, as after an agent crash
// on a host that stays up.
func (c *fcluster) killAgent(m *member) int {
	pid := m.pid()
	if pid == 0 || m.exited() {
		return 0
	}
	signalPid(pid, syscall.SIGKILL)
	if !c.waitExit(m, 5*time.Second) {
		c.t.Errorf("agent %s (pid %d) not reaped 5s after SIGKILL", m.id, pid)
	}
	return pid
}

// restartAgent starts m's agent again on the same "host": in the mount
// namespace of a surviving process of m that has the shared disk mounted
// (else of any survivor; else a fresh one, as start does).
//
// It reports whether it restarted the agent (false: the host was off).
func (c *fcluster) restartAgent(m *member) bool {
	c.t.Helper()
	// A host the hypervisor powered off (its instance stopped by a fence)
	// stays down: nothing runs there until its instance is started again,
	// which these scenarios do not do. Restarting the agent on it would
	// model a host that runs while EC2 says it is stopped.
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	if m.offMono != 0 {
		c.note("not restarting %s's agent: its host was powered off (%s)", m.id, m.offWhy)
		return false
	}
	pick := 0
	for _, pid := range c.tb.nsPids(m.id) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			continue
		}
		if pick == 0 {
			pick = pid
		}
		if strings.Contains(string(data), " "+c.mountPoint+" ") {
			pick = pid
			break
		}
	}
	c.startIn(m, pick)
	c.note("restarted %s's agent (in the mount namespace of pid %d; 0: a fresh one)", m.id, pick)
	return true
}

// holdMount starts, in the mount namespace of m's agent, a process with
// its working directory on the shared disk and a file there open: the
// disk cannot be unmounted while it lives (bounded: fiSideMaxLife).
func (c *fcluster) holdMount(m *member) {
	c.t.Helper()
	pid := m.pid()
	script := fmt.Sprintf("cd %q && exec 3>>%q && exec sleep %d", c.mountPoint, filepath.Join(c.mountPoint, "held."+m.id), int(fiSideMaxLife/time.Second))
	if _, err := cmdOut(10*time.Second, "nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", pid), fmt.Sprintf("--net=/proc/%d/ns/net", pid), "--",
		"sh", "-c", script+" >/dev/null 2>&1 </dev/null &"); err != nil {
		c.t.Fatalf("hold the shared disk on %s: %v", m.id, err)
	}
	c.note("fault: a process holds a file open on %s's mount of the shared disk", m.id)
}

// transferAsync runs `raftha ownership transfer db --to to` in the
// background through another member's API.
func (c *fcluster) transferAsync(to *member) <-chan error {
	via := c.otherNode(to)
	ch := make(chan error, 1)
	go func() {
		out, err := c.cli(via, 30*time.Second, "ownership", "transfer", "db", "--to", to.id, "--timeout", "25s")
		if err == nil && !strings.Contains(out, "online on "+to.id) {
			err = fmt.Errorf("unexpected output %q", strings.TrimSpace(out))
		}
		ch <- err
	}()
	return ch
}

// logSince returns m's agent log written since the last agent start.
func (c *fcluster) logSince(m *member) string {
	data, _ := os.ReadFile(m.logFile)
	s := string(data)
	if i := strings.LastIndex(s, agentStartMark); i >= 0 {
		s = s[i:]
	}
	return s
}

// waitLog waits until m's current agent log contains what.
func (c *fcluster) waitLog(m *member, d time.Duration, what string) bool {
	deadline := time.Now().Add(d)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		if strings.Contains(c.logSince(m), what) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// checkSideLog: sidecars exclude each other on the disk (checkLog on
// side.log), none writes after an application of a newer epoch on
// another node began writing (a side effect left running after a failed
// start or stop), and the last sidecar is the owner's.
func (c *fcluster) checkSideLog(app []logLine, g groupView, online bool) {
	lines, bad, err := readAppLog(c.sideLog)
	if err != nil {
		c.failure("read the sidecar log: %v", err)
		return
	}
	if bad > 1 {
		c.violation("%d malformed lines in the sidecar log", bad)
	}
	for _, v := range checkLog(lines) {
		c.violation("sidecar log: %s", v)
	}
	sbs, abs := blocksOf(lines), blocksOf(app)
	c.note("sidecar log: %d lines, blocks %s", len(lines), describeBlocks(sbs, c.t0))
	reported := map[string]bool{}
	for _, s := range sbs {
		for _, a := range abs {
			if a.node == s.node || a.epoch <= s.epoch || s.last <= a.first || reported[s.key()] {
				continue
			}
			reported[s.key()] = true
			c.violation("the sidecar of %s (ctl's side effect) still wrote on the shared disk at +%.3fs, after %s's application began writing at +%.3fs", s.key(), float64(s.last-c.t0)/1e9, a.key(), float64(a.first-c.t0)/1e9)
		}
	}
	if online && len(sbs) > 0 {
		if last := sbs[len(sbs)-1]; last.node != g.Owner || last.epoch != g.Epoch {
			c.violation("the last sidecar on the disk is %s but the log says %s@%d owns db", last.key(), g.Owner, g.Epoch)
		}
	}
}

// runFaultSidecar is the sidecar (RAFTHA_FI_SIDECAR): it appends
// "node epoch seq mono" to RAFTHA_FI_SIDELOG every 10ms, writing its pid
// to RAFTHA_FI_PIDFILE once its first line is on the disk, until SIGTERM
// (bounded by fiSideMaxLife).
func runFaultSidecar() {
	node, epoch := os.Getenv("RAFTHA_NODE"), os.Getenv("RAFTHA_EPOCH")
	f, err := os.OpenFile(os.Getenv("RAFTHA_FI_SIDELOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sidecar: %v\n", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	seq := 0
	write := func() {
		if _, err := fmt.Fprintf(f, "%s %s %d %d\n", node, epoch, seq, monoNow()); err != nil {
			os.Exit(1)
		}
		seq++
	}
	write()
	if pf := os.Getenv("RAFTHA_FI_PIDFILE"); pf != "" {
		tmp := pf + ".tmp"
		if os.WriteFile(tmp, []byte(fmt.Sprint(os.Getpid())), 0o644) != nil || os.Rename(tmp, pf) != nil {
			os.Exit(1)
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	end := time.After(fiSideMaxLife)
	for {
		select {
		case <-sig:
			f.Close()
			os.Exit(0)
		case <-end:
			os.Exit(3)
		case <-tick.C:
			write()
		}
	}
}
