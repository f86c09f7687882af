package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const netTimeout = 5 * time.Second

func mustLoad(t *testing.T, f Files) *Bundle {
	t.Helper()
	b, err := Load(f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

// handshakeResult is the outcome of one TLS connection attempt.
type handshakeResult struct {
	serverErr  error
	clientErr  error
	serverPeer string // CertIdentity of the client certificate seen by the server
	clientPeer string // CertIdentity of the server certificate seen by the client
}

// tryHandshake runs one TLS connection over 127.0.0.1 between the two
// configurations. After a successful handshake the server writes one byte
// that the client reads, so that a TLS 1.3 client learns about a rejection
// of its certificate (which arrives after the client's handshake is done).
func tryHandshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(netTimeout)
	if err := ln.(*net.TCPListener).SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}

	type srvOut struct {
		err  error
		peer string
	}
	done := make(chan srvOut, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- srvOut{err: fmt.Errorf("accept: %w", err)}
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Server(raw, serverCfg)
		if err := conn.Handshake(); err != nil {
			done <- srvOut{err: err}
			return
		}
		var peer string
		if pc := conn.ConnectionState().PeerCertificates; len(pc) > 0 {
			peer = CertIdentity(pc[0])
		}
		_, err = conn.Write([]byte{'k'})
		done <- srvOut{err: err, peer: peer}
	}()

	var res handshakeResult
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), netTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(deadline)
	conn := tls.Client(raw, clientCfg)
	if err := conn.Handshake(); err != nil {
		res.clientErr = err
	} else {
		if pc := conn.ConnectionState().PeerCertificates; len(pc) > 0 {
			res.clientPeer = CertIdentity(pc[0])
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(conn, buf); err != nil {
			res.clientErr = err
		}
	}
	// Unblock the server if the client gave up early.
	raw.Close()

	select {
	case out := <-done:
		res.serverErr, res.serverPeer = out.err, out.peer
	case <-time.After(netTimeout + time.Second):
		t.Fatal("server goroutine did not finish")
	}
	return res
}

// twoCAs returns two independent PKI directories.
func twoCAs(t *testing.T) (dirA, dirB string) {
	t.Helper()
	return mustCA(t, "cluster A"), mustCA(t, "cluster B")
}

func TestLoadErrors(t *testing.T) {
	dirA, dirB := twoCAs(t)
	fa := mustCert(t, dirA, CertRequest{Name: "node1"})
	fa2 := mustCert(t, dirA, CertRequest{Name: "node2"})
	fb := mustCert(t, dirB, CertRequest{Name: "node1"})

	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("this is not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	expired := writeExpiredCert(t, dirA, "old")

	cases := []struct {
		name     string
		files    Files
		blame    string // file that must be named in the error
		contains string // description that must be in the error
	}{
		{"missing CA", Files{CA: missing, Cert: fa.Cert, Key: fa.Key}, missing, "does not exist"},
		{"missing cert", Files{CA: fa.CA, Cert: missing, Key: fa.Key}, missing, "does not exist"},
		{"missing key", Files{CA: fa.CA, Cert: fa.Cert, Key: missing}, missing, "does not exist"},
		{"garbage CA", Files{CA: garbage, Cert: fa.Cert, Key: fa.Key}, garbage, "not PEM"},
		{"garbage cert", Files{CA: fa.CA, Cert: garbage, Key: fa.Key}, garbage, "not PEM"},
		{"garbage key", Files{CA: fa.CA, Cert: fa.Cert, Key: garbage}, garbage, "not PEM"},
		{"key as cert", Files{CA: fa.CA, Cert: fa.Key, Key: fa.Key}, fa.Key, "no CERTIFICATE"},
		{"cert as key", Files{CA: fa.CA, Cert: fa.Cert, Key: fa.Cert}, fa.Cert, "no private key"},
		{"mismatched key", Files{CA: fa.CA, Cert: fa.Cert, Key: fa2.Key}, fa2.Key, "does not match"},
		{"other CA", Files{CA: fa.CA, Cert: fb.Cert, Key: fb.Key}, fb.Cert, "not signed by the CA"},
		{"expired", Files{CA: fa.CA, Cert: expired.Cert, Key: expired.Key}, expired.Cert, "expired"},
		{"empty", Files{CA: fa.CA, Cert: fa.Cert}, "", "must all be given"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Load(tc.files)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", b)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.blame) || !strings.Contains(msg, tc.contains) {
				t.Fatalf("error %q should name %q and say %q", msg, tc.blame, tc.contains)
			}
		})
	}
}

