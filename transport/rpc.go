package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"strings"
	"sync"
	"time"
)

// RPCServer serves node-to-node calls on RPC streams of a Mux. Each stream
// is served by a receiver of its own, made for the stream's peer: net/rpc
// does not tell a method who called, so the receiver carries it.
type RPCServer struct {
	name     string
	receiver func(peer string) any
}

// NewRPCServer serves the exported methods (net/rpc rules) of
// receiver(peer) under name, one receiver per stream, made for the member
// id the stream's certificate proved. It checks receiver("") once.
func NewRPCServer(name string, receiver func(peer string) any) (*RPCServer, error) {
	if err := rpc.NewServer().RegisterName(name, receiver("")); err != nil {
		return nil, err
	}
	return &RPCServer{name: name, receiver: receiver}, nil
}

// ServeConn serves one stream from peer until it closes.
func (s *RPCServer) ServeConn(c net.Conn, peer string) {
	srv := rpc.NewServer()
	if err := srv.RegisterName(s.name, s.receiver(peer)); err != nil {
		c.Close() // NewRPCServer registered the same type
		return
	}
	srv.ServeConn(c)
}

// ErrDial is wrapped by Call when it could not connect to the peer: the
// call was not sent, so it is safe to retry (elsewhere).
var ErrDial = errors.New("dial")

// Pool keeps one RPC client per peer address and redials broken ones.
//
// Every call on a connection shares its fate: a call whose context ends
// closes the connection, failing every other call in flight on it. So one
// Pool serves one class of traffic, and calls a client may cancel (operator
// calls forwarded to the leader) never share a Pool with the calls an
// owner's lease depends on (heartbeats, confirms): each class has its own
// connections.
type Pool struct {
	m       *Mux
	mu      sync.Mutex
	clients map[string]*rpc.Client
	dialing map[string]*poolDial // dials under way, by address
	closed  bool
	life    context.Context // ends at Close: the dials, detached from their callers, end with it
	end     context.CancelFunc
}

// poolDial is one dial every caller that needs the same address waits for:
// calls that find no connection share one TLS handshake (or one refusal)
// rather than each dialling its own and throwing all but one away. With
// hundreds of groups starting at once, their lease calls did that: a
// handshake per call, and per call and relay again every heartbeat while
// a relay refused (the leader's own confirms, relayed through members
// whose leader it is).
type poolDial struct {
	began time.Time
	done  chan struct{}
	c     *rpc.Client
	err   error
}

// poolJoinWindow bounds how long a caller waits for a dial another call
// began: calls that come at once (a burst of starts) share it while it is
// that young; past it a caller dials afresh, as each call did before
// dials were shared. A dial under way that long may hang (a peer or
// relay that stalled a handshake and has since recovered), and a lease
// heartbeat must not fail behind it when a dial of its own gets through.
const poolJoinWindow = 250 * time.Millisecond

// maxPoolDial bounds a shared dial whose first caller set no deadline.
const maxPoolDial = 30 * time.Second

// NewPool returns a client pool dialing through m.
func NewPool(m *Mux) *Pool {
	life, end := context.WithCancel(context.Background())
	return &Pool{m: m, clients: map[string]*rpc.Client{}, dialing: map[string]*poolDial{}, life: life, end: end}
}

// get returns the pooled client for addr, dialling it if there is none.
// A dial another call began is joined, not repeated, until it is
// poolJoinWindow old; the caller then dials on its own (or joins a younger
// dial). A dial runs to the deadline of the caller that began it (at most
// maxPoolDial) even when that caller gives up earlier, so that the others
// still get it; each caller waits only within its own ctx.
func (p *Pool) get(ctx context.Context, addr string) (*rpc.Client, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if c, ok := p.clients[addr]; ok {
			p.mu.Unlock()
			return c, nil
		}
		d, joined := p.dialing[addr]
		if joined && time.Since(d.began) >= poolJoinWindow {
			joined = false // d keeps its own waiters; later ones wait for the new dial
		}
		if !joined {
			d = p.begin(ctx, addr)
		}
		p.mu.Unlock()
		var stale <-chan time.Time // a joined dial is waited for within the window only
		stop := func() bool { return false }
		if joined {
			t := time.NewTimer(time.Until(d.began.Add(poolJoinWindow)))
			stale, stop = t.C, t.Stop
		}
		select {
		case <-d.done:
			stop()
			return d.c, d.err
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-stale:
		}
	}
}

