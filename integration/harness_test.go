package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/resources/aws/motoserver"
)

// ---------------------------------------------------------------------------
// The raftha binary, built once per test run.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// rafthaBinary builds ./cmd/raftha from the module root into a directory
// that lives for the whole run (TestMain removes it).
func rafthaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "raftha-integration-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "raftha")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/raftha")
		cmd.Dir = root
		cmd.WaitDelay = 5 * time.Second
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/raftha in %s: %v\n%s", root, err, out)
			return
		}
		buildBin = bin
		fmt.Fprintf(os.Stderr, "integration: built %s in %s\n", bin, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func cleanupBuild() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the go.mod of github.com/raftha/raftha.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 16; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			first, _, _ := strings.Cut(string(data), "\n")
			if strings.TrimSpace(first) == "module github.com/raftha/raftha" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no go.mod of github.com/raftha/raftha above the working directory")
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ---------------------------------------------------------------------------
// Timing profiles.

type timing struct {
	heartbeat, lease, failover time.Duration
}

// fastTiming is the in-process tests' profile: still tolerant of a loaded
// 2-core machine.
var fastTiming = timing{heartbeat: 100 * time.Millisecond, lease: 600 * time.Millisecond, failover: 1200 * time.Millisecond}

// ---------------------------------------------------------------------------
// The cluster: three agent processes, moto, and a hypervisor.

type member struct {
	id, role string
	raftPort int
	apiPort  int
	instance string
	cfgFile  string
	logFile  string

	cmd    *exec.Cmd
	done   chan struct{} // closed when the agent process has been reaped
	paused atomic.Bool

	// Set by the hypervisor when the member's instance stopped.
	powerMu sync.Mutex
	offAt   time.Time
	offPIDs []int
	offWhy  string
}

func (m *member) exited() bool {
	if m.done == nil {
		return true
	}
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// poweredOff returns when the hypervisor stopped m's "VM" (zero if never)
// and which processes it killed.
func (m *member) poweredOff() (time.Time, []int, string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	return m.offAt, m.offPIDs, m.offWhy
}

type cluster struct {
	t       *testing.T
	bin     string
	dir     string
	tlsDir  string
	timing  timing
	moto    *motoserver.Server
	ec2     *ec2.Client
	proxy   *httptest.Server
	members []*member
	rec     string // recorder file

	hvCancel context.CancelFunc
	hvDone   chan struct{}

	logMu sync.Mutex
	hvLog []string
}

// newCluster writes a CA and certificates (with the raftha binary), starts
// moto with one instance per member, the hypervisor, and three agents
// (n1, n2 nodes; w1 witness) on loopback with aws-stop fencing.
func newCluster(t *testing.T, tm timing) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: rafthaBinary(t), dir: t.TempDir(), timing: tm}
	c.tlsDir = filepath.Join(c.dir, "tls")
	c.rec = filepath.Join(c.dir, "rec")

	c.run(30*time.Second, "tls", "ca", "create", "--dir", c.tlsDir)
	for _, name := range []string{"n1", "n2", "w1"} {
		c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--member", name, "--ip", "127.0.0.1")
	}
	c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--operator", "operator", "--ip", "127.0.0.1")

	c.moto = motoserver.Start(t) // fails (not skips) when moto_server is missing
	c.ec2 = ec2.NewFromConfig(c.moto.Config(t))
	// Tagged raftha:node=ID: a fence verifies the instance is the node's.
	inst := c.moto.RunNodeInstances(t, "n1", "n2", "w1")

	// Everything below is torn down by this one cleanup, before moto stops
	// (cleanups run last-registered first).
	t.Cleanup(c.teardown)

	c.startHypervisor()

	ports := freePorts(t, 6)
	for i, id := range []string{"n1", "n2", "w1"} {
		role := "node"
		if strings.HasPrefix(id, "w") {
			role = "witness"
		}
		c.members = append(c.members, &member{id: id, role: role, raftPort: ports[2*i], apiPort: ports[2*i+1], instance: inst[i],
			cfgFile: filepath.Join(c.dir, id+".yaml"), logFile: filepath.Join(c.dir, id+".log")})
	}
	for _, m := range c.members {
		c.writeConfig(m)
	}
	for _, m := range c.members {
		c.start(m)
	}
	return c
}

