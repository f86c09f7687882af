package owner

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/internal/ratelog"
	"github.com/raftha/raftha/resources/gohandler"
	"github.com/raftha/raftha/server/internal/clock"
	ilease "github.com/raftha/raftha/server/internal/lease"
)

// ErrLeaseLost is the cause a lease-bound context ends with when this
// node's lease for the group at that epoch is no longer valid (the
// server exports the same value).
var ErrLeaseLost = gohandler.ErrLeaseLost

// LeaseOptions are the settings and services a Lease reads.
type LeaseOptions struct {
	// Clock is where the lease reads the time and arms its timers
	// (clock.System in the agent, whose readings are monotonic).
	Clock clock.Clock
	// Length is timing.lease; Heartbeat is timing.heartbeat.
	Length, Heartbeat time.Duration
	// Logger receives the heartbeat warnings, rate-limited by LogLimit.
	Logger   hclog.Logger
	LogLimit *ratelog.Limiter
}

// Lease is this member's owner lease. Every heartbeat is a linearizable
// confirmation by the leader of the groups this member owns; a successful
// one renews the lease from the moment the heartbeat was sent (never from
// when the answer arrived), so the lease cannot outlive what the leader
// confirmed. The arithmetic (what is valid until when) is the
// ilease.Table; Lease sends the heartbeats, on its clock, and watches the
// expiry (safety clauses 3 and 8).
type Lease struct {
	host  Host
	opt   LeaseOptions
	table *ilease.Table
}

// NewLease returns an empty lease whose heartbeats h sends.
func NewLease(h Host, o LeaseOptions) *Lease {
	if o.LogLimit == nil {
		o.LogLimit = &ratelog.Limiter{}
	}
	return &Lease{host: h, opt: o, table: ilease.New(o.Clock, o.Length)}
}

// Table is the lease's arithmetic: what it covers until when.
func (l *Lease) Table() *ilease.Table { return l.table }

// Run sends a heartbeat to the leader at once, then on every boundary of
// Heartbeat on the wall clock, until ctx ends. Members whose clocks agree
// (EC2's time sync keeps them within a millisecond) so send theirs
// together, and the leader confirms them with one leadership round instead
// of one each (leader.GatherWindow). A heartbeat that was still waiting
// for its answer when the next boundary came is followed by the next one
// at once, as a fixed-rate ticker would have: after a hung heartbeat the
// lease is renewed as soon as the leader answers again.
func (l *Lease) Run(ctx context.Context) {
	hb := l.opt.Heartbeat
	t := l.opt.Clock.NewTimer(hb)
	defer t.Stop()
	for {
		began := l.opt.Clock.Now()
		l.Beat(ctx)
		wait := began.Add(clock.NextBoundary(began, hb)).Sub(l.opt.Clock.Now())
		if wait <= 0 {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Beat sends one heartbeat and renews the lease from its send time when
// the leader answers within the lease (by the lease's clock).
func (l *Lease) Beat(parent context.Context) {
	sent := l.opt.Clock.Now() // before anything is sent: never later than the send
	// The answer must arrive while it is still useful: within the lease.
	// The deadline is set on the real clock (the RPC layer reads it) and
	// on the lease's clock (the one the lease runs out on).
	ctx, cancel := context.WithTimeout(parent, l.opt.Length)
	defer cancel()
	stop := l.cancelAfter(ctx, cancel, l.opt.Length)
	defer stop()
	owned, leader, err := l.host.Heartbeat(ctx)
	if err != nil {
		l.fail(err)
		return
	}
	if owned == nil {
		owned = map[string]uint64{}
	}
	l.table.Renew(sent, owned, leader)
}

// cancelAfter calls cancel once d has passed on the lease's clock, unless
// ctx ends first; stop ends the wait.
func (l *Lease) cancelAfter(ctx context.Context, cancel context.CancelFunc, d time.Duration) (stop func()) {
	t := l.opt.Clock.NewTimer(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-t.C():
			cancel()
		case <-ctx.Done():
		}
	}()
	return func() {
		t.Stop()
		cancel()
		<-done
	}
}

func (l *Lease) fail(err error) {
	if l.table.Fail(err) {
		left := "none yet" // never renewed: time.Until of the zero time is nonsense
		if l.table.EverRenewed() {
			left = max(l.table.Remaining(), 0).Round(time.Millisecond).String()
		}
		l.opt.LogLimit.Log(l.opt.Logger, hclog.Warn, "heartbeat", "heartbeat to leader failed; lease not renewed", "error", err, "lease_left", left)
	}
}

// Watch calls cancel(ErrLeaseLost) as soon as this node's lease for group
// at epoch is no longer valid: when it expires (checked at the expiry
// itself and at least every heartbeat/4) or when a renewal from the leader
// no longer lists the group. It returns when ctx ends, or after cancelling
// (then true).
func (l *Lease) Watch(ctx context.Context, cancel context.CancelCauseFunc, group string, epoch uint64) bool {
	poll := max(l.opt.Heartbeat/4, time.Millisecond)
	t := l.opt.Clock.NewTimer(poll)
	defer t.Stop()
	for {
		renewed := l.table.Renewed()
		left := l.table.Left(group, epoch) // <= 0: not covered, or over
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
		case <-t.C():
		}
	}
}

// Bound returns a context for one resource call of group at epoch: it ends
// when parent does or, with cause ErrLeaseLost, the moment the lease for
// the group at that epoch is no longer valid (safety clause 8). The call's
// own timeout lies inside it.
func (l *Lease) Bound(parent context.Context, group string, epoch uint64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if !l.table.Valid(group, epoch) {
		cancel(ErrLeaseLost) // already over: the caller sees it at once
		return ctx, func() { cancel(context.Canceled) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Watch(ctx, cancel, group, epoch)
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
	}
}
