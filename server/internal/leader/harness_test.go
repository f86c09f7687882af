package leader

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/errs"
)

// The leader's unit tests run a real FSM in memory, a fake raft (this
// member leads, every command applies at the next index) and a fake
// clock: no cluster, no sleeps.

var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	timing = decide.Timing{Heartbeat: 100 * time.Millisecond, Lease: 1500 * time.Millisecond, FailoverTimeout: 2 * time.Second}
	awsCS  = fsm.ClusterSettings{FencingMode: fsm.FencingAWSStop, Heartbeat: 100 * time.Millisecond, Lease: 1500 * time.Millisecond, StopDeadline: time.Second}

	errNotLeader = errs.ErrNotLeader
	errNoQuorum  = errs.ErrNoQuorum
	errNotOwner  = errs.ErrNotOwner
	errRefused   = errs.ErrRefused
	errMismatch  = errs.ErrSettingsMismatch
	errInProg    = errs.ErrInProgress
)

// fakeRaft is a raft where this member leads and every server votes.
type fakeRaft struct {
	f       *fsm.FSM
	servers []raft.Server
	mu      sync.Mutex
	handed  []string // leadership transfers asked
}

func (r *fakeRaft) IsLeader() bool                  { return true }
func (r *fakeRaft) Barrier(time.Duration) error     { return nil }
func (r *fakeRaft) AppliedIndex() uint64            { return r.f.AppliedIndex() }
func (r *fakeRaft) CommitIndex() uint64             { return r.f.AppliedIndex() }
func (r *fakeRaft) CurrentTerm() uint64             { return 2 }
func (r *fakeRaft) VerifyLeader() error             { return nil }
func (r *fakeRaft) Servers() ([]raft.Server, error) { return r.servers, nil }
func (r *fakeRaft) TransferLeadership(id raft.ServerID, _ raft.ServerAddress) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handed = append(r.handed, string(id))
	return nil
}
func (r *fakeRaft) AddVoter(raft.ServerID, raft.ServerAddress, time.Duration) error { return nil }
func (r *fakeRaft) RemoveServer(raft.ServerID, time.Duration) error                 { return nil }

// fakeHost applies every command to the FSM at the next index, on the
// fake clock, and keeps what was committed.
type fakeHost struct {
	f   *fsm.FSM
	clk *clock.Fake
	mu  sync.Mutex
	log []fsm.Command
	fo  []string // failovers counted: group/cause
}

func (h *fakeHost) Commit(_ context.Context, c fsm.Command) (uint64, error) { return h.CommitLocal(c) }
func (h *fakeHost) CommitLocal(c fsm.Command) (uint64, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	res, _ := h.f.Apply(&raft.Log{Index: h.f.AppliedIndex() + 1, Type: raft.LogCommand, Data: data}).(fsm.Result)
	if res.Err == nil {
		h.log = append(h.log, c)
	}
	return res.Epoch, res.Err
}
func (h *fakeHost) Header(by string) fsm.Header {
	if by == "" {
		by = "w1"
	}
	return fsm.Header{At: h.clk.Now(), By: by}
}
func (h *fakeHost) SeedSettings()                      {}
func (h *fakeHost) Self() fsm.Member                   { return fsm.Member{ID: "w1", Role: fsm.RoleWitness} }
func (h *fakeHost) CheckAddressFree(_, _ string) error { return nil }
func (h *fakeHost) CheckSettings(*Refusals, string, *fsm.ClusterSettings) error {
	return nil
}
func (h *fakeHost) RefusedSettings(r *Refusals, node string) string { return r.Get(node) }
func (h *fakeHost) Failover(group string, cause fsm.Cause) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fo = append(h.fo, group+"/"+string(cause))
}
func (h *fakeHost) Transferred(string) {}

// committed returns the commands committed since the i-th.
func (h *fakeHost) committed(i int) []fsm.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fsm.Command(nil), h.log[i:]...)
}

// rig is one ready leader (w1, a witness) over members n1..n3 and the
// groups given, at t0.
type rig struct {
	t    *testing.T
	clk  *clock.Fake
	f    *fsm.FSM
	host *fakeHost
	l    *Leader
	term *Term
}

func newRig(t *testing.T, groups ...*fsm.Group) *rig {
	t.Helper()
	st := fsm.NewState()
	for _, id := range []string{"n1", "n2", "n3"} {
		st.Members[id] = &fsm.Member{ID: id, Role: fsm.RoleNode, Address: "127.0.0.1:1"}
	}
	st.Members["w1"] = &fsm.Member{ID: "w1", Role: fsm.RoleWitness}
	cs := awsCS
	st.Settings = &cs
	st.Index = 10
	for _, g := range groups {
		st.Groups[g.Spec.Name] = g
	}
	var buf bytes.Buffer
	if err := fsm.WriteSnapshot(&buf, st); err != nil {
		t.Fatal(err)
	}
	f := fsm.New()
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	host := &fakeHost{f: f, clk: clk}
	var servers []raft.Server
	for _, id := range []string{"n1", "n2", "n3", "w1"} {
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":1"), Suffrage: raft.Voter})
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := New(ctx, Config{NodeID: "w1", Role: fsm.RoleWitness, Timing: timing, SelfSettings: cs, FSM: f,
		Raft: &fakeRaft{f: f, servers: servers}, Host: host, Clock: clk,
		MaxReportGroups: 4, MaxReportResources: 2})
	term := l.newTerm(f.AppliedIndex(), 2)
	l.mu.Lock()
	l.term = term
	l.mu.Unlock()
	return &rig{t: t, clk: clk, f: f, host: host, l: l, term: term}
}

// beat sends a heartbeat from each of nodes.
func (r *rig) beat(nodes ...string) {
	r.t.Helper()
	for _, n := range nodes {
		if _, err := r.l.Heartbeat(context.Background(), hb(n)); err != nil {
			r.t.Fatalf("heartbeat of %s: %v", n, err)
		}
	}
}

// run advances the clock d, one heartbeat at a time: nodes heartbeat and
// the leader makes a pass at each step. It returns the time of the first
// pass that committed something, or the zero time.
func (r *rig) run(d time.Duration, nodes ...string) time.Time {
	r.t.Helper()
	for end := r.clk.Now().Add(d); r.clk.Now().Before(end); {
		r.clk.Advance(timing.Heartbeat)
		r.beat(nodes...)
		n := len(r.host.committed(0))
		r.l.reconcile(context.Background(), r.term)
		if len(r.host.committed(n)) > 0 {
			return r.clk.Now()
		}
	}
	return time.Time{}
}

func group(name string, nodes []string, gs fsm.GroupStatus) *fsm.Group {
	return &fsm.Group{Spec: fsm.GroupSpec{Name: name, Nodes: nodes}, Status: gs}
}
