package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A relayed stream reaches a member through another one when the direct
// path is cut (a node-link partition: n1 and n2 no longer reach each
// other, both still reach the witness). The dialer opens a kindRelay
// stream to the relay, which dials the target the relay function names
// (the relay's Raft leader) and then only copies bytes both ways. The
// dialer runs a second TLS handshake through that pipe, end to end with
// the target: the target sees the dialer's own certificate, and the
// dialer checks that the target's certificate names the member the relay
// said it reached. A relay can therefore refuse or drop the stream, but
// never speak for either side nor read what they say.
//
// Wire: after the outer handshake and the kind byte, the relay answers
// one status byte (relayOK or relayRefused), one length byte and that
// many bytes: the target's member id, or why it refused.
const (
	kindRelay    byte = 'T'
	relayOK      byte = 0
	relayRefused byte = 1
)

// maxRelays bounds the streams one member relays at once; a relay beyond
// it is refused (the dialer falls back to another relay or fails).
const maxRelays = 32

// maxRelaysPerPeer bounds the streams one member relays for one peer at
// once, so that no member can take every slot. A member's lease pool
// keeps one relayed stream per relay; a few more may race while it
// redials (a heartbeat and several groups' confirms at once).
const maxRelaysPerPeer = 8

// relayDialTimeout bounds the relay's dial of the target.
const relayDialTimeout = 5 * time.Second

// ErrRelayRefused is wrapped by DialRPCVia when the relay would not or
// could not connect to its target. Nothing was sent to the target.
var ErrRelayRefused = errors.New("transport: relay refused")

// SetRelay lets members relay through this one: target returns the
// address and member id a relayed stream from peer goes to (this
// member's Raft leader), or why it will not relay for peer. nil (the
// default) refuses every relay.
func (m *Mux) SetRelay(target func(peer Identity) (addr, id string, err error)) {
	m.mu.Lock()
	m.relayTo = target
	m.mu.Unlock()
}

// serveRelay relays conn (an admitted member's kindRelay stream) to the
// target the relay function names, until either side closes.
func (m *Mux) serveRelay(conn net.Conn, peer Identity) {
	defer conn.Close()
	m.mu.Lock()
	target := m.relayTo
	full := m.relaying >= maxRelays
	mine := m.relayingFor[peer.Name] >= maxRelaysPerPeer
	if target != nil && !full && !mine {
		m.relaying++
		if m.relayingFor == nil {
			m.relayingFor = map[string]int{}
		}
		m.relayingFor[peer.Name]++
	}
	m.mu.Unlock()
	refuse := func(why string) {
		_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
		_, _ = conn.Write(relayAnswer(relayRefused, why))
	}
	switch {
	case target == nil:
		refuse("this member does not relay")
		return
	case full:
		refuse(fmt.Sprintf("this member already relays %d streams", maxRelays))
		return
	case mine:
		refuse(fmt.Sprintf("this member already relays %d streams for %s", maxRelaysPerPeer, peer.Name))
		return
	}
	defer func() {
		m.mu.Lock()
		m.relaying--
		if m.relayingFor[peer.Name]--; m.relayingFor[peer.Name] == 0 {
			delete(m.relayingFor, peer.Name)
		}
		m.mu.Unlock()
	}()
	addr, id, err := target(peer)
	if err != nil {
		refuse(err.Error())
		return
	}
	up, err := net.DialTimeout("tcp", addr, relayDialTimeout)
	if err != nil {
		refuse(fmt.Sprintf("dial %s (%s): %v", id, addr, err))
		return
	}
	if !m.track(up, true) {
		up.Close()
		return
	}
	defer m.track(up, false)
	defer up.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Write(relayAnswer(relayOK, id)); err != nil {
		return
	}
	_ = conn.SetWriteDeadline(time.Time{})
	m.logger.Debug("relaying a stream", "peer", peer.Name, "to", id, "addr", addr)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(up, conn)
		up.Close()
	}()
	_, _ = io.Copy(conn, up)
	conn.Close()
	wg.Wait()
}

// relayAnswer encodes a relay's answer (at most 255 bytes of text).
func relayAnswer(status byte, text string) []byte {
	if len(text) > 255 {
		text = text[:255]
	}
	return append([]byte{status, byte(len(text))}, text...)
}

// DialRPCVia opens an RPC stream to the relay's Raft leader through the
// member at relayAddr (see SetRelay), for when the leader cannot be
// reached directly. It returns the stream and the member id at its end,
// proved by that member's certificate.
func (m *Mux) DialRPCVia(ctx context.Context, relayAddr string) (net.Conn, string, error) {
	outer, err := m.dial(ctx, relayAddr, kindRelay)
	if err != nil {
		return nil, "", err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = outer.SetDeadline(dl)
	} else {
		_ = outer.SetDeadline(time.Now().Add(handshakeTimeout))
	}
	fail := func(err error) (net.Conn, string, error) {
		outer.Close()
		return nil, "", err
	}
	var head [2]byte
	if _, err := io.ReadFull(outer, head[:]); err != nil {
		return fail(fmt.Errorf("relay %s: %w", relayAddr, err))
	}
	text := make([]byte, head[1])
	if _, err := io.ReadFull(outer, text); err != nil {
		return fail(fmt.Errorf("relay %s: %w", relayAddr, err))
	}
	if head[0] != relayOK {
		return fail(fmt.Errorf("%w: %s: %s", ErrRelayRefused, relayAddr, text))
	}
	want := string(text)
	inner := tls.Client(outer, m.client)
	if err := inner.HandshakeContext(ctx); err != nil {
		return fail(fmt.Errorf("relay %s to %s: TLS handshake: %w", relayAddr, want, err))
	}
	peer, ok := m.peerOf(inner)
	switch {
	case !ok:
		return fail(fmt.Errorf("%w: relay %s reached a certificate that is no member's", ErrWrongPeer, relayAddr))
	case peer.Name != want:
		return fail(fmt.Errorf("%w: relay %s said it reached %s, but the certificate is %s's", ErrWrongPeer, relayAddr, want, peer.Name))
	}
	if err := m.authorized(peer); err != nil {
		return fail(err)
	}
	if _, err := inner.Write([]byte{kindRPC}); err != nil {
		return fail(err)
	}
	_ = outer.SetDeadline(time.Time{})
	return inner, want, nil
}

// authorized applies the authorizer to the far end of a relayed stream,
// as admit does for a direct one. The fault filter (SetPeerFilter) is not
// applied: it models the links this member has, and a relayed stream's
// link is to the relay (the far end filters the stream's caller itself).
func (m *Mux) authorized(peer Identity) error {
	m.mu.Lock()
	authz := m.authz
	m.mu.Unlock()
	if authz != nil && !authz(peer) {
		return fmt.Errorf("transport: relayed peer %s refused: no member certificate of this cluster", peer)
	}
	return nil
}
