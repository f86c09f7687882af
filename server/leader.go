package server

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
	"github.com/raftha/raftha/server/internal/decide"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// leaderState is what only the ready leader knows: when it last heard from
// each member (the failure detector, decide.Contacts), and since when it
// leads.
type leaderState struct {
	// contactMu orders lease renewals (heartbeats, confirms: contact
	// recorded and the log read; write lock) against takeover decisions
	// (silence measured and the takeover committed; read lock, so that
	// the takeovers of one pass commit together). See takeover.
	contactMu  sync.RWMutex
	s          *Server
	c          *decide.Contacts // when each member was last heard from; its clock
	readyIndex uint64           // every entry up to here was applied at readiness

	mu    sync.Mutex
	noted map[string]bool

	lastHandover time.Time                        // witness only
	pending      map[string]rpcwire.HeartbeatArgs // member updates to register
	refused      map[string]string                // members refused for their settings: why

	fb fenceBack // running reports and checks for takeovers back

	res resStore // owners' resource summaries, for status (resstate.go)

	disk diskSeen // peers' disk heartbeats as the nodes saw them (diskpath.go)

	failedAll map[string]failedAll // groups failed everywhere (autoretry.go), under mu
}

// The failure detector's questions, asked of decide.Contacts.

func (ls *leaderState) setLeaving(node string, v bool)       { ls.c.SetLeaving(node, v) }
func (ls *leaderState) setRelayed(node string, v bool)       { ls.c.SetRelayed(node, v) }
func (ls *leaderState) reachedDirectly(node string) bool     { return ls.c.ReachedDirectly(node) }
func (ls *leaderState) isLeaving(node string) bool           { return ls.c.Leaving(node) }
func (ls *leaderState) seen(node string)                     { ls.c.Seen(node) }
func (ls *leaderState) heard(node string) bool               { return ls.c.Heard(node) }
func (ls *leaderState) healthyFor(node string) time.Duration { return ls.c.HealthyFor(node) }
func (ls *leaderState) lastContact(node string) time.Duration {
	return ls.c.LastContact(node)
}
func (ls *leaderState) describeContact(node string) string { return ls.c.DescribeContact(node) }
func (ls *leaderState) healthy(node string) bool           { return ls.c.Healthy(node) }
func (ls *leaderState) lost(node string) bool              { return ls.c.Lost(node) }

func (ls *leaderState) register(a rpcwire.HeartbeatArgs) {
	ls.mu.Lock()
	ls.pending[a.Node] = a
	ls.mu.Unlock()
}

// input is what a pass of the leader decides from (decide.Input).
func (ls *leaderState) input(st *fsm.State) decide.Input {
	return decide.Input{State: st, Contacts: ls.c, Settings: ls.s.settingsOf(st)}
}

// newContacts is the failure detector of a leader that is ready now:
// readiness on clk, then the previous leader as the last answer to this
// member's heartbeat names it (decide.NewContacts reads it after
// readiness, so an answer that came before readiness always counts).
func (s *Server) newContacts(clk clock.Clock) *decide.Contacts {
	var lastAnswer func() (string, time.Time)
	if s.lease != nil {
		lastAnswer = s.lease.lastAnswer
	}
	t := s.cfg.Timing
	return decide.NewContacts(clk, s.cfg.NodeID, decide.Timing{Heartbeat: t.Heartbeat.D(), Lease: t.Lease.D(), FailoverTimeout: t.FailoverTimeout.D()}, lastAnswer, s.leaving.Load)
}

func (s *Server) leader() *leaderState {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.leaderState
}

// monitorLeadership starts the leader loop on gaining leadership and
// cancels it on losing it.
func (s *Server) monitorLeadership() {
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
		case isLeader := <-s.notify:
			if isLeader && cur == nil {
				ctx, cancel := context.WithCancel(s.ctx)
				cur = &run{cancel: cancel, done: make(chan struct{})}
				go func(done chan struct{}) {
					defer close(done)
					s.leaderLoop(ctx)
				}(cur.done)
			} else if !isLeader {
				stop()
			}
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) leaderLoop(ctx context.Context) {
	log := s.logger.Named("leader")
	log.Info("gained leadership; waiting for a barrier before acting")
	// Consul's pattern: a Barrier guarantees the FSM holds every entry
	// committed by earlier leaders before this one decides anything.
	for {
		if err := s.futureErr(s.raft.Barrier(s.cfg.Timing.FailoverTimeout.D() * 2)); err == nil {
			break
		} else {
			log.Warn("barrier failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.Timing.Heartbeat.D()):
		}
	}
	// Record the configured members before anyone can call us ready, so
	// that the first group apply already sees them.
	s.seedMembers(ctx)
	s.seedSettings()
	// Barrier and no-op entries never reach the FSM, so the FSM's own
	// index can stay below the commit index. Nothing else is proposed
	// before readiness (Propose, Transfer and membership calls wait for
	// it), so raft's applied index here is fully applied to the FSM.
	ls := &leaderState{s: s, c: s.newContacts(clock.System{}), readyIndex: s.raft.AppliedIndex(), noted: map[string]bool{}, pending: map[string]rpcwire.HeartbeatArgs{}, refused: map[string]string{}}
	s.leaderMu.Lock()
	s.leaderState = ls
	s.leaderMu.Unlock()
	defer func() {
		s.leaderMu.Lock()
		s.leaderState = nil
		s.leaderMu.Unlock()
		log.Info("leadership lost; leader duties stopped")
	}()
	log.Info("leader ready", "applied_index", ls.readyIndex, "term", s.raft.CurrentTerm())
	tick := time.NewTicker(s.cfg.Timing.Heartbeat.D())
	defer tick.Stop()
	for {
		s.leaderReconcile(ctx, ls)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.fsm.Changed():
		}
	}
}

