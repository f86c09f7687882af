package server

// No amnesia (safety argument, clause 10): a member whose data_dir is empty
// bootstraps only a brand-new cluster. Start never blocks on peers: the
// Raft instance is created without a configuration behind a closed gate
// (no inbound Raft stream reaches it, so no leader can replicate into it
// and it casts no vote), and a background goroutine asks the other
// configured members through Raftha.Probe what they hold. See decideJoin
// for the rule.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// ErrRejoinRequired means this member's data_dir holds no Raft state but
// the cluster it names already exists (or has removed it): starting it as
// a new voter would forget its votes and acknowledged entries. The
// message says how to rejoin.
var ErrRejoinRequired = errors.New("refusing to start with an empty data_dir in an existing cluster")

// probeLocal answers a member that starts with an empty data_dir (the
// cluster role's Probe, after it checked the member asks for itself).
// Any member answers, leader or not.
func (s *Server) probeLocal(node string) (rpcwire.ProbeReply, error) {
	var r rpcwire.ProbeReply
	if !s.raftReady.Load() {
		return r, errors.New("raft is not open yet")
	}
	r.LastIndex = s.raft.LastIndex()
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			r.InConfig = r.InConfig || (string(srv.ID) == node && srv.Suffrage == raft.Voter)
		}
	}
	s.fsm.Read(func(st *fsm.State) {
		m, ok := st.Members[node]
		r.Registered = ok && m.API != ""
	})
	return r, nil
}

// gatedLayer is the Raft stream layer of a member that has not decided
// yet whether it may take part: until open, every inbound Raft stream is
// closed at once.
type gatedLayer struct {
	raft.StreamLayer
	open atomic.Bool
}

// Accept returns the next inbound stream once the gate is open.
func (g *gatedLayer) Accept() (net.Conn, error) {
	for {
		c, err := g.StreamLayer.Accept()
		if err != nil || g.open.Load() {
			return c, err
		}
		c.Close()
	}
}

// joinDecision is what a member with an empty data_dir does.
type joinDecision int

const (
	// joinWait: not enough answers yet; probe again.
	joinWait joinDecision = iota
	// joinBootstrap: a brand-new cluster; bootstrap it from members:.
	joinBootstrap
	// joinOpen: take part without bootstrapping (the others formed the
	// cluster without this member's state, or it is being re-added).
	joinOpen
	// joinRefuse: the cluster exists and this member once held state (or
	// was removed): refuse, see ErrRejoinRequired.
	joinRefuse
)

// peerProbe is one member's answer.
type peerProbe struct {
	id    string
	reply rpcwire.ProbeReply
}

// decideJoin is the rule, for a member with no Raft state among n
// configured members (itself included), given the answers of the others
// that answered.
//
// A brand-new cluster is bootstrapped only when min(majority(n), n-1) other
// members answer that they hold at most the bootstrap entry: an entry
// committed before this member lost its state is held by a majority, so
// by at least majority-1 others, and that many answers always include one
// of them. When a member has a real log (index > 1), the cluster exists:
// its configuration and its record of this member decide.
func decideJoin(n int, rejoin bool, answers []peerProbe) (joinDecision, *peerProbe) {
	var best *peerProbe
	registered := false
	fresh := 0
	for i := range answers {
		a := &answers[i]
		registered = registered || a.reply.Registered
		if a.reply.LastIndex <= 1 {
			fresh++
		} else if best == nil || a.reply.LastIndex > best.reply.LastIndex {
			best = a
		}
	}
	if best != nil {
		inConfig := best.reply.InConfig
		switch {
		case inConfig && !registered:
			// Added (or listed in the bootstrap) and never run: a new
			// voter the leader brings up to date.
			return joinOpen, best
		case !inConfig && rejoin:
			return joinOpen, best // removed; waits to be added
		case inConfig && rejoin:
			return joinWait, best // still the old voter; waits for its removal
		default:
			return joinRefuse, best
		}
	}
	if rejoin {
		return joinWait, nil
	}
	if fresh >= min(n/2+1, n-1) {
		return joinBootstrap, nil
	}
	return joinWait, nil
}

// probeInterval is how often an undecided member asks the others.
const probeInterval = 500 * time.Millisecond

