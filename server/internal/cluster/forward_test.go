package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// TestTookNoEffect: only refusals that took no effect are retried; a
// leadership lost mid-apply may still commit and is never sent again.
// (The server's raftErr maps raft's errors onto these sentinels; its own
// test checks that mapping.)
func TestTookNoEffect(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errs.ErrNoLeader, true},
		{fmt.Errorf("%w: leader not ready yet", errs.ErrNotLeader), true},
		{Codec.Decode(Codec.Encode(errs.ErrNotLeader)), true},
		{fmt.Errorf("forward to leader n1: %w", fmt.Errorf("%w 127.0.0.1:1: refused", transport.ErrDial)), true},
		{errs.ErrLeadershipLost, false},
		{Codec.Decode(Codec.Encode(errs.ErrLeadershipLost)), false},
		{fmt.Errorf("%w: stale", fsm.ErrStaleEpoch), false},
		{errors.New("call Raftha.Transfer on x: connection lost"), false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("%w: %v (leadership is moving to another member)", errs.ErrNotLeader, raft.ErrLeadershipTransferInProgress), true},
		{fmt.Errorf("%w: %v", errs.ErrNotLeader, raft.ErrNotLeader), true},
		{fmt.Errorf("%w: %v", errs.ErrLeadershipLost, raft.ErrLeadershipLost), false},
	} {
		if got := tookNoEffect(tc.err); got != tc.want {
			t.Errorf("tookNoEffect(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestDefinitive: a lease call stops at a leader's answer, and tries the
// other paths when only a path failed.
func TestDefinitive(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: group g", errs.ErrNotOwner), true},
		{Codec.Decode(Codec.Encode(fmt.Errorf("%w: n2 for n1", errs.ErrForbidden))), true},
		{fmt.Errorf("%w: stale", fsm.ErrStaleEpoch), true},
		{errs.ErrNotLeader, false},
		{errs.ErrNoLeader, false},
		{fmt.Errorf("%w: not verified", errs.ErrNoQuorum), false},
		{context.DeadlineExceeded, false},
		{errs.ErrLeadershipLost, false},
		{fmt.Errorf("via n3: %w", transport.ErrDial), false},
	} {
		if got := definitive(tc.err); got != tc.want {
			t.Errorf("definitive(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// fakeHost is a Host and Local with no Raft: who leads is a field, and
// the leader's side records what it ran.
type fakeHost struct {
	leading    bool
	leaderID   string
	servers    []raft.Server
	open       bool
	ran        []string
	appliedCmd []byte
}

func (h *fakeHost) Leading() bool             { return h.leading }
func (h *fakeHost) Leader() (addr, id string) { return "", h.leaderID }
func (h *fakeHost) Servers() ([]raft.Server, bool) {
	return h.servers, h.open
}
func (h *fakeHost) RoleOf(identity string, _ transport.CertKind) api.Role {
	if identity == "ops" {
		return api.RoleOperate
	}
	return api.RoleRead
}
func (h *fakeHost) Heartbeat(context.Context, rpcwire.HeartbeatArgs) (map[string]uint64, error) {
	h.ran = append(h.ran, "heartbeat")
	return map[string]uint64{"g": 3}, nil
}
func (h *fakeHost) Confirm(_ context.Context, group, node string, epoch uint64) error {
	h.ran = append(h.ran, "confirm")
	return nil
}
func (h *fakeHost) Apply(cmd []byte) (uint64, error) {
	h.ran = append(h.ran, "apply")
	h.appliedCmd = cmd
	return 7, nil
}
func (h *fakeHost) AddMember(context.Context, rpcwire.MemberArgs) error {
	h.ran = append(h.ran, "add")
	return nil
}
func (h *fakeHost) RemoveMember(context.Context, string, string) error {
	h.ran = append(h.ran, "remove")
	return nil
}
func (h *fakeHost) Status(context.Context) (*api.Status, error) {
	h.ran = append(h.ran, "status")
	return &api.Status{}, nil
}
func (h *fakeHost) Transfer(context.Context, string, string, string) (api.GroupStatus, error) {
	h.ran = append(h.ran, "transfer")
	return api.GroupStatus{}, nil
}
func (h *fakeHost) Probe(string) (rpcwire.ProbeReply, error) {
	h.ran = append(h.ran, "probe")
	return rpcwire.ProbeReply{LastIndex: 9}, nil
}

// newTestCluster is member n1 of n1 (node), n2 (node), w3 (witness), with
// no pools: a call that would be sent fails the test by panicking.
func newTestCluster(t *testing.T, h *fakeHost) *Cluster {
	t.Helper()
	cfg := config.Config{NodeID: "n1", Members: []config.MemberConfig{
		{ID: "n1", Role: config.RoleNode, Address: "127.0.0.1:1"},
		{ID: "n2", Role: config.RoleNode, Address: "127.0.0.1:2"},
		{ID: "w3", Role: config.RoleWitness, Address: "127.0.0.1:3"},
	}}
	cfg.Timing.Lease = config.Duration(time.Second)
	cfg.Timing.Heartbeat = config.Duration(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return New(Deps{Config: cfg, FSM: fsm.New(), Logger: hclog.NewNullLogger(), LogLimit: &ratelog.Limiter{}, Ctx: ctx, Host: h, Local: h})
}

// TestForwardHereOrRefused: the ready leader runs a call itself; a member
// that knows no leader, or is a leader not ready yet, refuses it without
// sending anything, and a retried call gives up within forwardHold.
func TestForwardHereOrRefused(t *testing.T) {
	h := &fakeHost{leading: true, leaderID: "n1"}
	c := newTestCluster(t, h)
	if err := c.RemoveMember(context.Background(), rpcwire.MemberArgs{ID: "n9"}); err != nil || len(h.ran) != 1 || h.ran[0] != "remove" {
		t.Fatalf("ready leader: err %v, ran %v; want the local call run once", err, h.ran)
	}
	h.leading, h.leaderID, h.ran = false, "", nil
	if _, err := c.Status(context.Background()); !errors.Is(err, errs.ErrNoLeader) || h.ran != nil {
		t.Fatalf("no leader: err %v, ran %v; want ErrNoLeader, nothing run", err, h.ran)
	}
	h.leaderID = "n1" // raft leader, barrier not done
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.AddMember(ctx, rpcwire.MemberArgs{ID: "n9"})
	if !errors.Is(err, errs.ErrNotLeader) || h.ran != nil {
		t.Fatalf("leader not ready: err %v, ran %v; want ErrNotLeader, nothing run", err, h.ran)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("a retried call gave up after %s, before its context ended", d)
	}
}

// TestServeBindsThePeer: on the leader, the endpoint runs a call only
// for the member the stream's certificate proved, refuses a non-member,
// and a follower refuses every leader call.
func TestServeBindsThePeer(t *testing.T) {
	h := &fakeHost{leading: true, leaderID: "n1"}
	c := newTestCluster(t, h)
	hb := func(peer, node, role string) error {
		var r rpcwire.Reply[rpcwire.HeartbeatReply]
		if err := c.Endpoint(peer).(*endpoint).Heartbeat(rpcwire.HeartbeatArgs{Node: node, Role: role}, &r); err != nil {
			t.Fatal(err)
		}
		if err := Codec.Decode(r.Err); err != nil {
			return err
		}
		if r.Result.Leader != "n1" || r.Result.Owned["g"] != 3 {
			t.Fatalf("heartbeat reply %+v", r.Result)
		}
		return nil
	}
	if err := hb("n2", "n2", "node"); err != nil {
		t.Fatalf("own heartbeat refused: %v", err)
	}
	for _, tc := range []struct{ peer, node, role string }{
		{"n2", "n1", "node"},    // for another member
		{"w3", "w3", "node"},    // claims another role
		{"x9", "x9", "node"},    // not a member
		{"", "n2", "node"},      // no identity
		{"w3", "n2", "witness"}, // witness for a node
	} {
		if err := hb(tc.peer, tc.node, tc.role); !errors.Is(err, errs.ErrForbidden) {
			t.Errorf("heartbeat %+v: %v, want ErrForbidden", tc, err)
		}
	}
	var pr rpcwire.ProbeReply
	if err := c.Endpoint("n2").(*endpoint).Probe(rpcwire.ProbeArgs{Node: "n1"}, &pr); !errors.Is(err, errs.ErrForbidden) {
		t.Errorf("probe for another member: %v, want ErrForbidden", err)
	}
	h.leading = false
	if err := hb("n2", "n2", "node"); !errors.Is(err, errs.ErrNotLeader) {
		t.Errorf("follower served a heartbeat: %v, want ErrNotLeader", err)
	}
	if len(h.ran) != 1 {
		t.Errorf("leader side ran %v, want one heartbeat", h.ran)
	}
}

// TestAuthorizeProposal: a member proposes only what an owner says about
// itself, or an operator's command carrying an API caller with the operate
// role on this leader, recorded as its author; never what only the leader
// originates.
func TestAuthorizeProposal(t *testing.T) {
	c := newTestCluster(t, &fakeHost{leading: true, leaderID: "n1"})
	ops := &rpcwire.Caller{Identity: "ops", Role: string(api.RoleRead)}
	reader := &rpcwire.Caller{Identity: "viewer", Role: string(api.RoleOperate)} // the role sent does not count
	for _, tc := range []struct {
		name   string
		peer   string
		cmd    fsm.Command
		caller *rpcwire.Caller
		by     string // "" when refused
	}{
		{"own report", "n2", &fsm.Report{Node: "n2", Group: "g"}, nil, "n2"},
		{"report for another", "n2", &fsm.Report{Node: "n1", Group: "g"}, nil, ""},
		{"witness report", "w3", &fsm.Report{Node: "w3", Group: "g"}, nil, ""},
		{"own fence", "n2", &fsm.Fenced{Node: "n2"}, nil, "n2"},
		{"leader's note", "n2", &fsm.Note{Node: "n2", Kind: fsm.KindTakeover}, nil, ""},
		{"own self-fence note", "n2", &fsm.Note{Node: "n2", Kind: fsm.KindSelfFenced}, nil, "n2"},
		{"operator suspend", "n2", &fsm.SetSuspended{Group: "g"}, ops, "ops"},
		{"operator without caller", "n2", &fsm.SetSuspended{Group: "g"}, nil, ""},
		{"reader's suspend", "n2", &fsm.SetSuspended{Group: "g"}, reader, ""},
		{"operator via witness", "w3", &fsm.SetSuspended{Group: "g"}, ops, ""},
		{"local Go caller", "n2", &fsm.DeleteGroup{Name: "g"}, &rpcwire.Caller{Identity: "svc", Local: true}, "svc"},
		{"settings seed", "n2", &fsm.SetClusterSettings{Seed: true}, ops, ""},
		{"assign", "n2", &fsm.Assign{Group: "g", To: "n2"}, ops, ""},
	} {
		a := rpcwire.ProposeArgs{Cmd: fsm.MustEncode(tc.cmd), Caller: tc.caller}
		err := c.authorizeProposal(tc.peer, &a)
		if tc.by == "" {
			if !errors.Is(err, errs.ErrForbidden) {
				t.Errorf("%s: %v, want ErrForbidden", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: refused: %v", tc.name, err)
			continue
		}
		got, err := fsm.Decode(a.Cmd)
		if err != nil {
			t.Fatal(err)
		}
		if by := fsm.HeaderOf(got).By; by != tc.by {
			t.Errorf("%s: recorded author %q, want %q", tc.name, by, tc.by)
		}
	}
}