// seedMembers records the configured members (roles and addresses) and
// this member's own API address in the log. A configured member is seeded
// only while it is a voter in the Raft configuration: `raftha members
// remove` takes a member out of the log and then out of Raft, and a later
// leader whose config file still lists it must not bring it back
// (TestRemoveMemberLogFirst failed that way whenever another member won
// the election after the removed leader stepped down).
func (s *Server) seedMembers(_ context.Context) {
	st := s.fsm.View()
	voters := map[string]bool{}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			voters[string(srv.ID)] = true
		}
	} else {
		s.logger.Warn("cannot read the raft configuration; not seeding configured members", "error", f.Error())
	}
	for _, m := range s.cfg.Members {
		if _, ok := st.Members[m.ID]; ok || !voters[m.ID] {
			continue
		}
		c := &fsm.UpsertMember{Header: s.header(""), Member: fsm.Member{ID: m.ID, Role: fsm.Role(m.Role), Address: m.Address}}
		if _, err := s.commitLocal(c); err != nil {
			s.logger.Warn("could not record member", "id", m.ID, "error", err)
		}
	}
	self := s.selfMember()
	if m, ok := st.Members[self.ID]; !ok || m.API != self.API || m.Address != self.Address || m.InstanceID != self.InstanceID {
		if _, err := s.commitLocal(&fsm.UpsertMember{Header: s.header(""), Member: self}); err != nil {
			s.logger.Warn("could not record this member", "error", err)
		}
	}
}

func (s *Server) selfMember() fsm.Member {
	return fsm.Member{ID: s.cfg.NodeID, Role: fsm.Role(s.cfg.Role), Address: s.RaftAddr(), API: s.advertisedAPI(), InstanceID: s.instanceID()}
}

// instanceID is the EC2 instance id others fence this member by (resolved
// from IMDSv2 at start when configured as auto).
func (s *Server) instanceID() string { return s.instance }

// leaderReconcile is one pass of the leader's decisions.
func (s *Server) leaderReconcile(ctx context.Context, ls *leaderState) {
	if s.raft.State() != raft.Leader {
		return
	}
	ls.mu.Lock()
	pending := ls.pending
	ls.pending = map[string]rpcwire.HeartbeatArgs{}
	ls.mu.Unlock()
	for _, a := range pending {
		c := &fsm.UpsertMember{Header: s.header(a.Node), Member: fsm.Member{ID: a.Node, Role: fsm.Role(a.Role), Address: a.Address, API: a.API, InstanceID: a.InstanceID}, UpdateOnly: true}
		if _, err := s.commit(ctx, c); err != nil {
			s.logger.Warn("member registration refused", "id", a.Node, "error", err)
		}
	}
	st := s.fsm.View()
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
	in := ls.input(st)
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		if d := decide.Next(in, g); d.Rule == decide.RuleTakeover {
			// Concurrently: raft commits the pass's takeovers in one
			// batch, so the winner fences a lost owner once for all
			// its groups (fenceround.go), not once per commit.
			concurrently(func() { s.takeover(ctx, ls, in, g) })
		} else if d.Rule == decide.RulePlace && d.Action == decide.Assign {
			// Concurrently too: each placement expects its own group's
			// epoch, so they are independent, and raft commits them
			// in batches (one fsync each), not one round trip apiece.
			concurrently(func() { s.act(ctx, ls, st, g, d) })
		} else {
			s.act(ctx, ls, st, g, d)
		}
	}
	inFlight.Wait()
	s.handOverLeadership(ls, st)
}

// maxParallelCommits bounds the takeovers and placements one leader
// pass commits at once. Takeovers past it commit after a slot frees, which may be after
// the winner's fence began: they then cost one more fence round.
const maxParallelCommits = 256

// healthyNodes lists the members the leader heard from recently.
func (ls *leaderState) healthyNodes(st *fsm.State) []string {
	var out []string
	for _, id := range st.MemberIDs() {
		if ls.healthy(id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
