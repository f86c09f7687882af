// Package leader owns what only the ready leader does: the leader loop, the failure detector, placement, takeover, failback and the leader half of operator calls.
package leader

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/server/internal/clock"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// Raft is the part of the member's Raft the leader uses. Every method
// that waits for raft returns when the member stops (the agent's adapter
// bounds them), and errors carry the agent's sentinels.
type Raft interface {
	// IsLeader reports whether raft is in the leader state now.
	IsLeader() bool
	// Barrier waits until every entry of earlier leaders is applied.
	Barrier(timeout time.Duration) error
	// AppliedIndex is raft's applied index (barriers included).
	AppliedIndex() uint64
	// CommitIndex is raft's commit index.
	CommitIndex() uint64
	// CurrentTerm is raft's current term.
	CurrentTerm() uint64
	// VerifyLeader confirms leadership with a quorum; it may block until
	// raft answers.
	VerifyLeader() error
	// Servers is the current Raft configuration.
	Servers() ([]raft.Server, error)
	// TransferLeadership hands leadership to id at addr.
	TransferLeadership(id raft.ServerID, addr raft.ServerAddress) error
	// AddVoter adds id at addr as a voter.
	AddVoter(id raft.ServerID, addr raft.ServerAddress, timeout time.Duration) error
	// RemoveServer removes id from the configuration.
	RemoveServer(id raft.ServerID, timeout time.Duration) error
}

// Host is what the leader asks of the agent around it.
type Host interface {
	// Commit proposes c through the leader path once (the leader's own
	// decisions).
	Commit(ctx context.Context, c fsm.Command) (uint64, error)
	// CommitLocal applies c on this member, which must lead: a deposed
	// leader gets the NotLeader error, never a forward.
	CommitLocal(c fsm.Command) (uint64, error)
	// Header is a command header by by ("" is this member).
	Header(by string) fsm.Header
	// SeedSettings records this member's settings when the log has none.
	SeedSettings()
	// Self is this member's record in the log.
	Self() fsm.Member
	// CheckAddressFree refuses addr for id when another member has it.
	CheckAddressFree(id, addr string) error
	// CheckSettings refuses node when its reported settings differ from
	// the log's, remembering why in r.
	CheckSettings(r *Refusals, node string, reported *fsm.ClusterSettings) error
	// RefusedSettings says why node is refused for its settings ("" when
	// it is not).
	RefusedSettings(r *Refusals, node string) string
	// Failover counts an ownership change of group for cause.
	Failover(group string, cause fsm.Cause)
	// Transferred counts a planned move's result ("ok" or "failed").
	Transferred(result string)
}

// Config is what the leader needs: plain values and the two interfaces.
type Config struct {
	NodeID string
	Role   fsm.Role
	// Members are the configured members, seeded in the log by a new
	// leader while they are voters.
	Members []config.MemberConfig
	Timing  decide.Timing
	// SelfSettings are this member's configured settings, which a pass
	// decides from until the log has the cluster's.
	SelfSettings fsm.ClusterSettings
	FSM          *fsm.FSM
	Raft         Raft
	Host         Host
	// Gather is how long a heartbeat's leadership check waits for
	// others to share its VerifyLeader round (GatherWindow in the agent;
	// 0 gives every heartbeat a round of its own).
	Gather time.Duration
	// Clock is the time every decision, timer and timestamp of the
	// leader reads.
	Clock    clock.Clock
	Logger   hclog.Logger
	LogLimit *ratelog.Limiter
	// LastAnswer is the last answer to this member's heartbeat (the
	// previous leader, when it was one), nil when it has no lease.
	LastAnswer func() (string, time.Time)
	// Leaving reports whether this member is shutting down.
	Leaving func() bool
	// Resource summaries are bounded again on the leader (a sender may be
	// of another version): groups and resources per report, error text.
	MaxReportGroups, MaxReportResources int
	CutError                            func(string) string
}

// Leader runs the leader loop while this member leads, and answers the
// leader half of member and operator calls.
type Leader struct {
	cfg Config
	ctx context.Context // the member's lifetime

	verify *verifier // shares VerifyLeader rounds (verify.go)

	mu   sync.Mutex
	term *Term // non-nil while leader and ready
}

