package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/transport"
)

type testMember struct {
	cfg  config.Config
	opts Options
	srv  *Server
	logs *testsupport.SyncBuffer
}

type testCluster struct {
	t       testing.TB
	dir     string
	tlsDir  string
	members []*testMember
}

// freePorts and freePort are the shared free-loopback-ports helper.
var (
	freePorts = testsupport.FreePorts
	freePort  = testsupport.FreePort
)

// testTiming is a fast profile that still tolerates a loaded 2-core box.
func testTiming() config.TimingConfig {
	return config.TimingConfig{Heartbeat: config.Duration(100 * time.Millisecond), Lease: config.Duration(600 * time.Millisecond), FailoverTimeout: config.Duration(1200 * time.Millisecond)}
}

// newTestCluster writes a CA, one certificate per member and the member
// configs (all on 127.0.0.1 with TLS). ids starting with "w" are witnesses.
func newTestCluster(t testing.TB, ids ...string) *testCluster {
	t.Helper()
	dir := t.TempDir()
	c := &testCluster{t: t, dir: dir, tlsDir: filepath.Join(dir, "tls")}
	if err := transport.CreateCA(c.tlsDir, "", 0); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2*len(ids)) // raft and API port per member
	var members []config.MemberConfig
	for i, id := range ids {
		if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: id, Kind: transport.KindMember, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
		role := config.RoleNode
		if strings.HasPrefix(id, "w") {
			role = config.RoleWitness
		}
		members = append(members, config.MemberConfig{ID: id, Address: fmt.Sprintf("127.0.0.1:%d", ports[2*i]), Role: role})
	}
	for i, m := range members {
		cfg := config.Config{
			NodeID:  m.ID,
			Role:    m.Role,
			DataDir: filepath.Join(dir, m.ID),
			Bind:    m.Address,
			API:     fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			TLS:     config.TLSConfig{CA: filepath.Join(c.tlsDir, "ca.pem"), Cert: filepath.Join(c.tlsDir, m.ID+".pem"), Key: filepath.Join(c.tlsDir, m.ID+"-key.pem")},
			Members: members,
			Timing:  testTiming(),
			Fencing: config.FencingConfig{Mode: config.FencingLeaseOnly, SelfFenceAction: config.SelfFenceNone, Watchdog: config.WatchdogNone},
		}
		c.members = append(c.members, &testMember{cfg: cfg})
	}
	t.Cleanup(c.killAll)
	return c
}

func (c *testCluster) member(id string) *testMember {
	for _, m := range c.members {
		if m.cfg.NodeID == id {
			return m
		}
	}
	c.t.Fatalf("no member %s", id)
	return nil
}

func (c *testCluster) start(id string) {
	c.t.Helper()
	m := c.member(id)
	m.logs = &testsupport.SyncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raftha", Level: hclog.Debug, Output: m.logs})
	opts := m.opts
	opts.Logger = logger
	if opts.Cloud == nil {
		opts.Cloud = awsres.Provider{} // as the agent does; unused off AWS
	}
	srv, err := New(m.cfg, opts)
	if err != nil {
		c.t.Fatalf("new %s: %v", id, err)
	}
	if err := srv.Start(); err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	m.srv = srv
}

func (c *testCluster) startAll() {
	for _, m := range c.members {
		c.start(m.cfg.NodeID)
	}
}

// configure changes every member's configuration before start.
func (c *testCluster) configure(fn func(m *testMember)) {
	for _, m := range c.members {
		fn(m)
	}
}

// partition cuts every connection between the members of side and the
// rest, in both directions, as a network partition would. heal undoes it.
func (c *testCluster) partition(side ...string) {
	in := map[string]bool{}
	for _, id := range side {
		in[id] = true
	}
	for _, m := range c.members {
		if m.srv == nil {
			continue
		}
		mine := in[m.cfg.NodeID]
		m.srv.mux.SetPeerFilter(func(peer string) bool { return in[peer] == mine })
	}
}

func (c *testCluster) heal() {
	for _, m := range c.members {
		if m.srv != nil {
			m.srv.mux.SetPeerFilter(nil)
		}
	}
}

func (c *testCluster) kill(id string) {
	m := c.member(id)
	if m.srv != nil {
		m.srv.Kill()
		m.srv = nil
	}
}

func (c *testCluster) killAll() {
	for _, m := range c.members {
		if m.srv != nil {
			m.srv.Kill()
			m.srv = nil
		}
	}
	if c.t.Failed() {
		for _, m := range c.members {
			if m.logs != nil {
				out := m.logs.String()
				if len(out) > 6000 {
					out = out[len(out)-6000:]
				}
				c.t.Logf("---- logs of %s (tail) ----\n%s", m.cfg.NodeID, out)
			}
		}
	}
}

// waitFor polls cond every 20ms until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func (c *testCluster) leader() *testMember {
	c.t.Helper()
	var l *testMember
	waitFor(c.t, 15*time.Second, "a ready leader", func() bool {
		for _, m := range c.members {
			if m.srv != nil && m.srv.IsLeader() {
				l = m
				return true
			}
		}
		return false
	})
	return l
}

func (c *testCluster) any() *testMember {
	for _, m := range c.members {
		if m.srv != nil {
			return m
		}
	}
	c.t.Fatal("no member running")
	return nil
}

// group returns the group as the leader's log has it.
func (c *testCluster) group(name string) fsm.Group {
	c.t.Helper()
	g, ok := c.leader().srv.State().Groups[name]
	if !ok {
		c.t.Fatalf("no group %s", name)
	}
	return *g
}

func (c *testCluster) waitOnline(name, owner string) fsm.Group {
	c.t.Helper()
	var g fsm.Group
	waitFor(c.t, 20*time.Second, fmt.Sprintf("group %s online on %q", name, owner), func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		gg, ok := l.srv.State().Groups[name]
		if !ok {
			return false
		}
		g = *gg
		return g.Status.State == fsm.StateOnline && (owner == "" || g.Status.Owner == owner)
	})
	return g
}

// waitHealthy waits until the leader has heard from every running member.
func (c *testCluster) waitHealthy() {
	c.t.Helper()
	waitFor(c.t, 15*time.Second, "every running member healthy", func() bool {
		l := c.leaderNow()
		if l == nil {
			return false
		}
		ls := l.srv.leader()
		if ls == nil {
			return false
		}
		for _, m := range c.members {
			if m.srv != nil && !ls.Healthy(m.cfg.NodeID) {
				return false
			}
		}
		return true
	})
}

func (c *testCluster) leaderNow() *testMember {
	for _, m := range c.members {
		if m.srv != nil && m.srv.IsLeader() {
			return m
		}
	}
	return nil
}

// markerGroup is a group whose exec resource leaves a file per node while
// it runs, with the epoch it was started at.
func markerGroup(dir string, nodes ...string) string {
	return fmt.Sprintf(`groups:
  - name: db
    nodes: [%s]
    resources:
      - name: app
        type: exec
        start: echo "$RAFTHA_NODE $RAFTHA_EPOCH $RAFTHA_GROUP" > %s/running.$RAFTHA_NODE
        stop: rm -f %s/running.$RAFTHA_NODE
        check: test -f %s/running.$RAFTHA_NODE
        timeout: 10s
`, strings.Join(nodes, ", "), dir, dir, dir)
}

// running lists the nodes whose marker file exists, with its content.
func running(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	matches, _ := filepath.Glob(filepath.Join(dir, "running.*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		out[strings.TrimPrefix(filepath.Base(m), "running.")] = strings.TrimSpace(string(b))
	}
	return out
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
