package server

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// TestEmptyDataDirNeverBootstrapsIntoExistingCluster is clause 10 (no
// amnesia): a member of a running cluster restarted with a wiped data_dir
// refuses (ErrRejoinRequired, naming the data dir and the rejoin steps)
// instead of bootstrapping itself again; after `members remove`, a start
// with Rejoin waits, and after `members add` it catches up.
func TestEmptyDataDirNeverBootstrapsIntoExistingCluster(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n2")
	waitFor(t, 10*time.Second, "n1 registered in the log", func() bool {
		m, ok := c.leader().srv.State().Members["n1"]
		return ok && m.API != ""
	})

	n1 := c.member("n1")
	c.kill("n1")
	if err := os.RemoveAll(n1.cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	c.start("n1")
	srv := n1.srv
	select {
	case <-srv.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("n1 restarted with an empty data_dir kept running (bootstrapped: %v)",
			strings.Contains(n1.logs.String(), "bootstrapped a new cluster configuration"))
	}
	err := srv.Err()
	if !errors.Is(err, ErrRejoinRequired) {
		t.Fatalf("n1 stopped with %v, want ErrRejoinRequired", err)
	}
	for _, want := range []string{n1.cfg.DataDir, "raftha members remove n1", "--rejoin", "raftha members add --id n1"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not say %q", err, want)
		}
	}
	if strings.Contains(n1.logs.String(), "bootstrapped a new cluster configuration") {
		t.Fatal("n1 bootstrapped again")
	}
	c.kill("n1")

	// The rejoin: remove, start with Rejoin (waits), add, catch up.
	if err := c.leader().srv.RemoveMember(ctxT(t, 10*time.Second), "n1", "test"); err != nil {
		t.Fatalf("remove n1: %v", err)
	}
	if err := os.RemoveAll(n1.cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	n1.opts.Rejoin = true
	c.start("n1")
	waitFor(t, 15*time.Second, "n1 waiting to be added", func() bool {
		return strings.Contains(n1.logs.String(), "raftha members add --id n1")
	})
	if err := c.leader().srv.AddMember(ctxT(t, 10*time.Second), api.MemberRequest{ID: "n1", Address: n1.cfg.Bind, Role: string(config.RoleNode)}, "test"); err != nil {
		t.Fatalf("add n1: %v", err)
	}
	waitFor(t, 15*time.Second, "n1 caught up", func() bool {
		st := n1.srv.State()
		_, ok := st.Groups["db"]
		return ok && st.Index >= c.leader().srv.State().Index-2
	})
	c.waitHealthy()
	select {
	case <-n1.srv.Done():
		t.Fatalf("rejoined n1 stopped: %v", n1.srv.Err())
	default:
	}
	if strings.Contains(n1.logs.String(), "bootstrapped a new cluster configuration") {
		t.Fatal("n1 bootstrapped on rejoin")
	}
}

// TestDecideJoin is the rule of a member with an empty data_dir.
func TestDecideJoin(t *testing.T) {
	fresh := func(id string) peerProbe { return peerProbe{id: id, reply: rpcwire.ProbeReply{LastIndex: 0}} }
	boot := func(id string) peerProbe {
		return peerProbe{id: id, reply: rpcwire.ProbeReply{LastIndex: 1, InConfig: true}}
	}
	logOf := func(id string, inConfig, registered bool) peerProbe {
		return peerProbe{id: id, reply: rpcwire.ProbeReply{LastIndex: 40, InConfig: inConfig, Registered: registered}}
	}
	cases := []struct {
		name    string
		n       int
		rejoin  bool
		answers []peerProbe
		want    joinDecision
	}{
		{"single member", 1, false, nil, joinBootstrap},
		{"no answers", 3, false, nil, joinWait},
		{"one of two others new: the other may hold the log", 3, false, []peerProbe{fresh("n2")}, joinWait},
		{"both others new", 3, false, []peerProbe{fresh("n2"), boot("w1")}, joinBootstrap},
		{"two nodes", 2, false, []peerProbe{fresh("n2")}, joinBootstrap},
		{"five members, three others new", 5, false, []peerProbe{fresh("a"), fresh("b"), boot("c")}, joinBootstrap},
		{"five members, two others new", 5, false, []peerProbe{fresh("a"), fresh("b")}, joinWait},
		{"wiped member: log records it ran", 3, false, []peerProbe{fresh("w1"), logOf("n2", true, true)}, joinRefuse},
		{"removed member without rejoin", 3, false, []peerProbe{logOf("n2", false, false)}, joinRefuse},
		{"others formed the cluster before it started", 3, false, []peerProbe{logOf("n2", true, false)}, joinOpen},
		{"rejoin after remove", 3, true, []peerProbe{logOf("n2", false, false)}, joinOpen},
		{"rejoin before remove waits", 3, true, []peerProbe{logOf("n2", true, true)}, joinWait},
		{"rejoin never bootstraps", 3, true, []peerProbe{fresh("n2"), fresh("w1")}, joinWait},
	}
	for _, tc := range cases {
		if got, _ := decideJoin(tc.n, tc.rejoin, tc.answers); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
