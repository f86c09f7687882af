package integration

// The loopback fixture: three agent processes (n1, n2 nodes; w1 witness)
// on 127.0.0.1, moto_server and the hypervisor, and a recorder group. No
// root needed: the tests in failover_test.go run on it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/resources/aws/motoserver"
)

// cluster is the loopback fixture: a harness on 127.0.0.1 with aws-stop
// fencing, moto and the recorder file of its group.
type cluster struct {
	harness
	moto *motoserver.Server
	rec  string // recorder file

	logMu sync.Mutex
	hvLog []string // the hypervisor's notes, logged at teardown
}

// newCluster writes a CA and certificates (with the raftha binary), starts
// moto with one instance per member, the hypervisor, and three agents
// (n1, n2 nodes; w1 witness) on loopback with aws-stop fencing.
func newCluster(t *testing.T, tm timing) *cluster {
	t.Helper()
	c := &cluster{harness: harness{t: t, bin: rafthaBinary(t), dir: t.TempDir(), timing: tm, fencing: "aws-stop"}}
	c.tlsDir = filepath.Join(c.dir, "tls")
	c.rec = filepath.Join(c.dir, "rec")
	// The hypervisor notes from its own goroutines: kept until teardown.
	c.logf = c.hvf

	c.run(30*time.Second, "tls", "ca", "create", "--dir", c.tlsDir)
	for _, name := range []string{"n1", "n2", "w1"} {
		c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--member", name, "--ip", "127.0.0.1")
	}
	c.run(30*time.Second, "tls", "cert", "create", "--dir", c.tlsDir, "--operator", "operator", "--ip", "127.0.0.1")

	c.moto = motoserver.Start(t) // fails (not skips) when moto_server is missing
	client := ec2.NewFromConfig(c.moto.Config(t))
	// Tagged raftha:node=ID: a fence verifies the instance is the node's.
	inst := c.moto.RunNodeInstances(t, "n1", "n2", "w1")

	// Everything below is torn down by this one cleanup, before moto stops
	// (cleanups run last-registered first).
	t.Cleanup(c.teardown)

	ports := testsupport.FreePorts(t, 6)
	for i, id := range []string{"n1", "n2", "w1"} {
		role := "node"
		if strings.HasPrefix(id, "w") {
			role = "witness"
		}
		c.members = append(c.members, &member{id: id, role: role, ip: "127.0.0.1", raftPort: ports[2*i], apiPort: ports[2*i+1], instance: inst[i],
			cfgFile: filepath.Join(c.dir, id+".yaml"), logFile: filepath.Join(c.dir, id+".log")})
	}
	c.startHypervisor("127.0.0.1", c.moto.Endpoint, client, 0)
	for _, m := range c.members {
		c.writeConfig(m)
	}
	for _, m := range c.members {
		c.start(m)
	}
	return c
}

// teardown stops the hypervisor, kills every process this test started
// (by pid, with descendants) and shows the members' logs when the test
// failed. moto stops after it.
func (c *cluster) teardown() {
	if c.hv != nil {
		c.hv.stop()
	}
	c.killAgents()
	c.killStrayRecorders()
	c.logMu.Lock()
	for _, l := range c.hvLog {
		c.t.Log(l)
	}
	c.logMu.Unlock()
	if c.t.Failed() {
		c.logTails(12000)
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
		_, applyErr = c.cli(leader, 15*time.Second, "group", "apply", "-f", file)
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
