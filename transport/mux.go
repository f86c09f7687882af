package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/internal/ratelog"
)

// Stream kinds: the first byte a dialer writes after the TLS handshake.
const (
	kindRaft byte = 'R'
	kindRPC  byte = 'C'
)

// handshakeTimeout bounds a peer's TLS handshake and its kind byte.
const handshakeTimeout = 10 * time.Second

// ErrClosed is returned by Accept and Dial after the mux is closed.
var ErrClosed = errors.New("transport: closed")

// ErrWrongPeer is returned (wrapped) by a dial that reached a member other
// than the one the address belongs to (see SetPeerResolver), or a peer
// whose certificate is no member's: the stream is closed unused.
var ErrWrongPeer = errors.New("transport: the peer is not the member dialled")

// Mux is the member's single mTLS port. It accepts TLS connections, refuses
// peers whose certificate the cluster CA did not sign (and logs that) and
// operator certificates (only member certificates are admitted: see
// CertKind and SetAuthorizer), and hands each stream to Raft or to the
// RPC server, with the peer's member id, by its first byte.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	logger    hclog.Logger

	raftCh chan net.Conn
	rpcFn  func(c net.Conn, peer string)

	mu     sync.Mutex
	conns  map[net.Conn]string // raw conn → peer identity ("" until known)
	filter func(peer string) bool
	authz  func(peer Identity) bool
	expect func(addr string) string
	// relayTo names where a relayed stream goes (see SetRelay);
	// relaying counts the streams relayed now.
	relayTo  func(peer Identity) (addr, id string, err error)
	relaying int
	closed   chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	relayingFor map[string]int // relayed streams now, by peer (under mu)

	refusals ratelog.Limiter // refused-peer warnings: the first, then one per 10s per message
}

// Listen binds bind and returns a Mux that advertises advertise (bind's
// actual address when advertise is empty). Call Serve to start accepting.
func Listen(bind, advertise string, b *Bundle, logger hclog.Logger) (*Mux, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", bind, err)
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Mux{
		ln: ln, advertise: adv,
		server: b.PeerServerConfig(), client: b.PeerClientConfig(),
		logger: logger.Named("transport"),
		raftCh: make(chan net.Conn, 16),
		conns:  map[net.Conn]string{},
		closed: make(chan struct{}),
	}, nil
}

// Addr is the advertised address.
func (m *Mux) Addr() net.Addr { return m.advertise }

// ListenAddr is the bound address.
func (m *Mux) ListenAddr() net.Addr { return m.ln.Addr() }

// Serve accepts connections until Close; rpc serves RPC streams, each
// with the member id its peer's certificate proved (the id the
// authorizer admitted).
func (m *Mux) Serve(rpc func(c net.Conn, peer string)) {
	m.rpcFn = rpc
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := m.ln.Accept()
			if err != nil {
				select {
				case <-m.closed:
					return
				default:
				}
				m.logger.Warn("accept failed", "error", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			m.track(c, true)
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.handle(c)
			}()
		}
	}()
}

func (m *Mux) track(c net.Conn, add bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
		if add {
			c.Close()
		}
		return false
	default:
	}
	if add {
		m.conns[c] = ""
	} else {
		delete(m.conns, c)
	}
	return true
}

func (m *Mux) handle(raw net.Conn) {
	tc := tls.Server(raw, m.server)
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		if IsUntrustedPeer(err) {
			m.refusals.Log(m.logger, hclog.Warn, "refused peer: its certificate is not signed by the cluster CA", "refused peer: its certificate is not signed by the cluster CA", "remote", raw.RemoteAddr().String(), "error", err)
		} else {
			m.logger.Debug("TLS handshake failed", "remote", raw.RemoteAddr().String(), "error", err)
		}
		raw.Close()
		m.track(raw, false)
		return
	}
	peer, ok := m.peerOf(tc)
	if !ok || !m.admit(raw, peer) {
		raw.Close()
		m.track(raw, false)
		return
	}
	var kind [1]byte
	if _, err := tc.Read(kind[:]); err != nil {
		m.logger.Debug("peer closed before choosing a stream", "remote", raw.RemoteAddr().String(), "error", err)
		tc.Close()
		m.track(raw, false)
		return
	}
	_ = tc.SetDeadline(time.Time{})
	conn := &trackedConn{Conn: tc, done: func() { m.track(raw, false) }}
	switch kind[0] {
	case kindRaft:
		select {
		case m.raftCh <- conn:
		case <-m.closed:
			conn.Close()
		}
	case kindRPC:
		if m.rpcFn == nil {
			conn.Close()
			return
		}
		m.rpcFn(conn, peer.Name)
	case kindRelay:
		m.serveRelay(conn, peer)
	default:
		m.logger.Warn("unknown stream kind from peer", "remote", raw.RemoteAddr().String(), "kind", kind[0])
		conn.Close()
	}
}

// Close stops accepting, closes every accepted connection and waits for
// the handlers to return.
func (m *Mux) Close() error {
	var err error
	m.once.Do(func() {
		m.mu.Lock()
		close(m.closed)
		conns := m.conns
		m.conns = map[net.Conn]string{}
		m.mu.Unlock()
		err = m.ln.Close()
		for c := range conns {
			c.Close()
		}
		m.wg.Wait()
	})
	return err
}

