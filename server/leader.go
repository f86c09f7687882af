package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// leaderState is what only the ready leader knows: when it last heard from
// each member (monotonic), and since when it leads.
type leaderState struct {
	// contactMu orders lease renewals (heartbeats, confirms: contact
	// recorded and the log read; write lock) against takeover decisions
	// (silence measured and the takeover committed; read lock, so that
	// the takeovers of one pass commit together). See takeover.
	contactMu sync.RWMutex
	s         *Server
	since     time.Time // monotonic; leadership became ready
	// prevLeader is the leader before this one as this member knew it
	// (the last to answer its heartbeat), and prevLeaderAt when that
	// answer came; see lost.
	prevLeader   string
	prevLeaderAt time.Time
	readyIndex   uint64 // every entry up to here was applied at readiness

	mu       sync.Mutex
	lastSeen map[string]time.Time
	upSince  map[string]time.Time // start of the current run of contact
	noted    map[string]bool
	leaving  map[string]bool
	relayed  map[string]time.Time // last heartbeat that came through a relay

	lastHandover time.Time                        // witness only
	pending      map[string]rpcwire.HeartbeatArgs // member updates to register
	refused      map[string]string                // members refused for their settings: why

	fb fenceBack // running reports and checks for takeovers back

	res resStore // owners' resource summaries, for status (resstate.go)

	failedAll map[string]failedAll // groups failed everywhere (autoretry.go), under mu
}

func (ls *leaderState) setLeaving(node string, v bool) {
	ls.mu.Lock()
	ls.leaving[node] = v
	ls.mu.Unlock()
}

// setRelayed records whether node's latest heartbeat came through a
// relay (the direct path to it is down).
func (ls *leaderState) setRelayed(node string, v bool) {
	ls.mu.Lock()
	if v {
		ls.relayed[node] = time.Now()
	}
	ls.mu.Unlock()
}

// reachedDirectly reports whether node's heartbeats came on the direct
// path for the last failover_timeout: only then may it receive
// leadership (a transfer needs the direct path).
func (ls *leaderState) reachedDirectly(node string) bool {
	ls.mu.Lock()
	t, ok := ls.relayed[node]
	ls.mu.Unlock()
	return !ok || time.Since(t) >= ls.s.cfg.Timing.FailoverTimeout.D()
}

