package server

// The embedder's lifecycle: which calls work when, and the ready signal.
//
//	New → Start → (Ready / WaitReady) → … → Shutdown or Kill
//
// Every exported method of *Server may be called at any point of it: before
// Start and after the Server stopped, the calls that need the cluster
// return ErrNotStarted or ErrStopped, and the others a documented zero
// value (LeaderID "", RaftAddr "", IsLeader false, LeaseValid false, ...).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/config/yamlstrict"
	"github.com/raftha/raftha/fsm"
)

// checkRunning returns nil once Start has opened Raft and until the
// Server stops; ErrNotStarted or ErrStopped (wrapping the failure it
// stopped on, see Err) otherwise.
func (s *Server) checkRunning() error {
	if s.stopped.Load() {
		if err := s.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrStopped, err)
		}
		return ErrStopped
	}
	if !s.started.Load() {
		return ErrNotStarted
	}
	return nil
}

// Ready is closed once this member has joined the cluster and a ready
// leader has answered it: a ready leader accepted its heartbeat (which
// also renewed this member's lease) and its own copy of the log records
// it as a member. From then on cluster calls
// (ApplyGroups, Transfer, Status, ...) reach a leader without a retry
// loop, unless leadership changes again. It is closed once and stays
// closed, even if the leader is lost later (see Health for the current
// view). It may be called before Start.
func (s *Server) Ready() <-chan struct{} { return s.readyCh }

// WaitReady waits until Ready is closed, and returns nil then. It returns
// ctx's error when ctx ends first, and ErrStopped (wrapping Err, when the
// Server stopped on a failure) when the Server stops first. It may be
// called before Start: it then waits for Start and the join.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.readyCh:
		return nil
	default:
	}
	select {
	case <-s.readyCh:
		return nil
	case <-s.doneCh:
		return s.checkRunning()
	case <-ctx.Done():
		return fmt.Errorf("waiting for the member to join and a leader to answer: %w", ctx.Err())
	}
}

// watchReady closes readyCh once a heartbeat was accepted by a ready
// leader (the lease's first renewal) and this member's own log has this
// member recorded, so that a group naming it validates here too.
func (s *Server) watchReady() {
	for {
		renewed, changed := s.lease.renewed(), s.fsm.Changed()
		known := false
		s.fsm.Read(func(st *fsm.State) { _, known = st.Members[s.cfg.NodeID] })
		if known && s.lease.everRenewed() {
			close(s.readyCh)
			return
		}
		select {
		case <-renewed:
		case <-changed:
		case <-s.ctx.Done():
			return
		}
	}
}

// everRenewed reports whether a heartbeat ever renewed the lease.
func (l *lease) everRenewed() bool { return l.t.EverRenewed() }

// applyLibraryDefaults is the embedding step of New (see New): an empty
// fencing.mode is an error, an empty self_fence_action becomes
// DefaultEmbeddedSelfFenceAction.
func applyLibraryDefaults(c *config.Config) yamlstrict.ErrorList {
	if c.Fencing.Mode == "" {
		return yamlstrict.ErrorList{{Path: "fencing.mode", Msg: "required when embedding (no default in a library): " + string(config.FencingLeaseOnly) + ", or " + string(config.FencingAWSStop) + " on EC2"}}
	}
	if c.Fencing.SelfFenceAction == "" {
		c.Fencing.SelfFenceAction = DefaultEmbeddedSelfFenceAction
	}
	return nil
}

// withoutAPIErrors drops the complaint about an empty `api` setting when
// the API is off or served on the embedder's listener.
func withoutAPIErrors(errs yamlstrict.ErrorList, opts Options) yamlstrict.ErrorList {
	if !opts.DisableAPI && opts.APIListener == nil {
		return errs
	}
	var out yamlstrict.ErrorList
	for _, e := range errs {
		if e.Path != "api" {
			out = append(out, e)
		}
	}
	return out
}

// RaftStateNotStarted is Health's RaftState before Start.
const RaftStateNotStarted = "not-started"

// Health is this member's own view, from local state only (no round trip;
// what GET /v1/health answers): its Raft state, the leader it knows, its
// applied index and how much lease it has left. Before Start, RaftState is
// RaftStateNotStarted; after it stopped, "shutdown".
func (s *Server) Health() api.Health {
	h := api.Health{ID: s.cfg.NodeID, Role: string(s.cfg.Role), AppliedIndex: s.fsm.AppliedIndex(), Version: api.Version, RaftState: RaftStateNotStarted}
	if !s.started.Load() {
		if s.stopped.Load() {
			h.RaftState = strings.ToLower(raftShutdown)
		}
		return h
	}
	h.RaftState = strings.ToLower(s.raft.State().String())
	if !s.stopped.Load() {
		_, id := s.raft.LeaderWithID()
		h.Leader = string(id)
	}
	h.LeaseLeftMS = s.lease.remaining().Milliseconds()
	h.AWSPermissions = s.perm.view()
	if lc := s.raft.LastContact(); !lc.IsZero() {
		h.LastContactMS = time.Since(lc).Milliseconds()
	}
	return h
}

// raftShutdown is how hashicorp/raft names its stopped state.
const raftShutdown = "Shutdown"

// Owner returns the owner of group and its epoch as this member's copy of
// the log has it, without a round trip: on a follower it may lag the
// leader by a moment. ok is false when the group is unknown or has no
// owner (offline). The owner may be starting, stopping or failed there:
// see State for the group's state, and IsOwner for "may I act now".
func (s *Server) Owner(group string) (node string, epoch uint64, ok bool) {
	s.fsm.Read(func(st *fsm.State) {
		if g, found := st.Groups[group]; found && g.Status.Owner != "" {
			node, epoch, ok = g.Status.Owner, g.Status.Epoch, true
		}
	})
	return node, epoch, ok
}

// IsOwner reports whether this node owns group and may act for it right
// now: its copy of the log names it the owner at some epoch, and its lease
// covers the group at that epoch (LeaseValid). It answers from local
// state. Like LeaseValid, a true answer is only as good as the lease:
// attach the epoch (Owner, or the OwnerFunc's token) to every write.
// False before Start and after the Server stopped (the lease is gone).
func (s *Server) IsOwner(group string) bool {
	node, epoch, ok := s.Owner(group)
	return ok && node == s.cfg.NodeID && !s.stopped.Load() && s.LeaseValid(group, epoch)
}
