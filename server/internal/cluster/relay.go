package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/server/internal/errs"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// Relayed lease calls: an owner keeps its lease through a node-link
// partition.
//
// When only the link between two nodes breaks and both still reach the
// witness, the leader (say n2) stops hearing the owner (n1) directly and,
// after failover_timeout, would declare it lost, fence it and move its
// groups, although n1 is healthy and reachable by a quorum (the witness).
// n1's own Raft follower loses the leader too: its pre-votes are refused
// (the witness still has a leader), so it does not even know whom to call.
//
// So an owner's lease calls (heartbeat, confirm) race the direct path
// with a relayed one: when the direct call has not answered within one
// timing.heartbeat (or failed at once, e.g. no leader known here), the
// same call is sent through every other voter, each of which splices it to
// its own Raft leader (transport.DialRPCVia). The TLS session is end to
// end, so the leader sees the owner's own certificate and every check of
// a direct call applies; a relay can drop the call but not forge one. The
// first success counts, and the lease is renewed from the moment the beat
// began, as for a direct one (never later), so a relayed answer cannot
// extend it beyond what the leader confirmed. While any path still
// waits, the paths that failed are sent again every heartbeat, so one
// hung voter cannot hold the beat for a lease
// (TestHungRelayDoesNotHoldTheBeat).
//
// Timing: a beat that needs the relay ends at most heartbeat (the relay's
// start) plus the relayed round trip after it began, and the next beat
// starts a heartbeat later. The lease survives when
// 2 × heartbeat + relayed round trip < lease, which the validated
// lease ≥ 3 × heartbeat leaves a full heartbeat for; the leader hears
// the owner within the same span, inside failover_timeout > lease. A
// real isolation (the owner cut from every member) leaves the relays
// nothing to reach, and failover happens as before, fence first.
//
// Tests: TestRelayedHeartbeatKeepsTheLease (in-process, a relay-only
// path), TestFaultNodeLinkPartition (network namespaces, iptables cuts
// only the n1–n2 link: 0 ownership changes, 0 StopInstances, 0 self-
// fences), transport's TestRelayIsEndToEnd and TestRelayCannotImpersonate.

// relayAfter is how long a lease call waits for the direct path before it
// is also sent through the relays.
func (c *Cluster) relayAfter() time.Duration { return c.cfg.Timing.Heartbeat.D() }

// RelayTarget is this member's relay policy (transport.Mux.SetRelay): it
// relays a member's stream to its own Raft leader, and nothing else.
func (c *Cluster) RelayTarget(peer transport.Identity) (addr, id string, err error) {
	if _, open := c.host.Servers(); !open {
		return "", "", errors.New("not started yet")
	}
	if !c.IsMember(peer.Name) {
		return "", "", fmt.Errorf("%s is not a member of this cluster", peer.Name)
	}
	a, i := c.host.Leader()
	switch {
	case i == "":
		return "", "", errors.New("no leader known here either")
	case i == peer.Name:
		return "", "", fmt.Errorf("%s is the leader", peer.Name)
	}
	return a, i, nil
}

// Relays returns the raft addresses of the voters a lease call may be
// relayed through: every other voter, the one this member takes for the
// leader included (it may have stopped leading: then it relays to the
// new leader, which this member may not reach directly).
func (c *Cluster) Relays() []string {
	var out []string
	servers, _ := c.host.Servers()
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter || string(srv.ID) == c.cfg.NodeID {
			continue
		}
		out = append(out, string(srv.Address))
	}
	return out
}

