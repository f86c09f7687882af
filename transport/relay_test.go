package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// relayTo makes m relay every stream to target, saying it is member id.
func relayTo(m *Mux, target *Mux, id string) {
	m.SetRelay(func(Identity) (string, string, error) { return target.Addr().String(), id, nil })
}

// readPeer reads the peer id a muxFor server wrote on c.
func readPeer(t *testing.T, c io.ReadCloser) string {
	t.Helper()
	defer c.Close()
	buf, err := io.ReadAll(io.LimitReader(c, 64))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(buf))
}

// TestRelayIsEndToEnd: n1 reaches n2 through w1; n2's RPC server sees
// n1's own identity (the TLS session is n1's with n2, not w1's), and n1
// learns it reached n2 from n2's certificate.
func TestRelayIsEndToEnd(t *testing.T) {
	dir := mustCA(t, "")
	n1, n2, w1 := muxFor(t, dir, "n1", KindMember), muxFor(t, dir, "n2", KindMember), muxFor(t, dir, "w1", KindMember)
	relayTo(w1, n2, "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, id, err := n1.DialRPCVia(ctx, w1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if id != "n2" {
		t.Fatalf("reached %q, want n2", id)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := readPeer(t, c); got != "n1" {
		t.Fatalf("n2 saw the relayed stream as %q, want n1 (end to end)", got)
	}
}

// TestRelayCannotImpersonate: a relay that says it reached n3 but
// connects to n2 is caught by the inner handshake; one that relays
// nothing, or refuses, fails the dial with ErrRelayRefused.
func TestRelayCannotImpersonate(t *testing.T) {
	dir := mustCA(t, "")
	n1, n2, w1 := muxFor(t, dir, "n1", KindMember), muxFor(t, dir, "n2", KindMember), muxFor(t, dir, "w1", KindMember)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, _, err := n1.DialRPCVia(ctx, w1.Addr().String()); !errors.Is(err, ErrRelayRefused) || !strings.Contains(err.Error(), "does not relay") {
		t.Fatalf("relay without SetRelay: %v, want ErrRelayRefused", err)
	}
	w1.SetRelay(func(p Identity) (string, string, error) {
		return "", "", fmt.Errorf("no leader known to relay %s to", p.Name)
	})
	if _, _, err := n1.DialRPCVia(ctx, w1.Addr().String()); !errors.Is(err, ErrRelayRefused) || !strings.Contains(err.Error(), "no leader known to relay n1") {
		t.Fatalf("refusing relay: %v", err)
	}
	relayTo(w1, n2, "n3")
	if _, _, err := n1.DialRPCVia(ctx, w1.Addr().String()); !errors.Is(err, ErrWrongPeer) {
		t.Fatalf("lying relay: %v, want ErrWrongPeer", err)
	}
	// The far end's fault filter and the dialer's authorizer apply to it
	// as to a direct stream.
	relayTo(w1, n2, "n2")
	n1.SetAuthorizer(func(p Identity) bool { return p.Name != "n2" })
	if _, _, err := n1.DialRPCVia(ctx, w1.Addr().String()); err == nil || !strings.Contains(err.Error(), "relayed peer member/n2 refused") {
		t.Fatalf("unauthorized far end: %v", err)
	}
	n1.SetAuthorizer(nil)
	// The fault filter models links: n1's cut to n2 does not stop a
	// stream through w1, but n2's refusal of n1 does.
	n1.SetPeerFilter(func(p string) bool { return p != "n2" })
	if _, err := dialPeer(t, n1, n2); err == nil {
		t.Fatal("the direct dial passed n1's filter")
	}
	c, _, err := n1.DialRPCVia(ctx, w1.Addr().String())
	if err != nil {
		t.Fatalf("relayed dial around n1's own cut: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := readPeer(t, c); got != "n1" {
		t.Fatalf("relayed around the cut: %q", got)
	}
	n1.SetPeerFilter(nil)
	n2.SetPeerFilter(func(p string) bool { return p != "n1" })
	c, _, err = n1.DialRPCVia(ctx, w1.Addr().String())
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got := readPeer(t, c); got != "" {
			t.Fatalf("n2 served n1 through the relay although it refuses n1: %q", got)
		}
	}
}

// TestPoolCallVia: the pool keeps relayed clients apart from direct ones
// and a relayed call answers like a direct one.
func TestPoolCallVia(t *testing.T) {
	dir := mustCA(t, "")
	n1 := muxFor(t, dir, "n1", KindMember)
	w1 := muxFor(t, dir, "w1", KindMember)
	n2 := echoMux(t, dir, "n2")
	relayTo(w1, n2, "n2")
	p := NewPool(n1)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got string
	if err := p.CallVia(ctx, w1.Addr().String(), "Echo.Who", "hi", &got); err != nil {
		t.Fatal(err)
	}
	if got != "n1 says hi" {
		t.Fatalf("relayed call answered %q", got)
	}
	// A direct call to w1's address is another client: w1 serves no Echo.
	if err := p.Call(ctx, w1.Addr().String(), "Echo.Who", "hi", &got); err == nil {
		t.Fatal("a direct call to the relay reached the relayed client")
	}
}

// echoMux is member name's mux serving Echo over net/rpc: its streams
// stay open until the caller closes them.
func echoMux(t *testing.T, dir, name string) *Mux {
	t.Helper()
	b := mustLoad(t, mustCert(t, dir, CertRequest{Name: name, Kind: KindMember}))
	m, err := Listen("127.0.0.1:0", "", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv, err := NewRPCServer("Echo", func(peer string) any { return &echo{peer: peer} })
	if err != nil {
		t.Fatal(err)
	}
	m.Serve(srv.ServeConn)
	return m
}

// TestRelaySlotsArePerPeer: one member holding relayed streams open (a
// compromised or buggy member, with its own certificate: idle RPC
// streams through the relay to the leader) cannot take every relay slot;
// another member still gets its lease calls relayed.
func TestRelaySlotsArePerPeer(t *testing.T) {
	dir := mustCA(t, "")
	n1, n3, w1 := muxFor(t, dir, "n1", KindMember), muxFor(t, dir, "n3", KindMember), muxFor(t, dir, "w1", KindMember)
	n2 := echoMux(t, dir, "n2")
	relayTo(w1, n2, "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held := 0
	for i := 0; i < maxRelays; i++ {
		c, _, err := n3.DialRPCVia(ctx, w1.Addr().String())
		if errors.Is(err, ErrRelayRefused) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held++
	}
	c, _, err := n1.DialRPCVia(ctx, w1.Addr().String())
	if err != nil {
		t.Fatalf("n3 holds %d relayed streams; n1's relay: %v", held, err)
	}
	c.Close()
}

// echo answers who called.
type echo struct{ peer string }

// Who returns the caller's identity and its argument.
func (e *echo) Who(arg string, reply *string) error {
	*reply = e.peer + " says " + arg
	return nil
}