// writeExpiredCert issues, with the CA in dir, a certificate that expired
// an hour ago.
func writeExpiredCert(t *testing.T, dir, name string) Files {
	t.Helper()
	caCert, caKey, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     time.Now().Add(-time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	f := filesFor(dir, name)
	if err := writeCertAndKey(f.Cert, f.Key, der, key); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigsSettings(t *testing.T) {
	dir := mustCA(t, "")
	b := mustLoad(t, mustCert(t, dir, CertRequest{Name: "node1"}))

	ps := b.PeerServerConfig()
	if ps.MinVersion != tls.VersionTLS13 || ps.ClientAuth != tls.RequireAndVerifyClientCert ||
		ps.ClientCAs != b.Pool || len(ps.Certificates) != 1 {
		t.Errorf("PeerServerConfig = %+v", ps)
	}
	pc := b.PeerClientConfig()
	if pc.MinVersion != tls.VersionTLS13 || !pc.InsecureSkipVerify || pc.VerifyConnection == nil ||
		len(pc.Certificates) != 1 {
		t.Errorf("PeerClientConfig = %+v", pc)
	}
	if err := pc.VerifyConnection(tls.ConnectionState{}); !errors.Is(err, ErrUntrustedPeer) {
		t.Errorf("VerifyConnection with no certificates: %v", err)
	}
	as := b.APIServerConfig()
	if as.MinVersion != tls.VersionTLS12 || as.ClientAuth != tls.RequireAndVerifyClientCert ||
		as.ClientCAs != b.Pool || len(as.Certificates) != 1 {
		t.Errorf("APIServerConfig = %+v", as)
	}
}

func TestPeerSameCA(t *testing.T) {
	dir := mustCA(t, "")
	// Neither certificate has an IP SAN: peers do not check host names.
	srv := mustLoad(t, mustCert(t, dir, CertRequest{Name: "node1"}))
	cli := mustLoad(t, mustCert(t, dir, CertRequest{Name: "node2"}))

	res := tryHandshake(t, srv.PeerServerConfig(), cli.PeerClientConfig())
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake failed: server: %v; client: %v", res.serverErr, res.clientErr)
	}
	if res.serverPeer != "node2" || res.clientPeer != "node1" {
		t.Fatalf("identities: server saw %q, client saw %q", res.serverPeer, res.clientPeer)
	}
}

func TestPeerServerRejectsClientFromOtherCA(t *testing.T) {
	cases := []struct{ name, caA, caB string }{
		// Another cluster with the same (default) CA name: even a plain
		// crypto/tls client would send its certificate.
		{"same CA name", "", ""},
		// Different CA names: a plain crypto/tls client would silently
		// send no certificate; PeerClientConfig sends it anyway.
		{"different CA name", "cluster A", "cluster B"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dirA, dirB := mustCA(t, tc.caA), mustCA(t, tc.caB)
			srv := mustLoad(t, mustCert(t, dirA, CertRequest{Name: "node1"}))
			intruder := mustLoad(t, mustCert(t, dirB, CertRequest{Name: "intruder"}))

			// The intruder trusts the server (so that it gets as far as
			// sending its certificate) but its own certificate comes from
			// CA B.
			cliCfg := intruder.PeerClientConfig()
			cliCfg.VerifyConnection = func(cs tls.ConnectionState) error {
				return verifyPeerChain(srv.Pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			}

			res := tryHandshake(t, srv.PeerServerConfig(), cliCfg)
			if res.serverErr == nil {
				t.Fatal("server accepted a client certificate from another CA")
			}
			if !IsUntrustedPeer(res.serverErr) {
				t.Errorf("IsUntrustedPeer(server error %q) = false", res.serverErr)
			}
			if _, ok := errors.AsType[*tls.CertificateVerificationError](res.serverErr); !ok {
				t.Errorf("server error %T %q is not a *tls.CertificateVerificationError", res.serverErr, res.serverErr)
			}
			if res.clientErr == nil {
				t.Fatal("client did not notice the rejection")
			}
			if !IsUntrustedPeer(res.clientErr) {
				t.Errorf("IsUntrustedPeer(client error %q) = false", res.clientErr)
			}
			t.Logf("server error: %v; client error: %v", res.serverErr, res.clientErr)
		})
	}
}

// TestPlainClientOmitsForeignCert documents the crypto/tls behaviour that
// PeerClientConfig works around: a client configured only with
// Certificates does not send a certificate whose issuer the server does not
// advertise.
func TestPlainClientOmitsForeignCert(t *testing.T) {
	dirA, dirB := mustCA(t, "cluster A"), mustCA(t, "cluster B")
	srv := mustLoad(t, mustCert(t, dirA, CertRequest{Name: "node1"}))
	intruder := mustLoad(t, mustCert(t, dirB, CertRequest{Name: "intruder"}))
	cliCfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{intruder.Certificate},
		RootCAs:      srv.Pool,
		ServerName:   "node1",
	}
	res := tryHandshake(t, srv.PeerServerConfig(), cliCfg)
	if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), "didn't provide a certificate") {
		t.Fatalf("server error = %v, want missing client certificate", res.serverErr)
	}
}

