package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/testsupport"
	awsres "github.com/raftha/raftha/resources/aws"
	"github.com/raftha/raftha/resources/builtin"
	"github.com/raftha/raftha/server"
	"github.com/raftha/raftha/transport"
)

// opsMember is one in-process member of an opsCluster.
type opsMember struct {
	id      string
	cfgFile string
	api     string
	srv     *server.Server
	logFile string
}

// logs returns what the member logged so far.
func (m *opsMember) logs() string {
	b, _ := os.ReadFile(m.logFile)
	return string(b)
}

// opsCluster is a real three-node cluster in this process, on 127.0.0.1
// over TLS, built from YAML member configs as the agent reads them, for
// running the CLI against.
type opsCluster struct {
	t       *testing.T
	dir     string
	members []*opsMember
}

// newOpsCluster writes a CA, the member certificates, an operator
// certificate and one YAML config per member (extra is appended to every
// config), and starts every member.
func newOpsCluster(t *testing.T, extra string, ids ...string) *opsCluster {
	t.Helper()
	clearClientEnv(t)
	dir := t.TempDir()
	c := &opsCluster{t: t, dir: dir}
	tlsDir := filepath.Join(dir, "tls")
	if err := transport.CreateCA(tlsDir, "", 0); err != nil {
		t.Fatal(err)
	}
	lo := []net.IP{net.ParseIP("127.0.0.1")}
	for _, name := range append([]string{"operator"}, ids...) {
		kind := transport.KindMember
		if name == "operator" {
			kind = transport.KindOperator
		}
		if err := transport.CreateCert(tlsDir, transport.CertRequest{Name: name, Kind: kind, IPs: lo}); err != nil {
			t.Fatal(err)
		}
	}
	ports := testsupport.FreePorts(t, 2*len(ids))
	var members strings.Builder
	for i, id := range ids {
		fmt.Fprintf(&members, "  - {id: %s, address: 127.0.0.1:%d, role: node}\n", id, ports[2*i])
	}
	for i, id := range ids {
		m := &opsMember{id: id, cfgFile: filepath.Join(dir, id+".yaml"), logFile: filepath.Join(dir, id+".log"), api: fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1])}
		cfg := fmt.Sprintf(`node_id: %[1]s
role: node
data_dir: data/%[1]s
bind: 127.0.0.1:%[2]d
api: 127.0.0.1:%[3]d
tls: {ca: tls/ca.pem, cert: tls/%[1]s.pem, key: tls/%[1]s-key.pem}
members:
%[4]s
timing: {heartbeat: 100ms, lease: 600ms, failover_timeout: 1200ms}
fencing: {mode: lease-only, stop_deadline: 2s, self_fence_action: none, watchdog: none}
log_level: debug
%[5]s`, id, ports[2*i], ports[2*i+1], members.String(), extra)
		if err := os.WriteFile(m.cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.kill(m.id)
		}
		if t.Failed() {
			for _, m := range c.members {
				out := m.logs()
				if len(out) > 4000 {
					out = out[len(out)-4000:]
				}
				t.Logf("---- logs of %s (tail) ----\n%s", m.id, out)
			}
		}
	})
	for _, id := range ids {
		c.start(id)
	}
	return c
}

func (c *opsCluster) member(id string) *opsMember {
	for _, m := range c.members {
		if m.id == id {
			return m
		}
	}
	c.t.Fatalf("no member %s", id)
	return nil
}

// start starts a member from its config file (again, after kill).
func (c *opsCluster) start(id string) {
	c.t.Helper()
	m := c.member(id)
	cfg, err := config.LoadConfigFile(m.cfgFile)
	if err != nil {
		c.t.Fatal(err)
	}
	logs, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { logs.Close() })
	srv, err := server.New(*cfg, server.Options{LogOutput: logs, Cloud: awsres.Provider{}, Registry: builtin.Registry()})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		c.t.Fatal(err)
	}
	m.srv = srv
}

func (c *opsCluster) kill(id string) {
	if m := c.member(id); m.srv != nil {
		m.srv.Kill()
		m.srv = nil
	}
}

// wait polls cond for up to d.
func (c *opsCluster) wait(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if _, err := demoWait(context.Background(), d, func() (struct{}, bool) { return struct{}{}, cond() }); err != nil {
		c.t.Fatalf("%s waiting for %s", err, what)
	}
}

// leader waits for a ready leader.
func (c *opsCluster) leader() *opsMember {
	c.t.Helper()
	var l *opsMember
	c.wait(20*time.Second, "a ready leader", func() bool {
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

// cli runs the raftha CLI against member id's API as the operator.
func (c *opsCluster) cli(id string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	tls := filepath.Join(c.dir, "tls")
	args = append(args, "--api", c.member(id).api, "--ca-cert", filepath.Join(tls, "ca.pem"),
		"--client-cert", filepath.Join(tls, "operator.pem"), "--client-key", filepath.Join(tls, "operator-key.pem"))
	return runMain(c.t, args...)
}

// applyGroups applies a group file through the CLI (retrying while the
// new leader has not heard from the nodes yet) and waits until every
// group in names is online.
func (c *opsCluster) applyGroups(yaml string, names ...string) {
	c.t.Helper()
	file := filepath.Join(c.dir, "groups.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		c.t.Fatal(err)
	}
	var out, errs string
	c.wait(30*time.Second, "group apply to succeed", func() bool {
		var code int
		out, errs, code = c.cli(c.leader().id, "group", "apply", "-f", file)
		return code == 0
	})
	c.t.Logf("group apply: %s%s", out, errs)
	c.wait(30*time.Second, "groups online", func() bool {
		st := c.leader().srv.State()
		for _, n := range names {
			if g, ok := st.Groups[n]; !ok || g.Status.State != fsm.StateOnline {
				return false
			}
		}
		return true
	})
}

// newThreeGroupCluster starts a three-node cluster (extra appended to
// every member config) with the groups cache, db and web online.
func newThreeGroupCluster(t *testing.T, extra string) *opsCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 3-member cluster")
	}
	c := newOpsCluster(t, extra, "n1", "n2", "n3")
	c.applyGroups(threeGroups(t.TempDir()), "cache", "db", "web")
	return c
}

// threeGroups is a group file with three exec groups that run nothing.
func threeGroups(dir string) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for i, name := range []string{"cache", "db", "web"} {
		fmt.Fprintf(&b, `  - name: %[1]s
    nodes: [n%[2]d, n%[3]d]
    resources:
      - name: app
        type: exec
        start: touch %[4]s/%[1]s.$RAFTHA_NODE
        stop: rm -f %[4]s/%[1]s.$RAFTHA_NODE
        check: test -f %[4]s/%[1]s.$RAFTHA_NODE
        timeout: 10s
`, name, i%3+1, (i+1)%3+1, dir)
	}
	return b.String()
}