// begin starts a dial of addr for the caller with ctx (p.mu held).
func (p *Pool) begin(ctx context.Context, addr string) *poolDial {
	d := &poolDial{began: time.Now(), done: make(chan struct{})}
	p.dialing[addr] = d
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > maxPoolDial {
		dl = time.Now().Add(maxPoolDial)
	}
	dctx, cancel := context.WithDeadline(p.life, dl)
	go func() {
		defer cancel()
		p.dial(dctx, addr, d)
	}()
	return d
}

// dial connects to addr for d, pools the client and tells d's waiters.
func (p *Pool) dial(ctx context.Context, addr string, d *poolDial) {
	var conn net.Conn
	var err error
	if via, ok := strings.CutPrefix(addr, viaPrefix); ok {
		conn, _, err = p.m.DialRPCVia(ctx, via)
	} else {
		conn, err = p.m.DialRPC(ctx, addr)
	}
	p.mu.Lock()
	if p.dialing[addr] == d { // a later dial may have taken its place
		delete(p.dialing, addr)
	}
	if err == nil && p.closed { // nothing would close it
		conn.Close()
		err = ErrClosed
	}
	if err == nil {
		if old, ok := p.clients[addr]; ok { // a later dial got there first
			conn.Close()
			d.c = old
		} else {
			d.c = rpc.NewClient(conn)
			p.clients[addr] = d.c
		}
	}
	d.err = err
	p.mu.Unlock()
	close(d.done)
}

func (p *Pool) drop(addr string, c *rpc.Client) {
	p.mu.Lock()
	if p.clients[addr] == c {
		delete(p.clients, addr)
	}
	p.mu.Unlock()
	c.Close()
}

// Call invokes method on the peer at addr within ctx. A call that times
// out drops its connection, so the next call starts on a fresh one.
// Errors returned by the remote method come back as rpc.ServerError.
func (p *Pool) Call(ctx context.Context, addr, method string, args, reply any) error {
	for attempt := 0; attempt < 2; attempt++ {
		c, err := p.get(ctx, addr)
		if err != nil {
			if attempt > 0 { // the first attempt may have reached the peer
				return fmt.Errorf("dial %s after the connection was lost: %w", addr, err)
			}
			return fmt.Errorf("%w %s: %w", ErrDial, addr, err)
		}
		call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
		select {
		case <-call.Done:
			if errors.Is(call.Error, rpc.ErrShutdown) || isConnError(call.Error) {
				p.drop(addr, c)
				if ctx.Err() == nil && attempt == 0 {
					continue
				}
			}
			return call.Error
		case <-ctx.Done():
			p.drop(addr, c)
			return fmt.Errorf("call %s on %s: %w", method, addr, ctx.Err())
		}
	}
	return fmt.Errorf("call %s on %s: connection lost", method, addr)
}

// viaPrefix marks a pooled client reached through a relay.
const viaPrefix = "via "

// CallVia is Call on the Raft leader of the member at relayAddr, reached
// through it (see Mux.DialRPCVia) with its own connections. The far end
// is the relay's leader when the connection was made; it may have stopped
// leading since, which its answer says.
func (p *Pool) CallVia(ctx context.Context, relayAddr, method string, args, reply any) error {
	return p.Call(ctx, viaPrefix+relayAddr, method, args, reply)
}

// ForgetVia closes the pooled connection through the relay at relayAddr,
// so the next CallVia dials again and reaches the relay's leader of then
// (a relayed connection stays with the member it reached).
func (p *Pool) ForgetVia(relayAddr string) {
	p.mu.Lock()
	c, ok := p.clients[viaPrefix+relayAddr]
	delete(p.clients, viaPrefix+relayAddr)
	p.mu.Unlock()
	if ok {
		c.Close()
	}
}

func isConnError(err error) bool {
	var se rpc.ServerError
	if err == nil || errors.As(err, &se) {
		return false
	}
	return true
}

// Close closes every pooled client and ends the dials under way; calls
// after it fail with ErrClosed.
func (p *Pool) Close() {
	p.end()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for a, c := range p.clients {
		c.Close()
		delete(p.clients, a)
	}
}
