package integration

// The fault suite's cluster: raftha agents as real processes, each in its
// member's network namespace (and a mount namespace of its own, as on a
// host of its own; the shared disk is one loop device every member sees),
// talking mTLS over the bridge;
// the CLI run from the root namespace against their API; and a prober that
// asks every node's address, many times a second, who serves the
// application.

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/server"
)

const (
	fiRaftPort = 7000
	fiAPIPort  = 7443
	fiAppPort  = 8080
)

// ack is something the cluster acknowledged: a transfer the CLI reported
// done, or a group the leader reported online.
type ack struct {
	what  string
	node  string
	epoch uint64
}

// fcluster is one run: testbed, moto, hypervisor, agents, prober.
type fcluster struct {
	harness
	tb    *testbed
	seed0 int64
	rng   *rand.Rand
	res   *runResult

	aws *awsWorld

	withDisk  bool
	withDNS   bool
	resFaults bool   // the resource-fault group and config (netns_resfaults_test.go)
	sideLog   string // the sidecar's log on the shared disk (resFaults)
	diskMB    int    // size of the shared disk (default 64 MiB)
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
	c := &fcluster{harness: harness{t: t, bin: rafthaBinary(t), timing: fastTiming, fencing: "aws-stop",
		agentArgs: []string{"--shutdown-timeout", "10s"}, statusArgs: []string{"--events", "200"}, statusWait: 3 * time.Second},
		seed0: seed, rng: rand.New(rand.NewSource(seed)), res: res, t0: monoNow()}
	c.selfFence, c.logf, c.fail = c.selfFenceYAML, c.note, c.failure
	c.orphans = func(m *member) []int { return c.tb.nsPids(m.id) }
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
		c.members = append(c.members, &member{id: id, role: role, ns: c.tb.nsName(id), ip: c.tb.addr(i), raftPort: fiRaftPort, apiPort: fiAPIPort,
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
	hv := c.startHypervisor(c.tb.gw, c.aws.endpoint, c.aws.ec2, c.seed0^0x5eed)
	c.tb.onTeardown(hv.stop)
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

func (c *fcluster) peersOf(m *member) []string {
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

func (c *fcluster) setLink(m *member, up bool) {
	if err := c.tb.setLink(m.id, up); err != nil {
		c.t.Errorf("link %s: %v", m.id, err)
	}
	m.linkDown.Store(!up)
}

func (c *fcluster) partition(m *member, target string) {
	if err := c.tb.partition(m.id, c.peersOf(m), target); err != nil {
		c.t.Fatalf("partition %s: %v", m.id, err)
	}
	m.cut.Store(true)
}

func (c *fcluster) heal(m *member) {
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
	c.killAgents()
	if c.t.Failed() || os.Getenv("RAFTHA_FAULT_LOGS") != "" {
		c.logTails(8000)
		if data, err := os.ReadFile(c.appLife); err == nil {
			c.t.Logf("---- application lives ----\n%s", data)
		}
	}
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
func (c *fcluster) setup(ownerIsLeader bool) (owner *member, g groupView) {
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
		var others []*member
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
