package integration

// The one harness both fixtures build on: raftha agents as real processes
// (on loopback, or each in its member's network namespace), their
// configs, start, crash, pause, power-off by the hypervisor and teardown.
// The loopback fixture (cluster, loopback_cluster_test.go) and the
// namespace fixture (fcluster, netns_cluster_test.go) embed a harness and
// fill in its settings and hooks.

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftha/raftha/resources/aws/motoserver"
)

// agentStartMark begins the line the harness writes to a member's log
// before each start of its agent.
const agentStartMark = "==== harness: agent start"

// member is one agent: its address (and namespace), instance and process.
type member struct {
	id, role string
	ns       string // network namespace; "" on loopback
	ip       string // the address raft, the API and the application use

	raftPort, apiPort int

	instance, eni, privIP string

	cfgFile, logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the agent process has been reaped

	paused   atomic.Bool
	linkDown atomic.Bool
	cut      atomic.Bool // partitioned from its peers

	// Set by the hypervisor when the member's instance stopped.
	powerMu sync.Mutex
	offAt   time.Time // zero while powered on
	offMono int64     // the same moment on monoNow's clock; 0 while on
	offWhy  string
	offPIDs []int
}

// exited reports whether m's agent is not running (never started, or
// reaped).
func (m *member) exited() bool { return m.waitExit(0) }

// waitExit waits at most d for m's agent to exit; it reports false when
// the agent still runs.
func (m *member) waitExit(d time.Duration) bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return true
	}
	if d <= 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (m *member) pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// poweredOff returns when the hypervisor stopped m's "VM" (zero if never)
// and which processes it killed.
func (m *member) poweredOff() (time.Time, []int, string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	return m.offAt, m.offPIDs, m.offWhy
}

// offSince returns when (monoNow) m was powered off, 0 if never.
func (m *member) offSince() (int64, string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	return m.offMono, m.offWhy
}

// harness is a cluster of agent processes: what both fixtures share.
type harness struct {
	t       *testing.T
	bin     string
	dir     string // the agents' working directory: configs, data, tls
	tlsDir  string
	timing  timing
	members []*member
	hv      *hypervisor // the agents' AWS endpoint

	fencing    string   // fencing.mode of every member: aws-stop (default) or lease-only
	agentArgs  []string // extra flags of `raftha agent`
	agentEnv   []string // extra environment of every agent
	statusArgs []string // extra flags of `raftha status --json`
	statusWait time.Duration

	// Hooks, each optional.
	selfFence func(m *member) string           // the end of the fencing section (default: self_fence_action: none)
	logf      func(format string, args ...any) // timeline notes (default: t.Logf)
	fail      func(format string, args ...any) // a wait that never held (default: t.Fatalf)
	orphans   func(m *member) []int            // processes of m's host its agent no longer parents
}

func (h *harness) notef(format string, args ...any) {
	if h.logf != nil {
		h.logf(format, args...)
		return
	}
	h.t.Logf(format, args...)
}

func (h *harness) failf(format string, args ...any) {
	h.t.Helper()
	if h.fail != nil {
		h.fail(format, args...)
		return
	}
	h.t.Fatalf(format, args...)
}

func (h *harness) member(id string) *member {
	for _, m := range h.members {
		if m.id == id {
			return m
		}
	}
	h.t.Fatalf("no member %s", id)
	return nil
}

