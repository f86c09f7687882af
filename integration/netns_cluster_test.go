package integration

// The fault suite's cluster: raftha agents as real processes, each in its
// member's network namespace (and a mount namespace of its own, as on a
// host of its own; the shared disk is one loop device every member sees),
// talking mTLS over the bridge;
// the CLI run from the root namespace against their API; and a prober that
// asks every node's address, many times a second, who serves the
// application.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftha/raftha/resources/aws/motoserver"
	"github.com/raftha/raftha/server"
)

const (
	fiRaftPort = 7000
	fiAPIPort  = 7443
	fiAppPort  = 8080
)

// nsMember is one member: its namespace, address, instance and process.
type nsMember struct {
	id, role string
	ns, ip   string

	instance, eni, privIP string

	cfgFile, logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	paused   atomic.Bool
	linkDown atomic.Bool
	cut      atomic.Bool // partitioned from its peers

	powerMu sync.Mutex
	offAt   int64 // mono; 0 while powered on
	offWhy  string
	offPIDs []int
}

func (m *nsMember) exited() bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (m *nsMember) pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

func (m *nsMember) poweredOff() (int64, string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	return m.offAt, m.offWhy
}

// ack is something the cluster acknowledged: a transfer the CLI reported
// done, or a group the leader reported online.
type ack struct {
	what  string
	node  string
	epoch uint64
}

// fcluster is one run: testbed, moto, hypervisor, agents, prober.
type fcluster struct {
	t      *testing.T
	tb     *testbed
	bin    string
	dir    string
	tlsDir string
	timing timing
	seed0  int64
	rng    *rand.Rand
	res    *runResult

	members []*nsMember
	aws     *awsWorld
	hv      *hypervisor

	withDisk  bool
	withDNS   bool
	fencing   string   // fencing.mode of every member: aws-stop (default) or lease-only
	resFaults bool     // the resource-fault group and config (netns_resfaults_test.go)
	agentEnv  []string // extra environment of every agent
	sideLog   string   // the sidecar's log on the shared disk (resFaults)
	diskMB    int      // size of the shared disk (default 64 MiB)
	// extraYAML, when set, returns resources appended to the group db
	// (netns_postgres_test.go: the PostgreSQL recipe's resources).
	extraYAML func() string
	// finishSettle bounds finish's wait for db to settle (default 45s); a
	// scenario that already waited in vain shortens it.
	finishSettle time.Duration
	diskDev      string
	mountPoint   string
	appLog       string // the application's log: on the shared disk
	appLife      string // its life notes (not on the shared disk)

	// diskLock partitions the shared disk (netns_disklock_test.go):
	// lockDev, its lock partition, is the disk resource's lock_device.
	diskLock bool
	lockDev  string

	prober *prober

	// collectOnly records violations and failures without failing the
	// test (the checker self-test expects them).
	collectOnly bool

	mu         sync.Mutex
	acks       []ack
	t0         int64
	whyFinal   []whyView // the history finish read
	finalLines []logLine // the disk log finish read

	wallMinusMono int64 // maps the agents' log timestamps to mono
}

// diskRegistered reports whether the `disk` resource type is built in.
func diskRegistered() bool {
	_, err := server.DefaultRegistry().Lookup("disk")
	return err == nil
}

