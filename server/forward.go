package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

// leaderCall is one leader-bound member RPC, both halves: the ready leader
// runs local itself; any other member forwards the call to the leader's
// endpoint method (forward), whose rpcEndpoint method runs local there
// (serve). Every reply is an rpcwire.Reply, so errors keep their sentinel.
type leaderCall[A, R any] struct {
	// method is the endpoint method, "Raftha.Transfer".
	method string
	// lane is the connection class the forwarded call travels on.
	lane lane
	// retry, when set, retries a call refused before it took any effect
	// (no leader known, leader not ready, not the leader any more, leader
	// unreachable) until the caller's context ends: the leader changed.
	retry bool
	// local runs the call on the ready leader.
	local func(s *Server, ctx context.Context, a A) (R, error)
	// authorize checks, on the leader, that the member peer (the identity
	// its certificate proved) may make the forwarded call, and may rewrite
	// it (the author it records); required: a call without it is refused.
	authorize func(s *Server, peer string, a *A) error
	// admit, when set, checks a forwarded call on the leader and returns
	// the context it runs in; default: forwardTimeout from the member's.
	admit func(s *Server, a A) (context.Context, context.CancelFunc, error)
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

// lane is a class of member-to-member traffic; each has connections of its
// own (see transport.Pool).
type lane int

const (
	// laneOperator carries operator calls and forwarded commands: a
	// client may cancel them, which closes their connection.
	laneOperator lane = iota
	// laneLease carries what an owner's lease depends on (heartbeats,
	// confirms) and the start-up probe; no operator call can close them.
	laneLease
)

// poolFor returns the connection pool of l.
func (s *Server) poolFor(l lane) *transport.Pool {
	if l == laneLease {
		return s.leasePool
	}
	return s.pool
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

// forward runs c with a: here when this member is the ready leader, else on
// the leader over the member RPC. With c.retry it retries, within ctx,
// while the call is refused before taking effect.
func forward[A, R any](ctx context.Context, s *Server, c *leaderCall[A, R], a A) (R, error) {
	hold := time.Now().Add(forwardHold)
	for {
		var res R
		var err error
		addr, id := s.leaderAddr()
		switch {
		case s.leader() != nil:
			res, err = c.local(s, ctx, a)
		case id == "":
			err = ErrNoLeader
		case id == raft.ServerID(s.cfg.NodeID):
			err = fmt.Errorf("%w: leader not ready yet", ErrNotLeader)
		default:
			res, err = send(ctx, s, c, string(addr), string(id), a)
		}
		if err == nil || !c.retry || !tookNoEffect(err) || time.Now().After(hold) {
			return res, err
		}
		t := time.NewTimer(forwardRetryWait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, err
		case <-s.ctx.Done():
			t.Stop()
			return res, err
		}
	}
}

// send makes one forwarded attempt of c on the leader id at addr.
func send[A, R any](ctx context.Context, s *Server, c *leaderCall[A, R], addr, id string, a A) (R, error) {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if c.send != nil {
		var err error
		if cctx, cancel, a, err = c.send(ctx, a); err != nil {
			var zero R
			return zero, err
		}
	}
	defer cancel()
	var reply rpcwire.Reply[R]
	if err := s.poolFor(c.lane).Call(cctx, addr, c.method, a, &reply); err != nil {
		// reply is not ours to read: an abandoned call may still fill it.
		var zero R
		if c.lost != "" && !errors.Is(err, transport.ErrDial) {
			return zero, fmt.Errorf("forward to leader %s (%w: %s): %w", id, ErrOutcomeUnknown, c.lost, err)
		}
		return zero, fmt.Errorf("forward to leader %s: %w", id, err)
	}
	return reply.Result, wireCodec.Decode(reply.Err)
}

// serve runs a forwarded c on this member, which must be the ready leader.
// It always returns nil: the call's error travels in the reply.
func serve[A, R any](e *rpcEndpoint, c *leaderCall[A, R], a A, r *rpcwire.Reply[R]) error {
	s := e.s
	if !s.isMember(e.peer) { // a removed member may only probe (Probe)
		r.Err = wireCodec.Encode(fmt.Errorf("%w: %s is not a member of this cluster (removed?)", ErrForbidden, e.peer))
		return nil
	}
	if c.authorize == nil {
		r.Err = wireCodec.Encode(fmt.Errorf("%w: %s is not served to members", ErrForbidden, c.method))
		return nil
	}
	if err := c.authorize(s, e.peer, &a); err != nil {
		s.logger.Warn("refused a member's call", "peer", e.peer, "method", c.method, "error", err)
		r.Err = wireCodec.Encode(err)
		return nil
	}
	if s.leader() == nil {
		r.Err = wireCodec.Encode(ErrNotLeader)
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, forwardTimeout)
	if c.admit != nil {
		var err error
		if ctx, cancel, err = c.admit(s, a); err != nil {
			r.Err = wireCodec.Encode(err)
			return nil
		}
	}
	defer cancel()
	res, err := c.local(s, ctx, a)
	r.Result, r.Err = res, wireCodec.Encode(err)
	return nil
}

// tookNoEffect reports whether err refused a call before it could take
// effect anywhere, so that sending it again (to the next leader) cannot
// apply it twice.
func tookNoEffect(err error) bool {
	switch {
	case errors.Is(err, errLeadershipLost):
		return false // the entry may still commit
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader), errors.Is(err, transport.ErrDial):
		return true
	}
	return false
}

// errLeadershipLost means the leader lost its leadership while applying a
// command: the entry may or may not commit, so it is never retried.
var errLeadershipLost = fmt.Errorf("%w: leadership lost while applying; %w: the command may still commit (see raftha status)", ErrNotLeader, ErrOutcomeUnknown)

// ErrOutcomeUnknown means a change was sent and may or may not have taken
// effect: the leader was lost while applying it, or the connection to
// the leader broke before its answer came. Read Status before sending it
// again.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// wireCodec is the member RPC's error registry, most specific first (an
// error may wrap more than one sentinel). A code is a stable wire name:
// never reuse or rename one; the API answers with it too.
var wireCodec = rpcwire.NewCodec(
	entry(api.CodeInProgress, ErrInProgress),
	entry(api.CodeMoveFailed, ErrMoveFailed),
	entry(api.CodeTimeout, context.DeadlineExceeded),
	entry(api.CodeEnqueueTimeout, raft.ErrEnqueueTimeout),
	entry(api.CodeStaleEpoch, fsm.ErrStaleEpoch),
	entry(api.CodeNotOwner, fsm.ErrNotOwner),
	entry(api.CodeNotEligible, fsm.ErrNotEligible),
	entry(api.CodeRoleMismatch, fsm.ErrRoleMismatch),
	entry(api.CodeNoGroup, fsm.ErrNoGroup),
	entry(api.CodeNoMember, fsm.ErrNoMember),
	entry(api.CodeBusy, fsm.ErrBusy),
	entry(api.CodeInvalid, fsm.ErrInvalid),
	entry(api.CodeUnknownCommand, fsm.ErrUnknownCommand),
	entry(api.CodeNoQuorum, ErrNoQuorum),
	entry(api.CodeNoLeader, ErrNoLeader),
	entry(api.CodeLeadershipLost, errLeadershipLost),
	entry(api.CodeOutcomeUnknown, ErrOutcomeUnknown),
	entry(api.CodeNotLeader, ErrNotLeader),
	entry(api.CodeOwnership, ErrNotOwner),
	entry(api.CodeSettingsMismatch, ErrSettingsMismatch),
	entry(api.CodeRefused, ErrRefused),
	entry(api.CodeForbidden, ErrForbidden),
	entry(api.CodeCanceled, context.Canceled),
)

// entry registers sentinel err under the API's code c: one set of codes
// for the member RPC and the HTTP API.
func entry(c api.Code, err error) rpcwire.Entry {
	return rpcwire.Entry{Code: rpcwire.Code(c), Err: err}
}

// errorCode is err's wire code ("" when it wraps no registered sentinel).
func errorCode(err error) api.Code { return api.Code(wireCodec.Code(err)) }

// proposeCall commits an encoded fsm.Command through the leader: the FSM's
// refusal is the call's error, its epoch the result.
var proposeCall = &leaderCall[rpcwire.ProposeArgs, uint64]{
	method: "Raftha.Propose",
	local: func(s *Server, _ context.Context, a rpcwire.ProposeArgs) (uint64, error) {
		return s.applyCommand(a.Cmd)
	},
	authorize: func(s *Server, peer string, a *rpcwire.ProposeArgs) error {
		return s.authorizeProposal(peer, a)
	},
	admit: func(s *Server, a rpcwire.ProposeArgs) (context.Context, context.CancelFunc, error) {
		if _, err := fsm.Decode(a.Cmd); err != nil {
			return nil, nil, fmt.Errorf("refusing undecodable command: %w", err)
		}
		ctx, cancel := context.WithCancel(s.ctx) // raft.Apply has its own bound
		return ctx, cancel, nil
	},
}

// operatorProposeCall is proposeCall for an operator's command: retried
// while the leader changes, within the caller's deadline.
var operatorProposeCall = &leaderCall[rpcwire.ProposeArgs, uint64]{
	method: proposeCall.method, retry: true, local: proposeCall.local, authorize: proposeCall.authorize, admit: proposeCall.admit,
}

// Propose applies a forwarded command on the leader.
func (e *rpcEndpoint) Propose(a rpcwire.ProposeArgs, r *rpcwire.Reply[uint64]) error {
	return serve(e, proposeCall, a, r)
}

// commit commits c through the leader (here or by RPC) once, and returns
// the epoch of the FSM's result or its refusal. For the leader's own
// decisions and an owner's reports: they are never re-sent elsewhere.
func (s *Server) commit(ctx context.Context, c fsm.Command) (uint64, error) {
	return s.commitWith(ctx, proposeCall, c, nil)
}

// operatorCommit is commit for an operator's command: while no leader can
// take it (an election, a leader change), it is sent again until ctx ends.
// A forwarded one carries the API caller (see forwardedCaller), whose role
// the leader checks.
func (s *Server) operatorCommit(ctx context.Context, c fsm.Command) (uint64, error) {
	return s.commitWith(ctx, operatorProposeCall, c, s.forwardedCaller(ctx, fsm.HeaderOf(c).By))
}

func (s *Server) commitWith(ctx context.Context, call *leaderCall[rpcwire.ProposeArgs, uint64], c fsm.Command, caller *rpcwire.Caller) (uint64, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return 0, err
	}
	return forward(ctx, s, call, rpcwire.ProposeArgs{Cmd: data, Caller: caller})
}

// applyCommand applies an encoded command on this member, the raft
// leader, and folds the FSM's refusal into the error.
func (s *Server) applyCommand(data []byte) (uint64, error) {
	res, err := s.applyLocal(data)
	if err != nil {
		return 0, err
	}
	return res.Epoch, res.Err
}
