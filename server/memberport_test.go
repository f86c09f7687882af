package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// memberPortClient is an attacker on the member port: the project's own
// transport package with one certificate of the cluster CA.
type memberPortClient struct {
	t    *testing.T
	mux  *transport.Mux
	pool *transport.Pool
}

func newMemberPortClient(t *testing.T, files transport.Files) *memberPortClient {
	t.Helper()
	b, err := transport.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	m, err := transport.Listen("127.0.0.1:0", "", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Serve(nil)
	p := transport.NewPool(m)
	t.Cleanup(func() { p.Close(); m.Close() })
	return &memberPortClient{t: t, mux: m, pool: p}
}

// call makes one RPC and returns the transport's error or the reply's.
func call[A, R any](c *memberPortClient, addr, method string, a A) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r rpcwire.Reply[R]
	if err := c.pool.Call(ctx, addr, method, a, &r); err != nil {
		return err
	}
	return wireCodec.Decode(r.Err)
}

func (c *memberPortClient) propose(addr string, cmd fsm.Command) error {
	return call[rpcwire.ProposeArgs, uint64](c, addr, "Raftha.Propose", rpcwire.ProposeArgs{Cmd: fsm.MustEncode(cmd)})
}

// TestMemberPortBindsCallerIdentity: with the witness's certificate, or
// with an operator certificate named like a member, the member port lets
// nobody act for another member, propose what only the leader or an owner
// may, or change the membership. Every attempt is refused and the log is
// unchanged.
func TestMemberPortBindsCallerIdentity(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w3")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	dir := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(dir, "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")

	// An operator's certificate that bears a member's name, issued by the
	// same CA.
	opDir := filepath.Join(t.TempDir(), "op")
	copyCA(t, c.tlsDir, opDir)
	if err := transport.CreateCert(opDir, operatorCertRequest("n1")); err != nil {
		t.Fatal(err)
	}
	clients := map[string]transport.Files{
		"witness certificate":           {CA: filepath.Join(c.tlsDir, "ca.pem"), Cert: filepath.Join(c.tlsDir, "w3.pem"), Key: filepath.Join(c.tlsDir, "w3-key.pem")},
		"operator certificate named n1": {CA: filepath.Join(opDir, "ca.pem"), Cert: filepath.Join(opDir, "n1.pem"), Key: filepath.Join(opDir, "n1-key.pem")},
	}
	settings := l.srv.State().Settings
	n1 := l.srv.State().Members["n1"]
	for name, files := range clients {
		t.Run(name, func(t *testing.T) {
			atk := newMemberPortClient(t, files)
			addr := c.leader().srv.RaftAddr()
			witness := name == "witness certificate"
			refused := func(what string, err error) {
				t.Helper()
				switch {
				case err == nil:
					t.Errorf("%s: accepted", what)
				case witness && !errors.Is(err, ErrForbidden):
					t.Errorf("%s: refused, but not as forbidden: %v", what, err)
				default:
					t.Logf("%s: refused: %v", what, err)
				}
			}
			// A forged heartbeat "from n1" with another instance id.
			refused("heartbeat as n1", call[rpcwire.HeartbeatArgs, rpcwire.HeartbeatReply](atk, addr, "Raftha.Heartbeat",
				rpcwire.HeartbeatArgs{Node: "n1", Role: "node", Address: n1.Address, API: n1.API, InstanceID: "i-0evil", Settings: settings, Running: map[string]uint64{"db": before.Status.Epoch}}))
			// A confirm for n1.
			refused("confirm as n1", call[rpcwire.ConfirmArgs, rpcwire.ConfirmReply](atk, addr, "Raftha.Confirm",
				rpcwire.ConfirmArgs{Group: "db", Node: "n1", Epoch: before.Status.Epoch}))
			// A group file that runs a command as root.
			evil := &fsm.ApplyGroups{Header: fsm.Header{At: time.Now(), By: "operator"}, Groups: []fsm.GroupSpec{{Name: "evil", Nodes: []string{"n1"}, Resources: []fsm.ResourceSpec{{Name: "x", Type: "exec", Params: json.RawMessage(`{"start": "touch ` + filepath.Join(dir, "pwned") + `", "stop": "true", "check": "true"}`)}}}}}
			refused("propose a group file", atk.propose(addr, evil))
			refused("propose a group file for a read-only caller", call[rpcwire.ProposeArgs, uint64](atk, addr, "Raftha.Propose",
				rpcwire.ProposeArgs{Cmd: fsm.MustEncode(evil), Caller: &rpcwire.Caller{Identity: "bob", Role: "read"}}))
			// A forged operator: a witness forwards no changes, whatever
			// caller it names (the adversarial review ran this as root).
			refused("propose a group file for a forged operate caller", call[rpcwire.ProposeArgs, uint64](atk, addr, "Raftha.Propose",
				rpcwire.ProposeArgs{Cmd: fsm.MustEncode(evil), Caller: &rpcwire.Caller{Identity: "alice", Role: "operate"}}))
			refused("add voter evil for a forged operate caller", call[rpcwire.MemberArgs, struct{}](atk, addr, "Raftha.AddMember",
				rpcwire.MemberArgs{ID: "evil", Address: "127.0.0.1:1", Role: "node", Caller: &rpcwire.Caller{Identity: "alice", Role: "operate"}}))
			refused("transfer for a forged operate caller", call[rpcwire.TransferArgs, struct{}](atk, addr, "Raftha.Transfer",
				rpcwire.TransferArgs{Group: "db", To: "n2", Timeout: 5 * time.Second, Caller: &rpcwire.Caller{Identity: "alice", Role: "operate"}}))
			// A forged takeover: Assign plus Fenced.
			refused("propose Assign", atk.propose(addr, &fsm.Assign{Header: fsm.Header{At: time.Now(), By: "leader"}, Group: "db", To: "n2", ExpectEpoch: before.Status.Epoch, Fence: true, Cause: fsm.CauseNodeLost, Reason: "forged"}))
			now := c.leader().srv.State().Groups["db"].Status.Epoch
			refused("propose Fenced", atk.propose(addr, &fsm.Fenced{Header: fsm.Header{At: time.Now(), By: "n2"}, Group: "db", Node: "n2", Epoch: now, Method: fsm.FencingAWSStop, Took: "1s"}))
			// A forged report for n1's group.
			refused("propose n1's report", atk.propose(addr, &fsm.Report{Header: fsm.Header{At: time.Now(), By: "n1"}, Group: "db", Node: "n1", Epoch: before.Status.Epoch, State: fsm.StateFailed, Reason: "forged"}))
			// Forged "leaving" heartbeats, for a while.
			for range 5 {
				refused("leaving heartbeat as n1", call[rpcwire.HeartbeatArgs, rpcwire.HeartbeatReply](atk, addr, "Raftha.Heartbeat",
					rpcwire.HeartbeatArgs{Node: "n1", Role: "node", Address: n1.Address, API: n1.API, Leaving: true, Settings: settings, Running: map[string]uint64{"db": before.Status.Epoch}}))
				time.Sleep(100 * time.Millisecond)
			}
			// Membership: add a voter "evil", remove n2.
			refused("add voter evil", call[rpcwire.MemberArgs, struct{}](atk, addr, "Raftha.AddMember", rpcwire.MemberArgs{ID: "evil", Address: "127.0.0.1:1", Role: "node", By: "operator"}))
			refused("remove n2", call[rpcwire.MemberArgs, struct{}](atk, addr, "Raftha.RemoveMember", rpcwire.MemberArgs{ID: "n2", By: "operator"}))
			refused("propose UpsertMember evil", atk.propose(addr, &fsm.UpsertMember{Header: fsm.Header{At: time.Now(), By: "operator"}, Member: fsm.Member{ID: "evil2", Role: fsm.RoleNode, Address: "127.0.0.1:2"}}))

			time.Sleep(1500 * time.Millisecond) // a few heartbeats and leader passes
			st := c.leader().srv.State()
			if _, ok := st.Groups["evil"]; ok {
				t.Errorf("group evil was created")
			}
			g := st.Groups["db"]
			if g.Status.Owner != "n1" || g.Status.Epoch != before.Status.Epoch || g.Status.State != fsm.StateOnline {
				t.Errorf("group db moved: owner %s epoch %d state %s (was n1 at %d online); reason %q", g.Status.Owner, g.Status.Epoch, g.Status.State, before.Status.Epoch, g.Status.Reason)
			}
			if m := st.Members["n1"]; m.InstanceID != n1.InstanceID {
				t.Errorf("n1's instance id rewritten to %q", m.InstanceID)
			}
			for _, id := range []string{"evil", "evil2"} {
				if _, ok := st.Members[id]; ok {
					t.Errorf("member %s was added", id)
				}
			}
			if _, ok := st.Members["n2"]; !ok {
				t.Errorf("member n2 was removed")
			}
			f := c.leader().srv.raft.GetConfiguration()
			if err := f.Error(); err != nil {
				t.Fatal(err)
			}
			for _, srv := range f.Configuration().Servers {
				if srv.ID == raft.ServerID("evil") {
					t.Errorf("voter evil is in the raft configuration")
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "pwned")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the forged group's command ran")
			}
		})
	}
}