// newFCluster builds the testbed for ids (n… nodes, w… witnesses), the
// shared disk, certificates, moto and the hypervisor, writes the member
// configs and starts every agent. opts adjust the cluster before any
// config is written.
func newFCluster(t *testing.T, ids []string, seed int64, res *runResult, opts ...func(*fcluster)) *fcluster {
	t.Helper()
	c := &fcluster{t: t, bin: rafthaBinary(t), timing: fastTiming, seed0: seed, rng: rand.New(rand.NewSource(seed)), res: res, t0: monoNow(), fencing: "aws-stop"}
	for _, o := range opts {
		o(c)
	}
	c.wallMinusMono = time.Now().UnixNano() - monoNow()
	c.tb = newTestbed(t, ids)
	c.dir = c.tb.dir
	c.tlsDir = filepath.Join(c.dir, "tls")
	c.withDNS = true
	for i, id := range ids {
		role := "node"
		if strings.HasPrefix(id, "w") {
			role = "witness"
		}
		c.members = append(c.members, &nsMember{id: id, role: role, ns: c.tb.nsName(id), ip: c.tb.addr(i),
			cfgFile: filepath.Join(c.dir, id+".yaml"), logFile: filepath.Join(c.dir, id+".log")})
	}

	c.mountPoint = filepath.Join(c.dir, "shared")
	if err := os.MkdirAll(c.mountPoint, 0o755); err != nil {
		t.Fatal(err)
	}
	c.appLog = filepath.Join(c.mountPoint, "app.log")
	c.sideLog = filepath.Join(c.mountPoint, "side.log")
	c.appLife = filepath.Join(c.dir, "app.life")
	if diskRegistered() {
		c.withDisk = true
		size := 64
		if c.diskMB > 0 {
			size = c.diskMB
		}
		c.diskDev, c.lockDev = c.tb.loopDisk(size, c.diskLock)
		c.tb.record("mount %s", c.mountPoint)
	}

	c.run(30*time.Second, "tls", "ca", "create", "--dir", c.tlsDir)
	for _, m := range c.members {
		c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--member", m.id, "--ip", m.ip)
	}
	c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--operator", "operator", "--ip", c.tb.gw)

	c.startMoto()
	c.startHypervisor()
	if c.resFaults {
		c.startSysrqWatcher()
	}
	// Agents die before the hypervisor stops and moto goes (hooks run
	// last registered first).
	c.tb.onTeardown(c.teardown)
	for _, m := range c.members {
		c.writeConfig(m)
	}
	for _, m := range c.members {
		c.start(m)
	}
	c.note("cluster %s up: members %s, disk %v (%s), moto %s, aws front %s", c.tb.rid, strings.Join(ids, ","), c.withDisk, c.diskDev, c.aws.endpoint, c.hv.url)
	return c
}

func (c *fcluster) member(id string) *nsMember {
	for _, m := range c.members {
		if m.id == id {
			return m
		}
	}
	c.t.Fatalf("no member %s", id)
	return nil
}

func (c *fcluster) nodes() []*nsMember {
	var out []*nsMember
	for _, m := range c.members {
		if m.role == "node" {
			out = append(out, m)
		}
	}
	return out
}

func (c *fcluster) byInstance(id string) *nsMember {
	for _, m := range c.members {
		if m.instance == id {
			return m
		}
	}
	return nil
}

func (c *fcluster) peersOf(m *nsMember) []string {
	var out []string
	for _, o := range c.members {
		if o != m {
			out = append(out, o.ip)
		}
	}
	return out
}

// note logs a timeline line, relative to the cluster's start.
func (c *fcluster) note(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("[+%6.3fs] %s", float64(monoNow()-c.t0)/1e9, fmt.Sprintf(format, args...))
}

