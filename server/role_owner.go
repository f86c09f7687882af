package server

import (
	"context"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/clock"
	ilease "github.com/raftha/raftha/server/internal/lease"
	"github.com/raftha/raftha/server/internal/owner"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// This file is the server's side of the owner role (internal/owner): it
// implements owner.Host over the rest of the agent, and keeps the
// unexported names other roles call.

// ownerHost implements owner.Host for s.
type ownerHost struct{ s *Server }

var _ owner.Host = ownerHost{}

// Heartbeat sends this member's heartbeat to the leader on the lease lane.
func (h ownerHost) Heartbeat(ctx context.Context) (map[string]uint64, string, error) {
	s := h.s
	args := rpcwire.HeartbeatArgs{Node: s.cfg.NodeID, Role: string(s.cfg.Role), Address: s.RaftAddr(), API: s.advertisedAPI(), InstanceID: s.instanceID(), Leaving: s.leaving.Load()}
	cs := s.cfg.ClusterSettings()
	args.Settings = &cs
	s.heartbeatRunning(&args)
	s.heartbeatResources(&args) // resstate.go: status only
	reply, err := forwardLease(ctx, s, heartbeatCall, args)
	if err != nil {
		return nil, "", err
	}
	return reply.Owned, reply.Leader, nil
}

// Confirm asks the leader whether this node owns group at epoch.
func (h ownerHost) Confirm(ctx context.Context, group string, epoch uint64) error {
	s := h.s
	_, err := forwardLease(ctx, s, confirmCall, rpcwire.ConfirmArgs{Group: group, Node: s.cfg.NodeID, Epoch: epoch})
	return err
}

// Commit proposes c through the leader.
func (h ownerHost) Commit(ctx context.Context, c fsm.Command) (uint64, error) {
	return h.s.commit(ctx, c)
}

// Header is the header of a command this member proposes itself.
func (h ownerHost) Header() fsm.Header { return h.s.header("") }

// RecordEventually is Server.recordEventually.
func (h ownerHost) RecordEventually(n *fsm.Note) { h.s.recordEventually(n) }

// Go is Server.goFn.
func (h ownerHost) Go(fn func()) { h.s.goFn(fn) }

// Exit is Server.exit.
func (h ownerHost) Exit(code int) { h.s.exit(code) }

// recordEventually commits an event note in the background, retrying every
// heartbeat for up to ten minutes or until the member stops.
func (s *Server) recordEventually(n *fsm.Note) {
	s.hookNote(n) // internal/hooks: queued, never waited for
	s.goFn(func() {
		deadline := time.Now().Add(10 * time.Minute)
		for attempt := 1; time.Now().Before(deadline); attempt++ {
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timing.Lease.D())
			_, err := s.commit(ctx, n)
			cancel()
			if err == nil {
				return
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(s.cfg.Timing.Heartbeat.D()):
			}
		}
		s.logger.Warn("event could not be recorded", "kind", n.Kind, "group", n.Group)
	})
}

// lease is this member's owner lease (owner.Lease) under the names the
// other roles call.
type lease struct {
	s *Server
	o *owner.Lease
	t *ilease.Table
}

func newLease(s *Server) *lease {
	o := owner.NewLease(ownerHost{s}, owner.LeaseOptions{
		Clock:     clock.System{},
		Length:    s.cfg.Timing.Lease.D(),
		Heartbeat: s.cfg.Timing.Heartbeat.D(),
		Logger:    s.logger,
		LogLimit:  &s.logLimit,
	})
	return &lease{s: s, o: o, t: o.Table()}
}

// run sends a heartbeat to the leader every timing.heartbeat until the
// server stops.
func (l *lease) run() { l.o.Run(l.s.ctx) }

// valid reports whether the lease covers group at epoch now.
func (l *lease) valid(group string, epoch uint64) bool { return l.t.Valid(group, epoch) }

// confirmed records a single-group confirmation sent at sent.
func (l *lease) confirmed(sent time.Time, group string, epoch uint64) {
	l.t.Confirmed(sent, group, epoch)
}

// untilNextExpiry is how long until the earliest group lease runs out.
func (l *lease) untilNextExpiry() time.Duration { return l.t.UntilNextExpiry() }

// remaining returns how long the lease has left (<= 0 when expired).
func (l *lease) remaining() time.Duration { return l.t.Remaining() }

// lastAnswer returns the leader that last answered a heartbeat of this
// member, and when the answer came (zero before any).
func (l *lease) lastAnswer() (string, time.Time) { return l.t.LastAnswer() }