// New returns the leader role of a member living as long as ctx.
func New(ctx context.Context, cfg Config) *Leader {
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.LogLimit == nil {
		cfg.LogLimit = &ratelog.Limiter{}
	}
	l := &Leader{cfg: cfg, ctx: ctx}
	l.verify = &verifier{verify: func() error { return l.cfg.Raft.VerifyLeader() }, clock: cfg.Clock, expect: l.memberCount}
	return l
}

// Ready returns this leadership's state while this member is the ready
// leader (its post-election barrier done), else nil.
func (l *Leader) Ready() *Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term
}

// newContacts is the failure detector of a leader that is ready now:
// readiness on clk, then the previous leader as the last answer to this
// member's heartbeat names it (decide.NewContacts reads it after
// readiness, so an answer that came before readiness always counts).
// memberCount is how many members the raft configuration holds (each
// heartbeats once an interval), 0 when it cannot be read.
func (l *Leader) memberCount() int {
	servers, err := l.cfg.Raft.Servers()
	if err != nil {
		return 0
	}
	return len(servers)
}

func (l *Leader) newContacts(clk clock.Clock) *decide.Contacts {
	return decide.NewContacts(clk, l.cfg.NodeID, l.cfg.Timing, l.cfg.LastAnswer, l.cfg.Leaving)
}

// Monitor starts the leader loop on gaining leadership and cancels it on
// losing it, until the member's context ends.
func (l *Leader) Monitor(notify <-chan bool) {
	type run struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cur *run
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	for {
		select {
		case isLeader := <-notify:
			if isLeader && cur == nil {
				ctx, cancel := context.WithCancel(l.ctx)
				cur = &run{cancel: cancel, done: make(chan struct{})}
				go func(done chan struct{}) {
					defer close(done)
					l.loop(ctx)
				}(cur.done)
			} else if !isLeader {
				stop()
			}
		case <-l.ctx.Done():
			return
		}
	}
}

// sleep waits d on the leader's clock; false when ctx ended first.
func (l *Leader) sleep(ctx context.Context, d time.Duration) bool {
	t := l.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (l *Leader) loop(ctx context.Context) {
	log := l.cfg.Logger.Named("leader")
	log.Info("gained leadership; waiting for a barrier before acting")
	// Consul's pattern: a Barrier guarantees the FSM holds every entry
	// committed by earlier leaders before this one decides anything. The
	// raft term is read before it: a barrier that completed in a later
	// term (leadership lost and won again meanwhile) belongs to that
	// term's loop, not this one.
	raftTerm := l.cfg.Raft.CurrentTerm()
	for {
		err := l.cfg.Raft.Barrier(l.cfg.Timing.FailoverTimeout * 2)
		if err == nil {
			break
		}
		log.Warn("barrier failed", "error", err)
		if !l.sleep(ctx, l.cfg.Timing.Heartbeat) {
			return
		}
	}
	// Record the configured members before anyone can call us ready, so
	// that the first group apply already sees them.
	l.seedMembers()
	l.cfg.Host.SeedSettings()
	// Barrier and no-op entries never reach the FSM, so the FSM's own
	// index can stay below the commit index. Nothing else is proposed
	// before readiness (Propose, Transfer and membership calls wait for
	// it), so raft's applied index here is fully applied to the FSM.
	if now := l.cfg.Raft.CurrentTerm(); now != raftTerm {
		// Monitor stops this loop at the notification of the loss and
		// starts the next term's at the following one.
		log.Warn("leadership changed while waiting for the barrier; this term is never ready", "term", raftTerm, "now", now)
		<-ctx.Done()
		return
	}
	t := l.newTerm(l.cfg.Raft.AppliedIndex(), raftTerm)
	l.mu.Lock()
	l.term = t
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.term = nil
		l.mu.Unlock()
		log.Info("leadership lost; leader duties stopped")
	}()
	log.Info("leader ready", "applied_index", t.readyIndex, "term", l.cfg.Raft.CurrentTerm())
	// The checks run on the heartbeat's wall-clock boundaries, with the
	// members' heartbeats (clock.NextBoundary): an idle leader wakes once
	// an interval for both. A member's failover_timeout that ends before
	// the next boundary wakes the loop when it ends (UntilNextLoss), so a
	// lost owner is noticed then, not up to a heartbeat later.
	hb := l.cfg.Timing.Heartbeat
	next := func() time.Duration {
		d := clock.NextBoundary(l.cfg.Clock.Now(), hb)
		if u, ok := t.c.UntilNextLoss(); ok && u < d {
			d = u
		}
		return d
	}
	tick := l.cfg.Clock.NewTimer(next())
	defer tick.Stop()
	for {
		l.reconcile(ctx, t)
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			tick.Reset(next())
		case <-l.cfg.FSM.Changed():
		}
	}
}