func (c *fcluster) writeConfig(m *nsMember) {
	var ms strings.Builder
	for _, o := range c.members {
		fmt.Fprintf(&ms, "  - {id: %s, address: %s:%d, role: %s}\n", o.id, o.ip, fiRaftPort, o.role)
	}
	cfg := fmt.Sprintf(`# raftha fault-injection member %[1]s (generated)
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
  # the hypervisor's front on the bridge: powers a member off when its
  # instance is stopped, injects faults, forwards to moto_server
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
`, m.id, m.role, m.ip, fiRaftPort, fiAPIPort, ms.String(), motoserver.Region, c.hv.url, m.instance,
		c.timing.heartbeat, c.timing.lease, c.timing.failover, c.fencing, c.selfFenceYAML(m))
	if err := os.WriteFile(m.cfgFile, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// start runs `ip netns exec NS raftha agent`: the agent in m's network
// namespace and, as on a host of its own, in a mount namespace of its own
// (ip netns exec makes one, a slave of the root one). Every member sees
// the loop device; a mount is seen only by the member that made it, and
// goes away when every process of that member is gone, as with a host
// that is powered off. (One mount namespace for all would be no model of
// separate hosts: a non-owner cleaning up at start would unmount the
// owner's disk.)
func (c *fcluster) start(m *nsMember) { c.startIn(m, 0) }

// startIn starts m's agent; with nsPid set, in the network and mount
// namespaces of that process (an agent restarted on a host that stayed
// up: it sees the mounts its predecessor left), else as start does.
func (c *fcluster) startIn(m *nsMember, nsPid int) {
	c.t.Helper()
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== fault suite: agent start at mono %d\n", monoNow())
	cmd := exec.Command("ip", "netns", "exec", m.ns, c.bin, "agent", "--config", m.cfgFile, "--shutdown-timeout", "10s")
	if nsPid > 0 {
		cmd = exec.Command("nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", nsPid), fmt.Sprintf("--net=/proc/%d/ns/net", nsPid), "--",
			c.bin, "agent", "--config", m.cfgFile, "--shutdown-timeout", "10s")
	}
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(cleanEnv(),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true", "AWS_REGION="+motoserver.Region)
	cmd.Env = append(cmd.Env, c.agentEnv...)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start agent %s: %v", m.id, err)
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

// crash SIGKILLs m's agent and every process it started (its host died).
func (c *fcluster) crash(m *nsMember) []int {
	pid := m.pid()
	if pid == 0 || m.exited() {
		return nil
	}
	pids := killTree(pid)
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.t.Errorf("agent %s (pid %d) not reaped 5s after SIGKILL", m.id, pid)
	}
	return pids
}

// terminate sends SIGTERM to m's agent (a graceful stop).
func (c *fcluster) terminate(m *nsMember) {
	if pid := m.pid(); pid != 0 && !m.exited() {
		signalPid(pid, syscall.SIGTERM)
	}
}

func (c *fcluster) waitExit(m *nsMember, d time.Duration) bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// pause SIGSTOPs m's agent only: its resources keep running.
func (c *fcluster) pause(m *nsMember) {
	if pid := m.pid(); pid != 0 && !m.exited() {
		m.paused.Store(true)
		signalPid(pid, syscall.SIGSTOP)
	}
}

func (c *fcluster) resume(m *nsMember) {
	if m.paused.Swap(false) && !m.exited() {
		signalPid(m.pid(), syscall.SIGCONT)
	}
}

// powerOff is the hypervisor stopping m's VM: everything of it dies once.
func (c *fcluster) powerOff(m *nsMember, why string) {
	m.powerMu.Lock()
	defer m.powerMu.Unlock()
	if m.offAt != 0 {
		return
	}
	pids := c.crash(m)
	// Orphans of m (an application whose agent died first) die too.
	for _, pid := range c.tb.nsPids(m.id) {
		pids = append(pids, killTree(pid)...)
	}
	m.offAt, m.offWhy, m.offPIDs = monoNow(), why, pids
	c.note("hypervisor: %s (%s) powered off on %s: killed pids %v", m.id, m.instance, why, pids)
}

func (c *fcluster) setLink(m *nsMember, up bool) {
	if err := c.tb.setLink(m.id, up); err != nil {
		c.t.Errorf("link %s: %v", m.id, err)
	}
	m.linkDown.Store(!up)
}

func (c *fcluster) partition(m *nsMember, target string) {
	if err := c.tb.partition(m.id, c.peersOf(m), target); err != nil {
		c.t.Fatalf("partition %s: %v", m.id, err)
	}
	m.cut.Store(true)
}

func (c *fcluster) heal(m *nsMember) {
	if err := c.tb.heal(m.id); err != nil {
		c.t.Errorf("heal %s: %v", m.id, err)
	}
	m.cut.Store(false)
}

// teardown (a testbed hook): stop the prober, kill the agents, show logs.
func (c *fcluster) teardown() {
	if c.prober != nil {
		c.prober.stop()
	}
	for _, m := range c.members {
		c.resume(m)
		c.crash(m)
	}
	for _, m := range c.members {
		for _, pid := range c.tb.nsPids(m.id) {
			killTree(pid)
		}
	}
	if c.t.Failed() || os.Getenv("RAFTHA_FAULT_LOGS") != "" {
		for _, m := range c.members {
			data, _ := os.ReadFile(m.logFile)
			out := string(data)
			if len(out) > 8000 {
				out = "…" + out[len(out)-8000:]
			}
			c.t.Logf("---- log of %s (tail) ----\n%s", m.id, out)
		}
		if data, err := os.ReadFile(c.appLife); err == nil {
			c.t.Logf("---- application lives ----\n%s", data)
		}
	}
}

// ---------------------------------------------------------------------------
// CLI and status.

func (c *fcluster) run(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.cli(nil, timeout, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// cli runs the raftha binary from the root namespace; with api set, as
// the operator against that member's API.
func (c *fcluster) cli(api *nsMember, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = cleanEnv()
	if api != nil {
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("RAFTHA_API=https://%s:%d", api.ip, fiAPIPort),
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

// reachable lists the members the test can ask (running, not paused, link
// up), those not partitioned first.
func (c *fcluster) reachable() []*nsMember {
	var a, b []*nsMember
	for _, m := range c.members {
		if m.exited() || m.paused.Load() || m.linkDown.Load() {
			continue
		}
		if m.cut.Load() {
			b = append(b, m)
		} else {
			a = append(a, m)
		}
	}
	return append(a, b...)
}

// status returns the first non-stale `raftha status --json`.
func (c *fcluster) status() (*statusView, error) {
	err := fmt.Errorf("no member to ask")
	for _, m := range c.reachable() {
		out, e := c.cli(m, 3*time.Second, "status", "--json", "--events", "200")
		if e != nil {
			err = e
			continue
		}
		var st statusView
		if e := json.Unmarshal([]byte(out), &st); e != nil {
			err = fmt.Errorf("status --json from %s: %v", m.id, e)
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

// waitStatus polls the status until cond holds, for at most d; it
// returns nil (and records a failure) when it never does.
func (c *fcluster) waitStatus(d time.Duration, what string, cond func(*statusView) bool) *statusView {
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
	desc := "none"
	if last != nil {
		g, _ := last.group("db")
		desc = fmt.Sprintf("leader %s, db %+v, events %s", last.Leader, g, kinds(last.events("db")))
	}
	c.failure("timed out after %s waiting for %s; last status: %s; last error: %v", d, what, desc, lastErr)
	return nil
}

// whyView is the part of `raftha why --json` the checks read.
type whyView struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Epoch   uint64 `json:"epoch"`
	Cause   string `json:"cause"`
	Fence   string `json:"fence"`
	Online  bool   `json:"online"`
	Outcome string `json:"outcome"`
}

// why reads `raftha why db --json`, from the leader first: a member
// just healed from a partition answers from its own log, which may not
// have caught up yet (seen: the history ending at the epoch before the
// takeover while the group was online at the next).
func (c *fcluster) why() ([]whyView, error) {
	var err error = fmt.Errorf("no member to ask")
	ms := c.reachable()
	if st, e := c.status(); e == nil && st.Leader != "" {
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].id == st.Leader && ms[j].id != st.Leader })
	}
	for _, m := range ms {
		out, e := c.cli(m, 5*time.Second, "why", "db", "--json")
		if e != nil {
			err = e
			continue
		}
		var ws []whyView
		if e := json.Unmarshal([]byte(out), &ws); e != nil {
			err = e
			continue
		}
		return ws, nil
	}
	return nil, err
}

func (c *fcluster) acknowledge(what, node string, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.acks {
		if a.node == node && a.epoch == epoch && a.what == what {
			return
		}
	}
	c.acks = append(c.acks, ack{what: what, node: node, epoch: epoch})
}

// waitOnline waits until db is online on a node satisfying ok, records it
// as acknowledged and returns it.
func (c *fcluster) waitOnline(d time.Duration, what string, ok func(g groupView) bool) (groupView, bool) {
	c.t.Helper()
	st := c.waitStatus(d, what, func(st *statusView) bool {
		g, found := st.group("db")
		return found && g.State == "online" && ok(g)
	})
	if st == nil {
		return groupView{}, false
	}
	g, _ := st.group("db")
	c.acknowledge("online", g.Owner, g.Epoch)
	return g, true
}

// ---------------------------------------------------------------------------
// The group.

func (c *fcluster) groupYAML(nodes []string) string {
	self, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	var addrs []string
	for _, m := range c.nodes() {
		addrs = append(addrs, m.id+"="+m.ip)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "groups:\n  - name: db\n    nodes: [%s]\n    resources:\n", strings.Join(nodes, ", "))
	if c.withDisk {
		fmt.Fprintf(&b, `      - name: shared
        type: disk
        device: %s
        mount_point: %s
        force_unmount: %v
        kill_timeout: 500ms
        timeout: 20s
`, c.diskDev, c.mountPoint, !c.resFaults)
		if c.lockDev != "" {
			fmt.Fprintf(&b, "        lock_device: %s\n", c.lockDev)
		}
	}
	fmt.Fprintf(&b, `      - name: vip
        type: aws.route
        destination: %s
        route_tables: [%s]
      - name: eip
        type: aws.eip
        allocation_id: %s
`, fiVIP, c.aws.rtb, c.aws.alloc)
	if c.withDNS {
		fmt.Fprintf(&b, `      - name: dns
        type: aws.dns
        hosted_zone_id: %s
        record: %s
        ttl: 5
        wait_timeout: 20s
`, c.aws.zone, fiRecord)
	}
	fmt.Fprintf(&b, `      - name: app
        type: exec
        run: %q
        timeout: 5s
        env:
          RAFTHA_FI_APP: "1"
          RAFTHA_FI_LOG: %s
          RAFTHA_FI_LIFE: %s
          RAFTHA_FI_ADDRS: %q
          RAFTHA_FI_PORT: "%d"
`, "exec '"+self+"'", c.appLog, c.appLife, strings.Join(addrs, ","), fiAppPort)
	if c.resFaults {
		b.WriteString(c.ctlYAML(self))
	}
	if c.extraYAML != nil {
		b.WriteString(c.extraYAML())
	}
	return b.String()
}

// setup waits for a node to lead with every member healthy, applies the
// group with owner first in its preference list (owner is the leader when
// ownerIsLeader, another node otherwise), waits until it is online there
// and the application answers, and starts the prober.
func (c *fcluster) setup(ownerIsLeader bool) (owner *nsMember, g groupView) {
	c.t.Helper()
	isNode := map[string]bool{}
	for _, m := range c.nodes() {
		isNode[m.id] = true
	}
	st := c.waitStatus(45*time.Second, "a node leading with every member healthy", func(st *statusView) bool {
		if !isNode[st.Leader] {
			return false
		}
		healthy := 0
		for _, m := range st.Members {
			if m.Healthy {
				healthy++
			}
		}
		return healthy == len(c.members)
	})
	if st == nil {
		c.t.FailNow()
	}
	leader := c.member(st.Leader)
	if ownerIsLeader {
		owner = leader
	} else {
		var others []*nsMember
		for _, m := range c.nodes() {
			if m != leader {
				others = append(others, m)
			}
		}
		owner = others[c.rng.Intn(len(others))]
	}
	prefs := []string{owner.id}
	rest := []string{}
	for _, m := range c.nodes() {
		if m != owner {
			rest = append(rest, m.id)
		}
	}
	c.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	prefs = append(prefs, rest...)

	file := filepath.Join(c.dir, "groups.yaml")
	if err := os.WriteFile(file, []byte(c.groupYAML(prefs)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	var applyErr error
	for i := 0; i < 40; i++ {
		if _, applyErr = c.cli(leader, 15*time.Second, "group", "apply", "-f", file); applyErr == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if applyErr != nil {
		c.t.Fatalf("group apply: %v", applyErr)
	}
	g, ok := c.waitOnline(40*time.Second, "group db online on "+owner.id, func(g groupView) bool { return g.Owner == owner.id })
	if !ok {
		c.t.FailNow()
	}
	c.prober = c.startProber()
	if !c.waitAnswer(15*time.Second, owner.id, g.Epoch) {
		c.failure("the application never answered on %s at epoch %d", owner.id, g.Epoch)
		c.t.FailNow()
	}
	c.note("setup: leader %s, db online on %s at epoch %d (preference %v)", leader.id, owner.id, g.Epoch, prefs)
	return owner, g
}

// waitAnswer waits until the prober has seen node answer at epoch.
func (c *fcluster) waitAnswer(d time.Duration, node string, epoch uint64) bool {
	since := monoNow()
	deadline := time.Now().Add(d)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		if _, ok := c.prober.firstAnswer(since-int64(time.Second), node, epoch); ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// ---------------------------------------------------------------------------
// The prober.

// probeRec is one probe of one node's application address.
type probeRec struct {
	start, end int64 // mono: request sent, answer (or error) received
	ok         bool
	epoch      uint64
}

// prober asks every node's address, each in its own loop, who serves the
// application.
type prober struct {
	mu     sync.Mutex
	recs   map[string][]probeRec
	cancel context.CancelFunc
	done   chan struct{}
}

// appAnswer is the application's HTTP answer.
type appAnswer struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
	PID   int    `json:"pid"`
}

// startProber probes every node's application address from the root
// namespace every 30ms, one loop per node so that an unreachable node
// does not slow the others (bounded: at most 20 minutes).
func (c *fcluster) startProber() *prober {
	p := &prober{done: make(chan struct{}), recs: map[string][]probeRec{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	var wg sync.WaitGroup
	for _, m := range c.nodes() {
		wg.Add(1)
		go func(m *nsMember) {
			defer wg.Done()
			tick := time.NewTicker(30 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 20*60*40; i++ {
				r := probeRec{start: monoNow()}
				a, err := probeApp(ctx, m.ip, 250*time.Millisecond)
				r.end = monoNow()
				if ctx.Err() != nil {
					return
				}
				r.ok, r.epoch = err == nil, a.Epoch
				p.mu.Lock()
				p.recs[m.id] = append(p.recs[m.id], r)
				p.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}(m)
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// probeApp asks one address who serves the application.
func probeApp(ctx context.Context, ip string, timeout time.Duration) (appAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var a appAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/", ip, fiAppPort), nil)
	if err != nil {
		return a, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("answer %q: %v", body, err)
	}
	return a, nil
}

func (p *prober) stop() {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

func (p *prober) snapshot() map[string][]probeRec {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]probeRec{}
	for n, rs := range p.recs {
		out[n] = append([]probeRec(nil), rs...)
	}
	return out
}

// firstAnswer returns when node first answered at epoch to a probe sent
// at or after from.
func (p *prober) firstAnswer(from int64, node string, epoch uint64) (int64, bool) {
	for _, r := range p.snapshot()[node] {
		if r.start >= from && r.ok && r.epoch == epoch {
			return r.end, true
		}
	}
	return 0, false
}

// recovery measures what a user sees: from the fault at from until node
// answers at epoch for good (to: the end of the window, 0 for none), that
// is the first such answer after the last probe of node sent in the window
// that got no answer, or another epoch's. It is 0 when node answered at
// epoch throughout (the application never stopped).
func (p *prober) recovery(from, to int64, node string, epoch uint64) (time.Duration, bool) {
	rs := p.snapshot()[node]
	in := func(r probeRec) bool { return r.start >= from && (to == 0 || r.start <= to) }
	lastBad := int64(-1)
	for _, r := range rs {
		if in(r) && !(r.ok && r.epoch == epoch) {
			lastBad = r.start
		}
	}
	for _, r := range rs {
		if in(r) && r.start > lastBad && r.ok && r.epoch == epoch {
			if lastBad < 0 {
				return 0, true
			}
			return time.Duration(r.end - from), true
		}
	}
	return 0, false
}

// answeredBy lists which nodes answered probes sent in [from, to], with
// the epochs they answered at.
func (p *prober) answeredBy(from, to int64) map[string][]uint64 {
	out := map[string][]uint64{}
	for n, rs := range p.snapshot() {
		for _, r := range rs {
			if !r.ok || r.start < from || (to > 0 && r.start > to) {
				continue
			}
			found := false
			for _, x := range out[n] {
				found = found || x == r.epoch
			}
			if !found {
				out[n] = append(out[n], r.epoch)
			}
		}
	}
	for n := range out {
		sort.Slice(out[n], func(i, j int) bool { return out[n][i] < out[n][j] })
	}
	return out
}