func (c *cluster) writeConfig(m *member) {
	var ms strings.Builder
	for _, o := range c.members {
		fmt.Fprintf(&ms, "  - {id: %s, address: 127.0.0.1:%d, role: %s}\n", o.id, o.raftPort, o.role)
	}
	cfg := fmt.Sprintf(`# raftha integration test member %[1]s (generated)
node_id: %[1]s
role: %[2]s
data_dir: data/%[1]s
bind: 127.0.0.1:%[3]d
api: 127.0.0.1:%[4]d
tls:
  ca: tls/ca.pem
  cert: tls/%[1]s.pem
  key: tls/%[1]s-key.pem
members:
%[5]saws:
  region: %[6]s
  # the hypervisor's EC2 front: it powers a member off when its instance
  # is stopped, then forwards to moto_server
  endpoint: %[7]s
  instance_id: %[8]s
  call_timeout: 5s
timing:
  heartbeat: %[9]s
  lease: %[10]s
  failover_timeout: %[11]s
fencing:
  mode: aws-stop
  stop_deadline: 1s
  stop_timeout: 20s
  self_fence_action: none
log_level: info
`, m.id, m.role, m.raftPort, m.apiPort, ms.String(), motoserver.Region, c.proxy.URL, m.instance,
		c.timing.heartbeat, c.timing.lease, c.timing.failover)
	if err := os.WriteFile(m.cfgFile, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// cleanEnv is this process's environment without AWS and raftha settings,
// so nothing from the developer's shell leaks into the children.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "RAFTHA_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// start runs `raftha agent --config F` in its own process group, logging
// to the member's log file.
func (c *cluster) start(m *member) {
	c.t.Helper()
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(c.bin, "agent", "--config", m.cfgFile)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(cleanEnv(),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true", "AWS_REGION="+motoserver.Region)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start agent %s: %v", m.id, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	m.cmd, m.done = cmd, done
}

func (c *cluster) member(id string) *member {
	for _, m := range c.members {
		if m.id == id {
			return m
		}
	}
	c.t.Fatalf("no member %s", id)
	return nil
}

func (c *cluster) byInstance(id string) *member {
	for _, m := range c.members {
		if m.instance == id {
			return m
		}
	}
	return nil
}

// crash kills m's agent and every process it started, as a dead host
// would lose them. It returns the pids killed.
func (c *cluster) crash(m *member) []int {
	if m.exited() {
		return nil
	}
	pids := killTree(m.cmd.Process.Pid)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		c.t.Errorf("agent %s (pid %d) not reaped 5s after SIGKILL", m.id, m.cmd.Process.Pid)
	}
	return pids
}

// pause stops m's agent process only (SIGSTOP): its resources keep running.
func (c *cluster) pause(m *member) {
	c.t.Helper()
	if m.exited() {
		c.t.Fatalf("pause %s: agent not running", m.id)
	}
	m.paused.Store(true)
	if err := syscall.Kill(m.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		c.t.Fatalf("SIGSTOP %s: %v", m.id, err)
	}
}

// resume continues a paused agent; harmless if it has died meanwhile.
func (c *cluster) resume(m *member) {
	if m.paused.Swap(false) && !m.exited() {
		_ = syscall.Kill(m.cmd.Process.Pid, syscall.SIGCONT)
	}
}

// teardown kills every process this test started (by pid, with
// descendants), stops the hypervisor and its EC2 front, and shows the
// members' logs when the test failed. moto stops after it.
func (c *cluster) teardown() {
	if c.hvCancel != nil {
		c.hvCancel()
		select {
		case <-c.hvDone:
		case <-time.After(5 * time.Second):
			c.t.Errorf("hypervisor did not stop")
		}
	}
	for _, m := range c.members {
		c.resume(m)
		c.crash(m)
	}
	c.killStrayRecorders()
	if c.proxy != nil {
		c.proxy.Close()
	}
	c.logMu.Lock()
	for _, l := range c.hvLog {
		c.t.Log(l)
	}
	c.logMu.Unlock()
	if c.t.Failed() {
		for _, m := range c.members {
			data, _ := os.ReadFile(m.logFile)
			out := string(data)
			if len(out) > 12000 {
				out = "…" + out[len(out)-12000:]
			}
			c.t.Logf("---- log of %s (tail) ----\n%s", m.id, out)
		}
		if life := readLife(c.t, c.rec); len(life) > 0 {
			c.t.Logf("recorder lives: %s", describeLife(life))
		}
		c.t.Logf("recorder intervals: %s", describeIntervals(readIntervals(c.t, c.rec)))
	}
}

// killStrayRecorders kills recorders whose agent died before them (they
// are no longer its descendants): the pids their life file names, if the
// process there still runs this test binary.
func (c *cluster) killStrayRecorders() {
	self, err := os.Executable()
	if err != nil {
		return
	}
	for _, e := range readLife(c.t, c.rec) {
		if e.What != "start" || !alive(e.PID) {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", e.PID))
		if err != nil || exe != self {
			continue
		}
		_ = syscall.Kill(e.PID, syscall.SIGKILL)
		c.hvf("teardown: killed stray recorder pid %d (%s@%d)", e.PID, e.Node, e.Epoch)
	}
}

func (c *cluster) hvf(format string, args ...any) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	c.hvLog = append(c.hvLog, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// ---------------------------------------------------------------------------
// The hypervisor: a stopped instance is a dead VM.

// startHypervisor starts the EC2 front the agents use as aws.endpoint and
// the poller. Members are powered off (agent and all its descendants
// SIGKILLed) when:
//
//   - a StopInstances request for their instance reaches the front: the VM
//     dies before the request is forwarded to moto, so by the time EC2 can
//     report "stopping" or "stopped" nothing of it runs any more (a real
//     forced stop never reports stopped for a VM that still executes);
//   - the poller sees the instance stopped or terminated in moto
//     (DescribeInstances every 50ms), whatever stopped it.
//
// Polling alone would let a fenced member run for up to a poll interval
// after EC2 said stopped, long enough for the winner to start: a test
// artefact that a real hypervisor does not have.
func (c *cluster) startHypervisor() {
	target, err := url.Parse(c.moto.Endpoint)
	if err != nil {
		c.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	c.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if q, err := url.ParseQuery(string(body)); err == nil && q.Get("DryRun") == "true" {
			answerDryRun(w) // the permission preflight: no stop, nothing forwarded
			return
		}
		if q, err := url.ParseQuery(string(body)); err == nil && q.Get("Action") == "StopInstances" {
			var ids []string
			for k, vs := range q {
				if strings.HasPrefix(k, "InstanceId.") {
					ids = append(ids, vs...)
				}
			}
			sort.Strings(ids)
			for _, id := range ids {
				if m := c.byInstance(id); m != nil {
					c.powerOff(m, "StopInstances "+id)
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))

	ctx, cancel := context.WithCancel(context.Background())
	c.hvCancel, c.hvDone = cancel, make(chan struct{})
	go func() {
		defer close(c.hvDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		// Bounded: 20 polls a second for at most 10 minutes.
		for i := 0; i < 20*600; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var ids []string
			for _, m := range c.members {
				ids = append(ids, m.instance)
			}
			if len(ids) < 3 {
				continue // members not written yet
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			out, err := c.ec2.DescribeInstances(cctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
			ccancel()
			if err != nil {
				continue
			}
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					if in.InstanceId == nil || in.State == nil {
						continue
					}
					if st := string(in.State.Name); st == "stopped" || st == "terminated" {
						if m := c.byInstance(*in.InstanceId); m != nil {
							c.powerOff(m, "DescribeInstances: "+st)
						}
					}
				}
			}
		}
	}()
}

// powerOff kills m's agent and all its descendants once, and records when.
func (c *cluster) powerOff(m *member, why string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	if !m.offAt.IsZero() {
		return
	}
	pids := c.crash(m)
	m.offAt, m.offPIDs, m.offWhy = time.Now(), pids, why
	c.hvf("hypervisor: %s (%s) powered off on %s: killed pids %v", m.id, m.instance, why, pids)
}

// ---------------------------------------------------------------------------
// Processes, by pid, through /proc.

// procParents maps every pid to its parent pid.
func procParents() map[int]int {
	out := map[int]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		out[pid] = ppid
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	st := s[i+2]
	return st != 'Z' && st != 'X'
}

// killTree SIGKILLs root and all its descendants. It freezes each process
// (SIGSTOP) before looking for its children, so nothing forks away while
// the tree is collected, then kills them all and waits (bounded) until
// none runs. Process groups do not help: raftha starts run commands in
// their own group.
func killTree(root int) []int {
	if !alive(root) {
		return nil
	}
	_ = syscall.Kill(root, syscall.SIGSTOP)
	tree := map[int]bool{root: true}
	for round := 0; round < 50; round++ {
		added := false
		for pid, ppid := range procParents() {
			if tree[ppid] && !tree[pid] {
				tree[pid] = true
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				added = true
			}
		}
		if !added {
			break
		}
	}
	var pids []int
	for pid := range tree {
		pids = append(pids, pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	sort.Ints(pids)
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return pids
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// ---------------------------------------------------------------------------
// The CLI.

// run executes the raftha binary with args (no API client settings) and
// fails the test on error.
func (c *cluster) run(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.exec(nil, timeout, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// exec runs the raftha binary; with api set, as an operator client of
// that member's API.
func (c *cluster) exec(api *member, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = cleanEnv()
	if api != nil {
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("RAFTHA_API=https://127.0.0.1:%d", api.apiPort),
			"RAFTHA_CA_CERT="+filepath.Join(c.tlsDir, "ca.pem"),
			"RAFTHA_CLIENT_CERT="+filepath.Join(c.tlsDir, "operator.pem"),
			"RAFTHA_CLIENT_KEY="+filepath.Join(c.tlsDir, "operator-key.pem"))
	}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("raftha %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// statusView is the part of `raftha status --json` the tests read.
type statusView struct {
	Leader      string `json:"leader"`
	Term        uint64 `json:"term"`
	AnsweredBy  string `json:"answered_by"`
	Stale       bool   `json:"stale"`
	StaleReason string `json:"stale_reason"`
	Members     []struct {
		ID      string `json:"id"`
		Role    string `json:"role"`
		State   string `json:"state"`
		Healthy bool   `json:"healthy"`
	} `json:"members"`
	Groups []groupView `json:"groups"`
	Events []eventView `json:"events"`
}

type groupView struct {
	Name   string `json:"name"`
	Owner  string `json:"owner"`
	Epoch  uint64 `json:"epoch"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

type eventView struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Group  string    `json:"group"`
	Node   string    `json:"node"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Epoch  uint64    `json:"epoch"`
	Cause  string    `json:"cause"`
	Reason string    `json:"reason"`
}

func (s *statusView) group(name string) (groupView, bool) {
	for _, g := range s.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return groupView{}, false
}

// events returns the group's events in log order.
func (s *statusView) events(group string) []eventView {
	var out []eventView
	for _, e := range s.Events {
		if e.Group == group {
			out = append(out, e)
		}
	}
	return out
}

func kinds(evs []eventView) string {
	var k []string
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

// status asks the running, unpaused members in turn for `raftha status
// --json` and returns the first answer that came from a ready leader.
func (c *cluster) status() (*statusView, error) {
	err := fmt.Errorf("no member to ask")
	for _, m := range c.members {
		if m.exited() || m.paused.Load() {
			continue
		}
		out, e := c.exec(m, 5*time.Second, "status", "--json")
		if e != nil {
			err = e
			continue
		}
		var st statusView
		if e := json.Unmarshal([]byte(out), &st); e != nil {
			err = fmt.Errorf("status --json from %s: %v: %q", m.id, e, out)
			continue
		}
		if st.Stale {
			err = fmt.Errorf("stale status from %s: %s", m.id, st.StaleReason)
			continue
		}
		return &st, nil
	}
	return nil, err
}

// waitStatus polls the status every 100ms until cond holds, for at most d.
func (c *cluster) waitStatus(d time.Duration, what string, cond func(*statusView) bool) *statusView {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last *statusView
	var lastErr error
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		st, err := c.status()
		if err == nil {
			last, lastErr = st, nil
			if cond(st) {
				return st
			}
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		b, _ := json.MarshalIndent(struct {
			Leader string
			Groups []groupView
			Events string
		}{last.Leader, last.Groups, kinds(last.events("db"))}, "", " ")
		c.t.Fatalf("timed out after %s waiting for %s; last status: %s; last error: %v", d, what, b, lastErr)
	}
	c.t.Fatalf("timed out after %s waiting for %s; last error: %v", d, what, lastErr)
	return nil
}

// waitFor polls cond every 20ms until it holds, for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// ---------------------------------------------------------------------------
// Scenario setup.

// setup waits for a node to lead with every member healthy, applies the
// recorder group with the other node first (so the owner is a follower
// and losing it does not cost an election too), and waits until it is
// online there with its recorder running. It returns the owner, the other
// node and the group as the leader has it.
func (c *cluster) setup() (owner, other *member, g groupView) {
	c.t.Helper()
	st := c.waitStatus(45*time.Second, "a node leading with every member healthy", func(st *statusView) bool {
		if st.Leader != "n1" && st.Leader != "n2" {
			return false // a witness leader hands leadership to a node
		}
		healthy := 0
		for _, m := range st.Members {
			if m.Healthy {
				healthy++
			}
		}
		return healthy == len(c.members)
	})
	leader := c.member(st.Leader)
	other = leader
	owner = c.member(map[string]string{"n1": "n2", "n2": "n1"}[leader.id])

	file := filepath.Join(c.dir, "groups.yaml")
	if err := os.WriteFile(file, []byte(recorderGroup(c.t, c.rec, owner.id, other.id)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	var applyErr error
	waitFor(c.t, 20*time.Second, "group apply to succeed", func() bool {
		_, applyErr = c.exec(leader, 15*time.Second, "group", "apply", "-f", file)
		if applyErr != nil {
			time.Sleep(200 * time.Millisecond)
		}
		return applyErr == nil
	})
	st = c.waitStatus(30*time.Second, "group db online on "+owner.id, func(st *statusView) bool {
		g, ok := st.group("db")
		return ok && g.State == "online" && g.Owner == owner.id
	})
	g, _ = st.group("db")
	waitFor(c.t, 10*time.Second, "recorder running on "+owner.id, func() bool {
		ivs := readIntervals(c.t, c.rec)
		return len(ivs) == 1 && ivs[0].Node == owner.id && ivs[0].N >= 5
	})
	if st.Leader != leader.id {
		c.t.Logf("note: leadership moved from %s to %s during setup", leader.id, st.Leader)
	}
	c.t.Logf("setup: leader %s, group db online on %s at epoch %d", st.Leader, owner.id, g.Epoch)
	return owner, other, g
}

// instanceState is the instance's state name in moto.
func (c *cluster) instanceState(m *member) string {
	c.t.Helper()
	return c.moto.State(c.t, m.instance)
}

// agentLog returns the member's log file.
func (c *cluster) agentLog(m *member) string {
	data, err := os.ReadFile(m.logFile)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(data)
}