// forwardLease runs a lease call like forward, and also through every
// relay once the direct path failed or has not answered within
// relayAfter. The first success is returned; once every path failed,
// their errors. While one path still waits (a relay that hangs: a paused
// voter, a host that accepts and never answers), the paths that failed
// are sent again every relayAfter, so a hung path cannot hold the beat
// until its deadline while the leader is reachable again (an election
// that ended, a blip that passed). Every attempt carries the same
// arguments and the caller renews from the beat's start, which precedes
// each of them, so a later attempt never extends the lease further.
func forwardLease[A, R any](ctx context.Context, c *Cluster, call *call[A, R], a A) (R, error) {
	type result struct {
		res R
		err error
		via string
	}
	// The calls run to their own deadline (the caller's), not until the
	// first success: cancelling one drops its pooled connection, and a
	// slow but healthy leader would then be redialled every beat. done
	// only releases their results once this call returned.
	done := make(chan struct{})
	defer close(done)
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(c.cfg.Timing.Lease.D())
	}
	callCtx, cancelCalls := context.WithDeadline(context.WithoutCancel(ctx), dl)
	// callCtx is released once no call uses it any more: at once when
	// every call has answered (the usual beat; its deadline timer then
	// never fires, one wake-up less per beat on an idle member), else when
	// the last one ends.
	var calls sync.WaitGroup
	var waiting map[string]bool // paths with a call out ("" is direct)
	defer func() {
		if len(waiting) == 0 {
			cancelCalls()
			return
		}
		go func() { calls.Wait(); cancelCalls() }()
	}()
	// Unbuffered: a call that ends after forwardLease returned gives its
	// result up when ctx ends, so none is left behind whatever the number
	// of voters.
	results := make(chan result)
	ra := a
	if call.relayed != nil {
		ra = call.relayed(a)
	}
	waiting = map[string]bool{}
	failed := map[string]error{} // paths whose last call failed
	var order []string           // paths in the order they first failed
	launch := func(via string) {
		waiting[via] = true
		calls.Add(1)
		go func() {
			defer calls.Done()
			r := result{via: via}
			if via == "" {
				r.res, r.err = forward(callCtx, c, call, a)
			} else {
				r.res, r.err = sendVia(callCtx, c, call, via, ra)
			}
			select {
			case results <- r:
			case <-done:
			}
		}()
	}
	launch("")
	relayed := false
	relay := func() {
		relayed = true
		for _, via := range c.Relays() {
			if !waiting[via] {
				launch(via)
			}
		}
	}
	joined := func(extra ...error) error {
		var errs []error
		for _, via := range order {
			errs = append(errs, failed[via])
		}
		return errors.Join(append(errs, extra...)...)
	}
	tick := time.NewTicker(c.relayAfter())
	defer tick.Stop()
	var zero R
	for {
		select {
		case r := <-results:
			delete(waiting, r.via)
			if r.err == nil {
				if r.via != "" {
					c.limit.Log(c.log, hclog.Info, "relayed/"+string(call.method), "the leader answered through a relay: the direct path to it is down", "method", call.method, "via", r.via)
				}
				return r.res, nil
			}
			if definitive(r.err) {
				return r.res, r.err
			}
			if _, ok := failed[r.via]; !ok {
				order = append(order, r.via)
			}
			failed[r.via] = r.err
			c.log.Debug("lease call failed on one path", "method", call.method, "via", r.via, "error", r.err)
			if !relayed {
				relay()
			}
			if len(waiting) == 0 {
				return zero, joined()
			}
		case <-tick.C:
			if !relayed {
				relay()
				continue
			}
			for _, via := range order {
				if !waiting[via] {
					launch(via)
				}
			}
		case <-ctx.Done():
			return zero, joined(ctx.Err())
		}
	}
}

// definitive reports whether err is a leader's answer (not owner, stale
// epoch, forbidden, ...) rather than a path that failed (no leader, not
// the leader, a dial, a timeout): another path would get the same answer.
func definitive(err error) bool {
	switch ErrorCode(err) {
	case "", api.CodeNotLeader, api.CodeNoLeader, api.CodeNoQuorum, api.CodeTimeout, api.CodeCanceled, api.CodeLeadershipLost, api.CodeOutcomeUnknown:
		return false
	}
	return true
}

// sendVia sends c once to the leader of the member at via, through it.
func sendVia[A, R any](ctx context.Context, c *Cluster, call *call[A, R], via string, a A) (R, error) {
	var reply rpcwire.Reply[R]
	if err := c.Pool(call.lane).CallVia(ctx, via, string(call.method), a, &reply); err != nil {
		var zero R
		return zero, fmt.Errorf("via %s: %w", via, err)
	}
	err := Codec.Decode(reply.Err)
	if errors.Is(err, errs.ErrNotLeader) || errors.Is(err, errs.ErrNoQuorum) {
		// The member this connection reached stopped leading (or cannot
		// prove it still leads: a deposed leader that has not noticed); the next
		// call dials through the relay again, to its leader of then.
		c.Pool(call.lane).ForgetVia(via)
		err = fmt.Errorf("via %s: %w", via, err)
	}
	return reply.Result, err
}
