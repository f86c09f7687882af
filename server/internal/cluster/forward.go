package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// call is one leader-bound member RPC, both halves: the ready leader runs
// local itself; any other member forwards the call to the leader's
// endpoint method (forward), whose endpoint method runs local there
// (serve). Every reply is an rpcwire.Reply, so errors keep their sentinel.
type call[A, R any] struct {
	// method is the endpoint method.
	method Method
	// lane is the connection class the forwarded call travels on.
	lane Lane
	// retry, when set, retries a call refused before it took any effect
	// (no leader known, leader not ready, not the leader any more, leader
	// unreachable) until the caller's context ends: the leader changed.
	retry bool
	// local runs the call on the ready leader.
	local func(c *Cluster, ctx context.Context, a A) (R, error)
	// authorize checks, on the leader, that the member peer (the identity
	// its certificate proved) may make the forwarded call, and may rewrite
	// it (the author it records); required: a call without it is refused.
	authorize func(c *Cluster, peer string, a *A) error
	// admit, when set, checks a forwarded call on the leader and returns
	// the context it runs in; default: forwardTimeout from the member's.
	admit func(c *Cluster, a A) (context.Context, context.CancelFunc, error)
	// send, when set, prepares one forwarded attempt: the context the RPC
	// waits within and the arguments it carries (a transfer sends its
	// remaining deadline). Default: ctx and a.
	send func(ctx context.Context, a A) (context.Context, context.CancelFunc, A, error)
	// relayed, when set, marks the arguments of a lease call sent through
	// a relay (see forwardLease).
	relayed func(a A) A
	// lost is added to the error when the call was sent and no answer came
	// (the leader may have run it).
	lost string
}

// forwardTimeout bounds a forwarded call on the leader unless admit says
// otherwise.
const forwardTimeout = 30 * time.Second

// forwardRetryWait is how long a forwarded call waits before it asks for
// the leader again after a refusal that took no effect.
const forwardRetryWait = 100 * time.Millisecond

// forwardHold bounds how long a call with retry waits for a leader (as
// Consul's RPCHoldTimeout does): long enough for an election, short
// enough that a cluster without a quorum answers "no leader" before a
// client's own deadline (the CLI's default is 30s) turns it into a
// timeout that says nothing.
const forwardHold = 5 * time.Second

// forward is the one forwarding function: it runs call with a here when
// this member is the ready leader, else on the leader over the member RPC.
// With call.retry it retries, within ctx, while the call is refused before
// taking effect. Every leader-bound call goes through it (a lease call's
// direct path too, see forwardLease).
func forward[A, R any](ctx context.Context, c *Cluster, call *call[A, R], a A) (R, error) {
	hold := time.Now().Add(forwardHold)
	for {
		var res R
		var err error
		addr, id := c.host.Leader()
		switch {
		case c.host.Leading():
			res, err = call.local(c, ctx, a)
		case id == "":
			err = errs.ErrNoLeader
		case id == c.cfg.NodeID:
			err = fmt.Errorf("%w: leader not ready yet", errs.ErrNotLeader)
		default:
			res, err = send(ctx, c, call, addr, id, a)
		}
		if err == nil || !call.retry || !tookNoEffect(err) || time.Now().After(hold) {
			return res, err
		}
		t := time.NewTimer(forwardRetryWait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, err
		case <-c.ctx.Done():
			t.Stop()
			return res, err
		}
	}
}

// send makes one forwarded attempt of call on the leader id at addr.
func send[A, R any](ctx context.Context, c *Cluster, call *call[A, R], addr, id string, a A) (R, error) {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if call.send != nil {
		var err error
		if cctx, cancel, a, err = call.send(ctx, a); err != nil {
			var zero R
			return zero, err
		}
	}
	defer cancel()
	var reply rpcwire.Reply[R]
	if err := c.Pool(call.lane).Call(cctx, addr, string(call.method), a, &reply); err != nil {
		// reply is not ours to read: an abandoned call may still fill it.
		var zero R
		if call.lost != "" && !errors.Is(err, transport.ErrDial) {
			return zero, fmt.Errorf("forward to leader %s (%w: %s): %w", id, errs.ErrOutcomeUnknown, call.lost, err)
		}
		return zero, fmt.Errorf("forward to leader %s: %w", id, err)
	}
	return reply.Result, Codec.Decode(reply.Err)
}

// serve runs a forwarded call on this member, which must be the ready
// leader. It always returns nil: the call's error travels in the reply.
func serve[A, R any](e *endpoint, call *call[A, R], a A, r *rpcwire.Reply[R]) error {
	c := e.c
	if !c.IsMember(e.peer) { // a removed member may only probe (Probe)
		r.Err = Codec.Encode(fmt.Errorf("%w: %s is not a member of this cluster (removed?)", errs.ErrForbidden, e.peer))
		return nil
	}
	if call.authorize == nil {
		r.Err = Codec.Encode(fmt.Errorf("%w: %s is not served to members", errs.ErrForbidden, call.method))
		return nil
	}
	if err := call.authorize(c, e.peer, &a); err != nil {
		c.log.Warn("refused a member's call", "peer", e.peer, "method", call.method, "error", err)
		r.Err = Codec.Encode(err)
		return nil
	}
	if !c.host.Leading() {
		r.Err = Codec.Encode(errs.ErrNotLeader)
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, forwardTimeout)
	if call.admit != nil {
		var err error
		if ctx, cancel, err = call.admit(c, a); err != nil {
			r.Err = Codec.Encode(err)
			return nil
		}
	}
	defer cancel()
	res, err := call.local(c, ctx, a)
	r.Result, r.Err = res, Codec.Encode(err)
	return nil
}

// tookNoEffect reports whether err refused a call before it could take
// effect anywhere, so that sending it again (to the next leader) cannot
// apply it twice.
func tookNoEffect(err error) bool {
	switch {
	case errors.Is(err, errs.ErrLeadershipLost):
		return false // the entry may still commit
	case errors.Is(err, errs.ErrNoLeader), errors.Is(err, errs.ErrNotLeader), errors.Is(err, transport.ErrDial):
		return true
	}
	return false
}
