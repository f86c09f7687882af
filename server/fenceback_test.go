package server

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/history"
	"github.com/raftha/raftha/transport"
)

// stuckFencingCluster: two nodes and a witness with a fencer that always
// fails; n1 owns db and is killed, so n2 sits in fencing n1.
func stuckFencingCluster(t *testing.T, dir string, configure func(m *testMember)) *testCluster {
	t.Helper()
	c, _, _ := awsCluster(t, "n1", "n2", "w1")
	gate := &fenceGate{broken: brokenFencer(t)}
	c.configure(func(m *testMember) {
		m.opts.Fencer = gate
		if configure != nil {
			configure(m)
		}
	})
	c.startAll()
	c.leader()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	c.kill("n1")
	waitFor(t, 20*time.Second, "n2 fencing n1 and failing", func() bool {
		g := c.group("db")
		return g.Status.State == fsm.StateFencing && g.Status.Owner == "n2" && strings.Contains(kinds(c.events("db")), "fence-failed")
	})
	return c
}

// TestFenceTargetTakesBackWhenWinnerDies: the winner dies while fencing
// and the only other node is the one it was fencing. Once that node is
// back and proves by a heartbeat sent after the decision that it runs
// nothing for the group, the leader gives the group back to it.
func TestFenceTargetTakesBackWhenWinnerDies(t *testing.T) {
	dir := t.TempDir()
	c := stuckFencingCluster(t, dir, nil)
	c.kill("n2")
	c.start("n1")
	g := c.waitOnline("db", "n1")
	var check, back *fsm.Event
	evs := c.events("db")
	for i, e := range evs {
		switch {
		case e.Kind == fsm.KindFenceTargetCheck:
			check = &evs[i]
		case e.Kind == "takeover" && e.Cause == fsm.CauseFenceTargetIdle:
			back = &evs[i]
		}
	}
	if check == nil || back == nil || back.Index <= check.Index || back.To != "n1" || back.Epoch != g.Status.Epoch || !strings.Contains(back.Reason, "runs nothing") {
		t.Fatalf("history %q: want a fence-target-check, then a takeover back to n1 with cause %s; got check %+v, back %+v", kinds(evs), fsm.CauseFenceTargetIdle, check, back)
	}
	if r := running(t, dir); len(r) != 1 || !strings.HasPrefix(r["n1"], "n1 ") {
		t.Fatalf("running %v", r)
	}
}

// TestFenceOverrideByOperator: an operator ends a fence that cannot
// succeed through the API; the event and `raftha why` name them and their
// reason. A read-only caller and a call without a reason are refused.
func TestFenceOverrideByOperator(t *testing.T) {
	dir := t.TempDir()
	c := stuckFencingCluster(t, dir, func(m *testMember) {
		m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}}
	})
	for _, n := range []string{"alice", "bob"} {
		if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: n, Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(who, body string) (int, string) {
		tc, err := transport.LoadClient(filepath.Join(c.tlsDir, "ca.pem"), filepath.Join(c.tlsDir, who+".pem"), filepath.Join(c.tlsDir, who+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Post("https://"+c.member("n2").srv.APIAddr()+"/v1/groups/db/fence-override", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		b, _ := json.Marshal(m)
		return resp.StatusCode, string(b)
	}
	if code, body := call("bob", `{"accept_risk": "x"}`); code != http.StatusForbidden {
		t.Fatalf("read-only caller: %d %s", code, body)
	}
	if code, body := call("alice", `{}`); code != http.StatusBadRequest {
		t.Fatalf("no reason: %d %s", code, body)
	}
	if g := c.group("db"); g.Status.State != fsm.StateFencing {
		t.Fatalf("a refused override changed the group: %+v", g.Status)
	}
	const reason = "n1's instance is stopped: checked in the EC2 console"
	if code, body := call("alice", `{"accept_risk": "`+reason+`"}`); code != http.StatusOK {
		t.Fatalf("override: %d %s", code, body)
	}
	c.waitOnline("db", "n2")
	var ov *fsm.Event
	for _, e := range c.events("db") {
		if e.Kind == fsm.KindFenceOverride {
			ov = &e
		}
	}
	if ov == nil || ov.By != "alice" || ov.Reason != reason || ov.From != "n1" || ov.Cause != fsm.CauseOperator {
		t.Fatalf("override event %+v", ov)
	}
	why := history.Why(c.leader().srv.State(), "db")
	last := why[len(why)-1]
	if last.To != "n2" || !strings.Contains(last.String(), "RISK ACCEPTED: alice overrode the fence of n1: "+reason) {
		t.Fatalf("why: %s", last)
	}
}