// probeLogEvery is how often an undecided member says what it waits for.
const probeLogEvery = 5 * time.Second

// joinLoop decides, for a member that started with an empty data_dir,
// whether to bootstrap, take part or refuse (see decideJoin). It runs
// until decided or the server stops.
func (s *Server) joinLoop() {
	var others []config.MemberConfig
	for _, m := range s.cfg.Members {
		if m.ID != s.cfg.NodeID {
			others = append(others, m)
		}
	}
	lastLog := time.Now()
	for {
		answers := s.probeOthers(others)
		d, best := decideJoin(len(s.cfg.Members), s.rejoin, answers)
		switch d {
		case joinBootstrap:
			if err := s.raft.BootstrapCluster(s.initialConfiguration()).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				s.failStop(fmt.Errorf("bootstrap: %w", err))
				return
			}
			s.logger.Info("bootstrapped a new cluster configuration", "voters", len(s.cfg.Members), "answered_new", len(answers))
			s.gate.open.Store(true)
			return
		case joinOpen:
			s.logger.Info("joining the existing cluster as a new voter; waiting for the leader to replicate to it",
				"asked", best.id, "their_last_index", best.reply.LastIndex, "in_configuration", best.reply.InConfig, "rejoin", s.rejoin)
			if !best.reply.InConfig {
				s.logger.Info("add this member with: raftha members add --id "+s.cfg.NodeID+" --address "+s.RaftAddr()+" --role "+string(s.cfg.Role), "data_dir", s.cfg.DataDir)
			}
			s.gate.open.Store(true)
			return
		case joinRefuse:
			s.failStop(s.rejoinError(best))
			return
		}
		if time.Since(lastLog) >= probeLogEvery {
			lastLog = time.Now()
			if best != nil { // rejoin, still in the configuration
				s.logger.Warn("rejoin: this member is still a voter in the cluster's configuration; remove it first: raftha members remove "+s.cfg.NodeID, "asked", best.id, "data_dir", s.cfg.DataDir)
			} else {
				s.logger.Info("empty data_dir: waiting for the other members before bootstrapping or joining",
					"answered", len(answers), "members", len(s.cfg.Members), "rejoin", s.rejoin, "data_dir", s.cfg.DataDir)
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(probeInterval):
		}
	}
}

// probeOthers asks every other member in parallel, each within a bounded
// time, and returns the answers it got.
func (s *Server) probeOthers(others []config.MemberConfig) []peerProbe {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []peerProbe
	for _, m := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.cluster.Probe(ctx, m.Address)
			if err != nil {
				s.logger.Trace("probe failed", "member", m.ID, "error", err)
				return
			}
			mu.Lock()
			out = append(out, peerProbe{id: m.ID, reply: r})
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (s *Server) initialConfiguration() raft.Configuration {
	var servers []raft.Server
	for _, m := range s.cfg.Members {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Address)})
	}
	return raft.Configuration{Servers: servers}
}

func (s *Server) rejoinError(best *peerProbe) error {
	why := "still lists it as a voter and records that it has run"
	if !best.reply.InConfig {
		why = "no longer lists it as a voter"
	}
	return fmt.Errorf("%w: data_dir %s holds no Raft state, but member %s (log index %d) %s; starting %s as a new member would forget its votes and log. "+
		"To rejoin: remove it with `raftha members remove %s` (if it is still a member), start it with `raftha agent --rejoin`, then add it with `raftha members add --id %s --address %s --role %s`",
		ErrRejoinRequired, s.cfg.DataDir, best.id, best.reply.LastIndex, why, s.cfg.NodeID, s.cfg.NodeID, s.cfg.NodeID, s.RaftAddr(), s.cfg.Role)
}

// failStop stops the server for err, which Err then returns. It may run
// on a goroutine the server waits for, so the stop runs on its own.
func (s *Server) failStop(err error) {
	s.failMu.Lock()
	if s.failErr == nil {
		s.failErr = err
	}
	s.failMu.Unlock()
	s.logger.Error("member stopping", "error", err)
	go func() {
		s.stopMu.Lock()
		defer s.stopMu.Unlock()
		s.closeAll()
	}()
}

// Err returns why the server stopped on its own (for example
// ErrRejoinRequired), or nil. Read it after Done is closed.
func (s *Server) Err() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failErr
}