func (h *harness) nodes() []*member {
	var out []*member
	for _, m := range h.members {
		if m.role == "node" {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) byInstance(id string) *member {
	for _, m := range h.members {
		if m.instance == id {
			return m
		}
	}
	return nil
}

// writeConfig writes m's agent config: every member, the hypervisor as
// the AWS endpoint, the timing profile and the fencing mode.
func (h *harness) writeConfig(m *member) {
	var ms strings.Builder
	for _, o := range h.members {
		fmt.Fprintf(&ms, "  - {id: %s, address: %s:%d, role: %s}\n", o.id, o.ip, o.raftPort, o.role)
	}
	fencing := h.fencing
	if fencing == "" {
		fencing = "aws-stop"
	}
	selfFence := "  self_fence_action: none\n"
	if h.selfFence != nil {
		selfFence = h.selfFence(m)
	}
	cfg := fmt.Sprintf(`# raftha test member %[1]s (generated)
node_id: %[1]s
role: %[2]s
data_dir: data/%[1]s
bind: %[3]s:%[4]d
api: %[3]s:%[5]d
tls:
  ca: tls/ca.pem
  cert: tls/%[1]s.pem
  key: tls/%[1]s-key.pem
members:
%[6]saws:
  region: %[7]s
  # the hypervisor's EC2 front: powers a member off when its instance is
  # stopped, may inject faults, forwards to moto_server
  endpoint: %[8]s
  instance_id: %[9]s
  call_timeout: 5s
timing:
  heartbeat: %[10]s
  lease: %[11]s
  failover_timeout: %[12]s
fencing:
  mode: %[13]s
  stop_deadline: 1s
  stop_timeout: 20s
%[14]slog_level: info
`, m.id, m.role, m.ip, m.raftPort, m.apiPort, ms.String(), motoserver.Region, h.hv.url, m.instance,
		h.timing.heartbeat, h.timing.lease, h.timing.failover, fencing, selfFence)
	if err := os.WriteFile(m.cfgFile, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// start runs `raftha agent --config F` in its own process group, logging
// to the member's log file. In a namespace fixture it runs under `ip netns
// exec`: in m's network namespace and, as on a host of its own, in a mount
// namespace of its own (ip netns exec makes one, a slave of the root one).
// A mount is then seen only by the member that made it, and goes away
// when every process of that member is gone, as with a host that is
// powered off.
func (h *harness) start(m *member) { h.startIn(m, 0) }

// startIn starts m's agent; with nsPid set, in the network and mount
// namespaces of that process (an agent restarted on a host that stayed
// up: it sees the mounts its predecessor left), else as start does.
func (h *harness) startIn(m *member, nsPid int) {
	h.t.Helper()
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "%s at mono %d\n", agentStartMark, monoNow())
	argv := append([]string{h.bin, "agent", "--config", m.cfgFile}, h.agentArgs...)
	switch {
	case nsPid > 0:
		argv = append([]string{"nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", nsPid), fmt.Sprintf("--net=/proc/%d/ns/net", nsPid), "--"}, argv...)
	case m.ns != "":
		argv = append([]string{"ip", "netns", "exec", m.ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = h.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(cleanEnv(),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true", "AWS_REGION="+motoserver.Region)
	cmd.Env = append(cmd.Env, h.agentEnv...)
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start agent %s: %v", m.id, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	m.paused.Store(false)
}

// crash SIGKILLs m's agent and every process it started, as a dead host
// would lose them. It returns the pids killed.
func (h *harness) crash(m *member) []int {
	pid := m.pid()
	if pid == 0 || m.exited() {
		return nil
	}
	pids := killTree(pid)
	if !m.waitExit(5 * time.Second) {
		h.t.Errorf("agent %s (pid %d) not reaped 5s after SIGKILL", m.id, pid)
	}
	return pids
}

// terminate sends SIGTERM to m's agent (a graceful stop).
func (h *harness) terminate(m *member) {
	if pid := m.pid(); pid != 0 && !m.exited() {
		signalPid(pid, syscall.SIGTERM)
	}
}

// waitExit waits at most d for m's agent to exit.
func (h *harness) waitExit(m *member, d time.Duration) bool { return m.waitExit(d) }

// pause SIGSTOPs m's agent only: its resources keep running. It reports
// false when the agent was not running.
func (h *harness) pause(m *member) bool {
	pid := m.pid()
	if pid == 0 || m.exited() {
		return false
	}
	m.paused.Store(true)
	signalPid(pid, syscall.SIGSTOP)
	return true
}

// resume continues a paused agent; harmless if it has died meanwhile.
func (h *harness) resume(m *member) {
	if m.paused.Swap(false) && !m.exited() {
		signalPid(m.pid(), syscall.SIGCONT)
	}
}

// powerOff is the hypervisor stopping m's VM: its agent, everything the
// agent started and (namespaces) every other process of its host die,
// once; it records when.
func (h *harness) powerOff(m *member, why string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	if !m.offAt.IsZero() {
		return
	}
	pids := h.crash(m)
	if h.orphans != nil {
		// Orphans of m (an application whose agent died first) die too.
		for _, pid := range h.orphans(m) {
			pids = append(pids, killTree(pid)...)
		}
	}
	m.offAt, m.offMono, m.offWhy, m.offPIDs = time.Now(), monoNow(), why, pids
	h.notef("hypervisor: %s (%s) powered off on %s: killed pids %v", m.id, m.instance, why, pids)
}

// killAgents kills every agent this harness started (by pid, with
// descendants) and what is left of their hosts.
func (h *harness) killAgents() {
	for _, m := range h.members {
		h.resume(m)
		h.crash(m)
	}
	if h.orphans == nil {
		return
	}
	for _, m := range h.members {
		for _, pid := range h.orphans(m) {
			killTree(pid)
		}
	}
}

// logTails logs the end (at most n bytes) of every member's log.
func (h *harness) logTails(n int) {
	for _, m := range h.members {
		data, _ := os.ReadFile(m.logFile)
		out := string(data)
		if len(out) > n {
			out = "…" + out[len(out)-n:]
		}
		h.t.Logf("---- log of %s (tail) ----\n%s", m.id, out)
	}
}

// agentLog returns the member's log file.
func (h *harness) agentLog(m *member) string {
	data, err := os.ReadFile(m.logFile)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}