func (ls *leaderState) isLeaving(node string) bool {
	if node == ls.s.cfg.NodeID {
		return ls.s.leaving.Load()
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.leaving[node]
}

func (ls *leaderState) seen(node string) {
	now := time.Now()
	ls.mu.Lock()
	if t, ok := ls.lastSeen[node]; !ok || now.Sub(t) >= ls.s.cfg.Timing.FailoverTimeout.D() {
		ls.upSince[node] = now
	}
	ls.lastSeen[node] = now
	ls.mu.Unlock()
}

// heard reports whether this leader has heard from node at all.
func (ls *leaderState) heard(node string) bool {
	if node == ls.s.cfg.NodeID {
		return true
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	_, ok := ls.lastSeen[node]
	return ok
}

// healthyFor is how long node has been in contact without a gap.
func (ls *leaderState) healthyFor(node string) time.Duration {
	if !ls.healthy(node) {
		return 0
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	t, ok := ls.upSince[node]
	if !ok {
		return 0
	}
	return time.Since(t)
}

func (ls *leaderState) register(a rpcwire.HeartbeatArgs) {
	ls.mu.Lock()
	ls.pending[a.Node] = a
	ls.mu.Unlock()
}

// lastContact returns how long ago the leader heard from node. A new
// leader counts every member as heard from when it became ready, so it
// waits at least failover_timeout (> lease) before it can declare anyone
// lost: the safety argument's "a new leader waits at least one lease".
func (ls *leaderState) lastContact(node string) time.Duration {
	if node == ls.s.cfg.NodeID {
		return 0
	}
	ls.mu.Lock()
	t, ok := ls.lastSeen[node]
	ls.mu.Unlock()
	if !ok {
		t = ls.since
	}
	return time.Since(t)
}

// describeContact says when the leader last heard from node, for messages.
func (ls *leaderState) describeContact(node string) string {
	ls.mu.Lock()
	t, ok := ls.lastSeen[node]
	ls.mu.Unlock()
	if !ok {
		return fmt.Sprintf("not heard from since this leader took over %s ago", time.Since(ls.since).Round(time.Millisecond))
	}
	return fmt.Sprintf("last heard from %s ago", time.Since(t).Round(time.Millisecond))
}

// healthy reports whether node was heard from within failover_timeout.
func (ls *leaderState) healthy(node string) bool {
	if node == ls.s.cfg.NodeID {
		return true
	}
	ls.mu.Lock()
	t, ok := ls.lastSeen[node]
	ls.mu.Unlock()
	return ok && time.Since(t) < ls.s.cfg.Timing.FailoverTimeout.D()
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
	ls := &leaderState{s: s, since: time.Now(), readyIndex: s.raft.AppliedIndex(), lastSeen: map[string]time.Time{}, upSince: map[string]time.Time{}, noted: map[string]bool{}, leaving: map[string]bool{}, relayed: map[string]time.Time{}, pending: map[string]rpcwire.HeartbeatArgs{}, refused: map[string]string{}}
	if s.lease != nil {
		if id, at := s.lease.lastAnswer(); id != s.cfg.NodeID {
			ls.prevLeader, ls.prevLeaderAt = id, at
		}
	}
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
	for _, name := range st.GroupNames() {
		g := st.Groups[name]
		gs := g.Status
		switch {
		case gs.Suspended:
			// maintenance: no automatic action at all; an owner whose
			// lease runs out still fences itself.
			if gs.Active() && gs.Owner != "" && ls.lost(gs.Owner) {
				ls.noteOnce(ctx, g, fsm.KindTakeoverSkipped, fmt.Sprintf("%s lost but group %s is suspended: no takeover until `raftha group resume %s`", gs.Owner, g.Spec.Name, g.Spec.Name))
			}
		case gs.State == fsm.StateOffline:
			s.place(ctx, ls, st, g)
		case gs.Active() && gs.Owner != "" && ls.lost(gs.Owner):
			// Concurrently: raft commits the pass's takeovers in one
			// batch, so the winner fences a lost owner once for all
			// its groups (fenceround.go), not once per commit.
			concurrently(func() { s.takeover(ctx, ls, st, g) })
		case gs.State == fsm.StateFailed:
			s.recover(ctx, ls, st, g)
		case gs.State == fsm.StateOnline && (ls.isLeaving(gs.Owner) || !g.HasNode(gs.Owner)):
			// leaving, or no longer in the group's nodes (re-applied
			// without it): a planned move to an eligible node.
			s.evacuate(ctx, ls, st, g)
		case gs.State == fsm.StateOnline && st.OnStandby(gs.Owner):
			s.standbyEvacuate(ctx, ls, st, g) // standby.go
		case gs.State == fsm.StateOnline && g.Spec.Failback:
			s.failback(ctx, ls, st, g)
		}
	}
	inFlight.Wait()
	s.handOverLeadership(ls, st)
}

// maxParallelCommits bounds the takeovers one leader pass commits at
// once. Takeovers past it commit after a slot frees, which may be after
// the winner's fence began: they then cost one more fence round.
const maxParallelCommits = 256

// evacuate starts a planned move of a group away from its owner (leaving,
// or removed from the group's nodes).
func (s *Server) evacuate(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	// A node on standby only when no other can take it (winner).
	if n := ls.winner(st, g, g.Status.Owner); n != "" {
		cause := fsm.CauseShutdown
		if !g.HasNode(g.Status.Owner) {
			cause = fsm.CauseNodesChanged
		}
		if _, err := s.commit(ctx, &fsm.BeginTransfer{Header: s.header("leader"), Group: g.Spec.Name, To: n, ExpectEpoch: g.Status.Epoch, Cause: cause}); err != nil {
			s.logger.Warn("could not move group off a leaving member", "group", g.Spec.Name, "from", g.Status.Owner, "error", err)
		} else {
			s.logger.Info("moving group off a leaving member", "group", g.Spec.Name, "from", g.Status.Owner, "to", n)
		}
		return
	}
}

// place assigns an offline group to the first healthy node of its list.
func (s *Server) place(ctx context.Context, ls *leaderState, st *fsm.State, g *fsm.Group) {
	for _, n := range g.Spec.Nodes {
		if st.Eligible(g, n) != nil || ls.isLeaving(n) || st.OnStandby(n) {
			continue
		}
		if !ls.healthy(n) {
			if !ls.heard(n) && !ls.lost(n) {
				return // a new leader has not heard from it yet: wait, it is preferred
			}
			continue
		}
		epoch, err := s.commit(ctx, &fsm.Assign{Header: s.header("leader"), Group: g.Spec.Name, To: n, ExpectEpoch: g.Status.Epoch, Cause: fsm.CausePlacement, Reason: "first healthy node of " + joinNodes(g.Spec.Nodes)})
		if err != nil {
			s.logLimit.Log(s.logger, hclog.Warn, "place/"+g.Spec.Name, "placement refused", "group", g.Spec.Name, "node", n, "error", err)
			return
		}
		s.logger.Info("group placed", "group", g.Spec.Name, "node", n, "epoch", epoch)
		return
	}
	noteStandbyBlocksPlacement(ctx, ls, st, g) // standby.go
}

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

func joinNodes(n []string) string {
	out := "["
	for i, x := range n {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