func TestPeerClientRejectsServerFromOtherCA(t *testing.T) {
	dirA, dirB := twoCAs(t)
	cli := mustLoad(t, mustCert(t, dirA, CertRequest{Name: "node1"}))
	impostor := mustLoad(t, mustCert(t, dirB, CertRequest{Name: "impostor", IPs: []net.IP{net.ParseIP("127.0.0.1")}}))

	// The impostor would even accept our client certificate.
	srvCfg := impostor.PeerServerConfig()
	srvCfg.ClientCAs = cli.Pool

	res := tryHandshake(t, srvCfg, cli.PeerClientConfig())
	if res.clientErr == nil {
		t.Fatal("client accepted a server certificate from another CA")
	}
	if !errors.Is(res.clientErr, ErrUntrustedPeer) {
		t.Errorf("client error %q does not wrap ErrUntrustedPeer", res.clientErr)
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](res.clientErr); !ok {
		t.Errorf("client error %q does not wrap x509.UnknownAuthorityError", res.clientErr)
	}
	if !IsUntrustedPeer(res.clientErr) {
		t.Errorf("IsUntrustedPeer(client error %q) = false", res.clientErr)
	}
	if res.serverErr == nil {
		t.Fatal("server handshake succeeded although the client aborted")
	}
	if !IsUntrustedPeer(res.serverErr) {
		t.Errorf("IsUntrustedPeer(server error %q) = false", res.serverErr)
	}
	t.Logf("server error: %v; client error: %v", res.serverErr, res.clientErr)
}

func TestPeerServerRequiresClientCert(t *testing.T) {
	dir := mustCA(t, "")
	srv := mustLoad(t, mustCert(t, dir, CertRequest{Name: "node1"}))
	cliCfg := srv.PeerClientConfig()
	cliCfg.Certificates = nil
	cliCfg.GetClientCertificate = nil

	res := tryHandshake(t, srv.PeerServerConfig(), cliCfg)
	if res.serverErr == nil {
		t.Fatal("server accepted a client without a certificate")
	}
	if res.clientErr == nil {
		t.Fatal("client did not notice the rejection")
	}
}

