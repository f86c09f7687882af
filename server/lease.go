package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/server/internal/clock"
	ilease "github.com/raftha/raftha/server/internal/lease"
	"github.com/raftha/raftha/server/internal/rpcwire"
)

// lease is this member's owner lease. Every heartbeat is a linearizable
// confirmation by the leader of the groups this member owns; a successful
// one renews the lease from the moment the heartbeat was sent (never from
// when the answer arrived), so the lease cannot outlive what the leader
// confirmed. The arithmetic (what is valid until when) is the clock-injected
// ilease.Table; this type sends the heartbeats and watches the expiry. All
// times are monotonic (time.Now carries a monotonic reading).
type lease struct {
	s *Server
	t *ilease.Table
}

func newLease(s *Server) *lease {
	return &lease{s: s, t: ilease.New(clock.System{}, s.cfg.Timing.Lease.D())}
}

// valid reports whether the lease covers group at epoch now.
func (l *lease) valid(group string, epoch uint64) bool { return l.t.Valid(group, epoch) }

// confirmed records a single-group confirmation sent at sent.
func (l *lease) confirmed(sent time.Time, group string, epoch uint64) {
	l.t.Confirmed(sent, group, epoch)
}

// untilNextExpiry is how long until the earliest group lease runs out
// (at least 10ms; an hour when nothing is owned).
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

func (l *lease) fail(err error) {
	if l.t.Fail(err) {
		left := "none yet" // never renewed: time.Until of the zero time is nonsense
		if l.everRenewed() {
			left = max(l.remaining(), 0).Round(time.Millisecond).String()
		}
		l.s.logLimit.Log(l.s.logger, hclog.Warn, "heartbeat", "heartbeat to leader failed; lease not renewed", "error", err, "lease_left", left)
	}
}

// run sends a heartbeat to the leader every timing.heartbeat.
func (l *lease) run() {
	hb := l.s.cfg.Timing.Heartbeat.D()
	t := time.NewTicker(hb)
	defer t.Stop()
	for {
		l.beat(hb)
		select {
		case <-l.s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *lease) beat(hb time.Duration) {
	s := l.s
	args := rpcwire.HeartbeatArgs{Node: s.cfg.NodeID, Role: string(s.cfg.Role), Address: s.RaftAddr(), API: s.advertisedAPI(), InstanceID: s.instanceID(), Leaving: s.leaving.Load()}
	cs := s.cfg.ClusterSettings()
	args.Settings = &cs
	s.heartbeatRunning(&args)
	s.heartbeatResources(&args) // resstate.go: status only
	sent := time.Now()
	// The answer must arrive while it is still useful: within the lease.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timing.Lease.D())
	defer cancel()
	reply, err := forwardLease(ctx, s, heartbeatCall, args)
	if err != nil {
		l.fail(err)
		return
	}
	owned := reply.Owned
	if owned == nil {
		owned = map[string]uint64{}
	}
	l.renew(sent, owned, reply.Leader)
}

// watch calls cancel(ErrLeaseLost) as soon as this node's lease for group
// at epoch is no longer valid: when it expires (checked at the expiry
// itself and at least every heartbeat/4) or when a renewal from the leader
// no longer lists the group. It returns when ctx ends, or after cancelling
// (then true).
func (l *lease) watch(ctx context.Context, cancel context.CancelCauseFunc, group string, epoch uint64) bool {
	poll := max(l.s.cfg.Timing.Heartbeat.D()/4, time.Millisecond)
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		renewed := l.renewed()
		left := l.t.Left(group, epoch) // <= 0: not covered, or over
		if left <= 0 {
			if ctx.Err() != nil {
				return false
			}
			cancel(ErrLeaseLost)
			return true
		}
		t.Reset(min(poll, left))
		select {
		case <-ctx.Done():
			return false
		case <-renewed:
		case <-t.C:
		}
	}
}

// bound returns a context for one resource call of group at epoch: it ends
// when parent does or, with cause ErrLeaseLost, the moment the lease for
// the group at that epoch is no longer valid (safety clause 8). The call's
// own timeout lies inside it.
func (l *lease) bound(parent context.Context, group string, epoch uint64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if !l.t.Valid(group, epoch) {
		cancel(ErrLeaseLost) // already over: the caller sees it at once
		return ctx, func() { cancel(context.Canceled) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.watch(ctx, cancel, group, epoch)
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
	}
}