// renewed returns a channel closed at the next renewal.
func (l *lease) renewed() <-chan struct{} { return l.t.Renewed() }

func (l *lease) renew(sent time.Time, owned map[string]uint64, leader string) {
	l.t.Renew(sent, owned, leader)
}

// watch is owner.Lease.Watch.
func (l *lease) watch(ctx context.Context, cancel context.CancelCauseFunc, group string, epoch uint64) bool {
	return l.o.Watch(ctx, cancel, group, epoch)
}

// bound is owner.Lease.Bound (safety clause 8).
func (l *lease) bound(parent context.Context, group string, epoch uint64) (context.Context, context.CancelFunc) {
	return l.o.Bound(parent, group, epoch)
}

// watchdog is the fed watchdog device (owner.Watchdog) of s.
type watchdog struct {
	*owner.Watchdog
	s *Server
}

// openWatchdog opens fencing.watchdog; it is fed only while the lease is
// valid and the startup cleanup is done (safety clause 3).
func openWatchdog(s *Server) (*watchdog, error) {
	wd, err := owner.OpenWatchdog(owner.WatchdogOptions{
		Path:      string(s.cfg.Fencing.Watchdog),
		Timeout:   s.cfg.Fencing.WatchdogTimeout.D(),
		Check:     s.cfg.CheckWatchdogTimeout,
		Heartbeat: s.cfg.Timing.Heartbeat.D(),
		Feed:      func() bool { return s.lease.remaining() > 0 && (s.runner == nil || s.runner.cleanedUp()) },
		Clock:     clock.System{},
		Logger:    s.logger,
		LogLimit:  &s.logLimit,
	})
	if err != nil {
		return nil, err
	}
	return &watchdog{Watchdog: wd, s: s}, nil
}

// run feeds the device until the server stops.
func (w *watchdog) run() { w.Run(w.s.ctx) }

// runner is this node's owner.Runner under the names the other roles
// call.
type runner struct{ *owner.Runner }

// newRunner builds the runner; it loads the run records an earlier run
// of the agent left.
func newRunner(s *Server) (*runner, error) {
	r, err := owner.NewRunner(ownerHost{s}, owner.RunnerOptions{
		Ctx:            s.ctx,
		Config:         s.cfg,
		FSM:            s.fsm,
		Registry:       s.registry,
		Lease:          s.lease.o,
		Logger:         s.logger,
		LogLimit:       &s.logLimit,
		Leaving:        &s.leaving,
		ReportFilter:   &s.reportFilter,
		Fencer:         s.fencer,
		InstanceID:     s.instance,
		CloudResources: s.cloudRes,
		ResolveVolume:  resolveEBSVolume,
		Handlers:       handlerHost{s},
		Metrics: owner.Metrics{
			Fences: s.metrics.fences, FenceDuration: s.metrics.fenceDuration, TakeoverToOnline: s.metrics.takeoverToOn,
			Checks: s.metrics.checks, SelfFences: s.metrics.selfFences,
			ResourceCheckFailures: s.metrics.resFails, ResourceRestarts: s.metrics.resRestarts,
		},
	})
	if err != nil {
		return nil, err
	}
	return &runner{r}, nil
}

func (r *runner) run()                                             { r.Run() }
func (r *runner) guard()                                           { r.Guard() }
func (r *runner) beatDisks()                                       { r.BeatDisks() }
func (r *runner) shutdown(ctx context.Context) error               { return r.Shutdown(ctx) }
func (r *runner) abandon()                                         { r.Abandon() }
func (r *runner) runningHere(group string) bool                    { return r.RunningHere(group) }
func (r *runner) cleanedUp() bool                                  { return r.CleanedUp() }
func (r *runner) resourceStatus(g *fsm.Group) []api.ResourceStatus { return r.ResourceStatus(g) }

// runningReport is what this node's heartbeat says about the groups it
// runs (owner.Runner.RunningReport).
func (r *runner) runningReport() (applied uint64, running map[string]uint64) {
	return r.RunningReport()
}

// heartbeatResources fills a heartbeat's resource summary (nodes only).
func (s *Server) heartbeatResources(a *rpcwire.HeartbeatArgs) {
	if s.runner != nil {
		a.Resources = s.runner.ResourceReport()
		a.DiskPeers = s.diskPeerAges() // diskpath.go
	}
}

// DiskHeartbeats returns this member's last disk heartbeat on each slot
// device, by device; empty on a witness or without lock devices.
func (s *Server) DiskHeartbeats() []api.DiskHeartbeat {
	if s.runner == nil {
		return nil
	}
	return s.runner.Runner.DiskHeartbeats()
}