func TestIsUntrustedPeer(t *testing.T) {
	yes := []error{
		ErrUntrustedPeer,
		fmt.Errorf("dial: %w", ErrUntrustedPeer),
		x509.UnknownAuthorityError{},
		&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}},
		tls.AlertError(42),
		fmt.Errorf("quic: %w", tls.AlertError(48)),
		// A remote alert over TCP: real handshakes in TestRemoteAlertShape
		// (its value is crypto/tls's unexported alert type); the same
		// words in another error are not one (TestUntrustedPeerNotByText).
	}
	for _, err := range yes {
		if !IsUntrustedPeer(err) {
			t.Errorf("IsUntrustedPeer(%T %q) = false", err, err)
		}
	}
	no := []error{
		nil,
		io.EOF,
		errors.New("connection refused"),
		tls.AlertError(40),
		&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}},
	}
	for _, err := range no {
		if IsUntrustedPeer(err) {
			t.Errorf("IsUntrustedPeer(%v) = true", err)
		}
	}
}

// serveAPI starts an HTTPS server with b.APIServerConfig on 127.0.0.1 and
// returns its base URL.
func serveAPI(t *testing.T, b *Bundle) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				id = CertIdentity(r.TLS.PeerCertificates[0])
			}
			fmt.Fprintf(w, "hello %s", id)
		}),
		TLSConfig:         b.APIServerConfig(),
		ReadHeaderTimeout: netTimeout,
		ReadTimeout:       netTimeout,
		WriteTimeout:      netTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

func apiGet(cfg *tls.Config, url string) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg, TLSHandshakeTimeout: netTimeout}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: netTimeout}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestLoadClientHostnameVerification(t *testing.T) {
	dir := mustCA(t, "")
	withIP := mustLoad(t, mustCert(t, dir, CertRequest{Name: "api1", IPs: []net.IP{net.ParseIP("127.0.0.1")}}))
	withoutIP := mustLoad(t, mustCert(t, dir, CertRequest{Name: "api2"}))
	admin := mustCert(t, dir, CertRequest{Name: "admin"})

	cfg, err := LoadClient(admin.CA, admin.Cert, admin.Key)
	if err != nil {
		t.Fatalf("LoadClient: %v", err)
	}

	body, err := apiGet(cfg, serveAPI(t, withIP))
	if err != nil {
		t.Fatalf("GET against cert with 127.0.0.1 SAN: %v", err)
	}
	if body != "hello admin" {
		t.Fatalf("body = %q", body)
	}

	_, err = apiGet(cfg, serveAPI(t, withoutIP))
	if err == nil {
		t.Fatal("GET against cert without 127.0.0.1 SAN succeeded")
	}
	if _, ok := errors.AsType[x509.HostnameError](err); !ok {
		t.Fatalf("error %q is not an x509.HostnameError", err)
	}
	if IsUntrustedPeer(err) {
		t.Errorf("IsUntrustedPeer(hostname mismatch %q) = true", err)
	}

	// Without a client certificate the API server refuses the request.
	anon, err := LoadClient(admin.CA, "", "")
	if err != nil {
		t.Fatalf("LoadClient without client cert: %v", err)
	}
	if anon.Certificates != nil {
		t.Fatal("anonymous client config has certificates")
	}
	if _, err := apiGet(anon, serveAPI(t, withIP)); err == nil {
		t.Fatal("API server accepted a client without a certificate")
	}
}

func TestLoadClientErrors(t *testing.T) {
	dir := mustCA(t, "")
	f := mustCert(t, dir, CertRequest{Name: "admin"})
	other := mustCert(t, dir, CertRequest{Name: "other"})
	missing := filepath.Join(t.TempDir(), "nope.pem")

	if _, err := LoadClient(f.CA, f.Cert, ""); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("cert without key: %v", err)
	}
	if _, err := LoadClient(f.CA, "", f.Key); err == nil || !strings.Contains(err.Error(), "together") {
		t.Errorf("key without cert: %v", err)
	}
	if _, err := LoadClient("", "", ""); err == nil {
		t.Error("no CA file accepted")
	}
	if _, err := LoadClient(missing, "", ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing CA: %v", err)
	}
	if _, err := LoadClient(f.CA, f.Cert, other.Key); err == nil || !strings.Contains(err.Error(), other.Key) {
		t.Errorf("mismatched key: %v", err)
	}
}