func (m *Mux) dial(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{KeepAlive: 5 * time.Second}, Config: m.client}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if IsUntrustedPeer(err) {
			m.refusals.Log(m.logger, hclog.Warn, "refused peer: its certificate is not signed by the cluster CA", "refused peer: its certificate is not signed by the cluster CA", "remote", addr, "error", err)
		}
		return nil, err
	}
	tc := c.(*tls.Conn)
	if !m.track(c, true) {
		c.Close()
		return nil, ErrClosed
	}
	peer, ok := m.peerOf(tc)
	if err := m.expected(addr, peer, ok); err != nil {
		c.Close()
		m.track(c, false)
		return nil, err
	}
	if !m.admit(c, peer) {
		c.Close()
		m.track(c, false)
		return nil, fmt.Errorf("transport: %s (%s) refused", addr, peer)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		m.track(c, false)
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
	return &trackedConn{Conn: c, done: func() { m.track(c, false) }}, nil
}

// peerOf is the identity of a TLS peer; false (logged) for a certificate
// that is no member's: an operator certificate or a malformed identity.
func (m *Mux) peerOf(tc *tls.Conn) (Identity, bool) {
	var cert *x509.Certificate
	if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
		cert = cs.PeerCertificates[0]
	}
	id, err := CertIdentityOf(cert)
	switch {
	case err != nil:
		m.refusals.Log(m.logger, hclog.Warn, "refused peer: its certificate carries no valid identity", "refused peer: its certificate carries no valid identity", "remote", tc.RemoteAddr().String(), "error", err)
		return id, false
	case id.Kind == KindOperator:
		m.refusals.Log(m.logger, hclog.Warn, "refused peer: an operator certificate is for the API, not the member port", "refused peer: an operator certificate is for the API, not the member port", "peer", id.String(), "remote", tc.RemoteAddr().String())
		return id, false
	}
	return id, true
}

// expected checks that a dialled peer is the member addr belongs to.
func (m *Mux) expected(addr string, peer Identity, ok bool) error {
	if !ok {
		return fmt.Errorf("%w: %s presented a certificate that is no member's", ErrWrongPeer, addr)
	}
	m.mu.Lock()
	expect := m.expect
	m.mu.Unlock()
	if expect == nil {
		return nil
	}
	if want := expect(addr); want != "" && want != peer.Name {
		m.refusals.Log(m.logger, hclog.Warn, "refused peer: the member at this address is not the one dialled", "refused peer: the member at this address is not the one dialled", "remote", addr, "want", want, "got", peer.String())
		return fmt.Errorf("%w: %s is member %s's address but presented the certificate of %s", ErrWrongPeer, addr, want, peer)
	}
	return nil
}

// admit records c's peer and reports whether the authorizer and the
// fault filter let it through.
func (m *Mux) admit(c net.Conn, peer Identity) bool {
	m.mu.Lock()
	if _, ok := m.conns[c]; ok {
		m.conns[c] = peer.Name
	}
	authz, filter := m.authz, m.filter
	m.mu.Unlock()
	if authz != nil && !authz(peer) {
		m.refusals.Log(m.logger, hclog.Warn, "refused peer: its certificate is from the cluster CA but is no member certificate of this cluster", "refused peer: its certificate is from the cluster CA but is no member certificate of this cluster", "peer", peer.String(), "remote", c.RemoteAddr().String())
		return false
	}
	return filter == nil || filter(peer.Name)
}

// SetAuthorizer restricts member-to-member connections, both ways, to
// peers whose certificate identity allow accepts: the members of the
// cluster, by their member certificates (KindMember; KindLegacy only while
// a migration allows it). Operator certificates are refused before allow
// is asked; they are for the API.
func (m *Mux) SetAuthorizer(allow func(peer Identity) bool) {
	m.mu.Lock()
	m.authz = allow
	m.mu.Unlock()
}

// SetPeerResolver makes every dial check the member it reached: expect
// returns the member id an address belongs to ("" when it does not know,
// as for a seed address before joining), and a dialled peer whose
// certificate names another member is refused with ErrWrongPeer. It
// covers Raft streams and RPC streams alike.
func (m *Mux) SetPeerResolver(expect func(addr string) string) {
	m.mu.Lock()
	m.expect = expect
	m.mu.Unlock()
}

// SetPeerFilter is fault injection for tests: while set, connections to
// and from peers (by certificate identity) for which allow returns false
// are refused, and existing ones are closed at once, as a network
// partition would. nil removes the filter.
func (m *Mux) SetPeerFilter(allow func(peer string) bool) {
	m.mu.Lock()
	m.filter = allow
	var cut []net.Conn
	if allow != nil {
		for c, peer := range m.conns {
			if peer != "" && !allow(peer) {
				cut = append(cut, c)
			}
		}
	}
	m.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// DialRPC opens an RPC stream to a peer.
func (m *Mux) DialRPC(ctx context.Context, addr string) (net.Conn, error) {
	return m.dial(ctx, addr, kindRPC)
}

// RaftLayer returns the raft.StreamLayer over this mux.
func (m *Mux) RaftLayer() raft.StreamLayer { return &raftLayer{m: m} }

type raftLayer struct{ m *Mux }

// Accept implements net.Listener for raft: it returns the next inbound
// Raft stream, or ErrClosed once the mux is closed.
func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.raftCh:
		return c, nil
	case <-l.m.closed:
		return nil, ErrClosed
	}
}

// Close implements net.Listener for raft; it closes the whole mux, RPC
// streams included.
func (l *raftLayer) Close() error { return l.m.Close() }

// Addr implements net.Listener for raft: the mux's advertised address.
func (l *raftLayer) Addr() net.Addr { return l.m.advertise }

// Dial implements raft.StreamLayer: it opens a Raft stream to addr
// within timeout.
func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.m.dial(ctx, string(addr), kindRaft)
}

type trackedConn struct {
	net.Conn
	once sync.Once
	done func()
}

// Close closes the stream and stops the mux tracking it.
func (c *trackedConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}