// newTerm is the state of a leadership ready now, every entry up to
// readyIndex applied.
func (l *Leader) newTerm(readyIndex, raftTerm uint64) *Term {
	return &Term{l: l, c: l.newContacts(l.cfg.Clock), readyIndex: readyIndex, raftTerm: raftTerm, noted: map[string]bool{}, pending: map[string]rpcwire.HeartbeatArgs{}}
}

// seedMembers records the configured members (roles and addresses) and
// this member's own API address in the log. A configured member is seeded
// only while it is a voter in the Raft configuration: `raftha members
// remove` takes a member out of the log and then out of Raft, and a later
// leader whose config file still lists it must not bring it back
// (TestRemoveMemberLogFirst failed that way whenever another member won
// the election after the removed leader stepped down).
func (l *Leader) seedMembers() {
	st := l.cfg.FSM.View()
	h := l.cfg.Host
	voters := map[string]bool{}
	if servers, err := l.cfg.Raft.Servers(); err == nil {
		for _, srv := range servers {
			voters[string(srv.ID)] = true
		}
	} else {
		l.cfg.Logger.Warn("cannot read the raft configuration; not seeding configured members", "error", err)
	}
	for _, m := range l.cfg.Members {
		if _, ok := st.Members[m.ID]; ok || !voters[m.ID] {
			continue
		}
		c := &fsm.UpsertMember{Header: h.Header(""), Member: fsm.Member{ID: m.ID, Role: fsm.Role(m.Role), Address: m.Address}}
		if _, err := h.CommitLocal(c); err != nil {
			l.cfg.Logger.Warn("could not record member", "id", m.ID, "error", err)
		}
	}
	self := h.Self()
	if m, ok := st.Members[self.ID]; !ok || m.API != self.API || m.Address != self.Address || m.InstanceID != self.InstanceID {
		if _, err := h.CommitLocal(&fsm.UpsertMember{Header: h.Header(""), Member: self}); err != nil {
			l.cfg.Logger.Warn("could not record this member", "error", err)
		}
	}
}

// reconcile is one pass of the leader's decisions.
func (l *Leader) reconcile(ctx context.Context, t *Term) {
	if !l.cfg.Raft.IsLeader() {
		return
	}
	h := l.cfg.Host
	t.mu.Lock()
	pending := t.pending
	t.pending = map[string]rpcwire.HeartbeatArgs{}
	t.mu.Unlock()
	for _, a := range pending {
		c := &fsm.UpsertMember{Header: h.Header(a.Node), Member: fsm.Member{ID: a.Node, Role: fsm.Role(a.Role), Address: a.Address, API: a.API, InstanceID: a.InstanceID}, UpdateOnly: true}
		if _, err := h.Commit(ctx, c); err != nil {
			l.cfg.Logger.Warn("member registration refused", "id", a.Node, "error", err)
		}
	}
	st := l.cfg.FSM.View()
	var inFlight sync.WaitGroup
	slots := make(chan struct{}, maxParallelCommits)
	concurrently := func(fn func()) {
		inFlight.Add(1)
		slots <- struct{}{}
		go func() {
			defer inFlight.Done()
			defer func() { <-slots }()
			fn()
		}()
	}
	in := t.input(st)
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		if d := decide.Next(in, g); d.Rule == decide.RuleTakeover {
			// Concurrently: raft commits the pass's takeovers in one
			// batch, so the winner fences a lost owner once for all
			// its groups (fenceround.go), not once per commit.
			concurrently(func() { t.takeover(ctx, in, g) })
		} else if d.Rule == decide.RulePlace && d.Action == decide.Assign {
			// Concurrently too: each placement expects its own group's
			// epoch, so they are independent, and raft commits them
			// in batches (one fsync each), not one round trip apiece.
			concurrently(func() { t.act(ctx, st, g, d) })
		} else {
			t.act(ctx, st, g, d)
		}
	}
	inFlight.Wait()
	t.handOverLeadership(st)
}

// maxParallelCommits bounds the takeovers and placements one leader
// pass commits at once. Takeovers past it commit after a slot frees, which may be after
// the winner's fence began: they then cost one more fence round.
const maxParallelCommits = 256