// operatorCertRequest is an operator's certificate named name.
func operatorCertRequest(name string) transport.CertRequest {
	return transport.CertRequest{Name: name, Kind: transport.KindOperator}
}

// TestMemberDialsOnlyTheMemberItMeant: when another member's certificate
// answers at n2's address (here the witness's, after n2 stopped), n1's
// RPC and Raft dials refuse it.
func TestMemberDialsOnlyTheMemberItMeant(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w3")
	c.startAll()
	c.leader()
	c.waitHealthy()
	n2 := c.member("n2").cfg.Bind
	c.kill("n2")
	w3 := c.member("w3").cfg.TLS
	b, err := transport.Load(transport.Files{CA: w3.CA, Cert: w3.Cert, Key: w3.Key})
	if err != nil {
		t.Fatal(err)
	}
	var impostor *transport.Mux
	waitFor(t, 5*time.Second, "n2's port free", func() bool {
		impostor, err = transport.Listen(n2, "", b, nil)
		return err == nil
	})
	t.Cleanup(func() { impostor.Close() })
	impostor.Serve(func(c net.Conn, _ string) { c.Close() })
	n1 := c.member("n1").srv
	conn, err := n1.mux.DialRPC(ctxT(t, 5*time.Second), n2)
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, transport.ErrWrongPeer) {
		t.Errorf("n1 dialled n2's address and reached the witness: %v, want ErrWrongPeer", err)
	}
	conn, err = n1.mux.RaftLayer().Dial(raft.ServerAddress(n2), 5*time.Second)
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, transport.ErrWrongPeer) {
		t.Errorf("n1's raft stream to n2's address reached the witness: %v, want ErrWrongPeer", err)
	}
}
