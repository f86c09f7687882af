package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
)

// TestRemoteAlertShape pins how crypto/tls (this Go release) reports an
// alert received from the remote side over TCP, which remoteAlert reads
// without looking at text: a *net.OpError with Op "remote error" whose Err
// is crypto/tls's uint8 alert. Three real handshakes on 127.0.0.1: a server
// rejecting a client certificate from another CA (unknown CA, 48), a
// PeerClientConfig client rejecting a server from another CA (bad
// certificate, 42), and a version mismatch (protocol version, 70), which
// is an alert but not an untrusted peer.
func TestRemoteAlertShape(t *testing.T) {
	dirA, dirB := twoCAs(t)
	srv := mustLoad(t, mustCert(t, dirA, CertRequest{Name: "node1"}))
	intruder := mustLoad(t, mustCert(t, dirB, CertRequest{Name: "intruder"}))
	cliCfg := intruder.PeerClientConfig()
	cliCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyPeerChain(srv.Pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
	}
	impostorSrv := intruder.PeerServerConfig()
	impostorSrv.ClientCAs = srv.Pool
	old := srv.PeerClientConfig()
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	for _, tc := range []struct {
		name      string
		res       handshakeResult
		err       func(handshakeResult) error
		alert     tls.AlertError
		untrusted bool
	}{
		{"server rejects client CA", tryHandshake(t, srv.PeerServerConfig(), cliCfg), func(r handshakeResult) error { return r.clientErr }, alertUnknownCA, true},
		{"client rejects server CA", tryHandshake(t, impostorSrv, srv.PeerClientConfig()), func(r handshakeResult) error { return r.serverErr }, alertBadCertificate, true},
		{"version mismatch", tryHandshake(t, srv.PeerServerConfig(), old), func(r handshakeResult) error { return r.clientErr }, 70, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(tc.res)
			op, ok := errors.AsType[*net.OpError](err)
			if !ok || op.Op != opRemoteError {
				t.Fatalf("error %T %q: not a *net.OpError with Op %q: crypto/tls changed how it reports a remote alert (update remoteAlert)", err, err, opRemoteError)
			}
			a, ok := remoteAlert(err)
			if !ok || a != tc.alert {
				t.Fatalf("remoteAlert(%q) = %d, %v; want %d (Err is %T)", err, a, ok, tc.alert, op.Err)
			}
			if got := IsUntrustedPeer(err); got != tc.untrusted {
				t.Errorf("IsUntrustedPeer(%q) = %v, want %v", err, got, tc.untrusted)
			}
			// Wrapped, as the transport's dial and RPC errors wrap it.
			if got := IsUntrustedPeer(fmt.Errorf("dial n2: %w", err)); got != tc.untrusted {
				t.Errorf("IsUntrustedPeer(wrapped) = %v, want %v", got, tc.untrusted)
			}
		})
	}
}

// TestUntrustedPeerNotByText: an error that merely says "tls: bad
// certificate" or "remote error: tls: unknown certificate authority" (a
// proxy's message, a resource's output) is not a handshake rejection.
func TestUntrustedPeerNotByText(t *testing.T) {
	for _, err := range []error{
		errors.New("relay n3: remote error: tls: bad certificate"),
		fmt.Errorf("upstream answered: %w", errors.New("remote error: tls: unknown certificate authority")),
		&net.OpError{Op: "read", Net: "tcp", Err: errors.New("tls: bad certificate")},
		&net.OpError{Op: opRemoteError, Net: "tcp", Err: errors.New("tls: unknown certificate authority")},
	} {
		if IsUntrustedPeer(err) {
			t.Errorf("IsUntrustedPeer(%q) = true: recognised by its text", err)
		}
	}
}
