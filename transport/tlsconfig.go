package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"reflect"
	"time"
)

// ErrUntrustedPeer is returned (wrapped, with detail) by the
// VerifyConnection callback of PeerClientConfig when the peer's
// certificate does not chain to the cluster CA.
var ErrUntrustedPeer = errors.New("peer certificate not signed by the cluster CA")

// Files names the PEM files making up a node's TLS identity.
type Files struct {
	// CA is the cluster CA certificate file (may hold several certificates).
	CA string
	// Cert is the node certificate file (leaf first, optional intermediates).
	Cert string
	// Key is the node private key file.
	Key string
}

// Bundle is a loaded and cross-checked TLS identity: the cluster CA and the
// node's certificate and key. Build one with Load.
type Bundle struct {
	// Pool holds the cluster CA certificates, for verifying peers.
	Pool *x509.CertPool
	// Certificate is the node's certificate chain and private key; its Leaf
	// field is populated.
	Certificate tls.Certificate
	// CACerts are the parsed certificates from the CA file.
	CACerts []*x509.Certificate
}

// Load reads the CA, certificate and key files named by f and checks that
// they belong together: the key matches the certificate, and the
// certificate is currently valid and signed by the CA. Errors name the
// offending file and what is wrong with it.
func Load(f Files) (*Bundle, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("transport: load TLS files: CA, certificate and key files must all be given (got CA=%q cert=%q key=%q)", f.CA, f.Cert, f.Key)
	}
	caCerts, err := readCertFile("CA file", f.CA)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range caCerts {
		if !c.IsCA {
			return nil, fmt.Errorf("transport: CA file %s: certificate %q is not a CA certificate", f.CA, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	cert, err := loadKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	leaf := cert.Leaf
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("transport: certificate file %s: certificate expired at %s",
			f.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("transport: certificate file %s: certificate not valid before %s (check the clock)",
			f.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("transport: certificate file %s: %w", f.Cert, err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
			return nil, fmt.Errorf("transport: certificate file %s: certificate %q is not signed by the CA in %s",
				f.Cert, leaf.Subject.CommonName, f.CA)
		}
		return nil, fmt.Errorf("transport: certificate file %s: does not verify against CA file %s: %w", f.Cert, f.CA, err)
	}
	return &Bundle{Pool: pool, Certificate: cert, CACerts: caCerts}, nil
}

// PeerServerConfig returns the server-side TLS configuration for
// member-to-member connections: TLS 1.3 only, presenting the node
// certificate and requiring a client certificate signed by the cluster CA.
func (b *Bundle) PeerServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    b.Pool,
	}
}

// PeerClientConfig returns the client-side TLS configuration for
// member-to-member connections: TLS 1.3 only, always presenting the node
// certificate (even when the server advertises different CA names). The
// server's certificate chain must verify against the
// cluster CA, but its host name is not checked, since members dial each
// other by address and membership is proven by the CA signature. A
// verification failure yields an error wrapping ErrUntrustedPeer.
func (b *Bundle) PeerClientConfig() *tls.Config {
	pool := b.Pool
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		Certificates:         []tls.Certificate{b.Certificate},
		GetClientCertificate: alwaysPresent(b.Certificate),
		// Standard verification would also check the host name; it is
		// replaced by the chain-only verification in VerifyConnection.
		InsecureSkipVerify: true, //nolint:gosec // chain verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeerChain(pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
		},
	}
}

// APIServerConfig returns the server-side TLS configuration for the HTTP
// API: TLS 1.2 minimum with AEAD suites only (APICipherSuites; no CBC,
// no SHA-1 MACs, no RSA key exchange), presenting the node certificate
// and requiring a client certificate signed by the cluster CA.
func (b *Bundle) APIServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: APICipherSuites(),
		Certificates: []tls.Certificate{b.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    b.Pool,
	}
}

// APICipherSuites are the TLS 1.2 suites the API accepts: ECDHE with
// AES-GCM or ChaCha20-Poly1305. (TLS 1.3 suites are not configurable and
// all AEAD.)
func APICipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// LoadClient builds a TLS configuration for command-line clients of the
// HTTP API. The server is verified against the CA certificates in caFile
// with normal host name verification (net/http sets ServerName from the
// URL). certFile and keyFile name an optional client certificate; give both
// or neither. When given, it is always presented, even if the server
// advertises different CA names.
func LoadClient(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("transport: client TLS: a CA file is required")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("transport: client TLS: certificate and key must be given together (got cert=%q key=%q)", certFile, keyFile)
	}
	caCerts, err := readCertFile("CA file", caFile)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range caCerts {
		pool.AddCert(c)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
	}
	if certFile != "" {
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		if time.Now().After(cert.Leaf.NotAfter) {
			return nil, fmt.Errorf("transport: certificate file %s: certificate expired at %s",
				certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		cfg.Certificates = []tls.Certificate{cert}
		cfg.GetClientCertificate = alwaysPresent(cert)
	}
	return cfg, nil
}

// IsUntrustedPeer reports whether err is a TLS handshake failure caused by
// one side not trusting the other's certificate authority. It recognizes,
// anywhere in the error chain:
//
//   - ErrUntrustedPeer (PeerClientConfig's verification failed locally);
//   - x509.UnknownAuthorityError (local verification failed; this is what
//     a PeerServerConfig or APIServerConfig server sees, wrapped in a
//     *tls.CertificateVerificationError, when a client presents a
//     certificate from another CA);
//   - a tls.AlertError for "unknown certificate authority" or "bad
//     certificate" (QUIC transports report alerts this way);
//   - those alerts received from the remote side over TCP (see
//     remoteAlert): "unknown certificate authority" when a server rejects
//     our client certificate, "bad certificate" when a PeerClientConfig
//     client rejects our server certificate.
//
// It never looks at the error's text.
func IsUntrustedPeer(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUntrustedPeer) {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*x509.UnknownAuthorityError](err); ok {
		return true
	}
	if a, ok := errors.AsType[tls.AlertError](err); ok && untrustedAlert(a) {
		return true
	}
	a, ok := remoteAlert(err)
	return ok && untrustedAlert(a)
}

// untrustedAlert reports whether a is an alert a side sends when it does
// not trust the other's certificate.
func untrustedAlert(a tls.AlertError) bool {
	return a == alertBadCertificate || a == alertUnknownCA
}

// opRemoteError is the Op of the *net.OpError by which crypto/tls reports
// an alert received from the remote side.
const opRemoteError = "remote error"

// remoteAlert returns the TLS alert the remote side sent, when err (or an
// error it wraps) is crypto/tls's report of one over TCP:
// &net.OpError{Op: "remote error", Err: alert(code)}, where alert is
// crypto/tls's unexported uint8 type (crypto/tls, conn.go readRecordOrCCS;
// it exports AlertError only for QUIC). The code is read from the value's
// kind and package, not from its text; TestRemoteAlertShape pins this
// shape against real handshakes, so a Go release that changes it fails
// that test rather than silently reporting no alert.
func remoteAlert(err error) (tls.AlertError, bool) {
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != opRemoteError || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 || v.Type().PkgPath() != "crypto/tls" {
		return 0, false
	}
	return tls.AlertError(v.Uint()), true
}

// TLS alert codes (RFC 8446 section 6); crypto/tls does not export them.
const (
	alertBadCertificate tls.AlertError = 42
	alertUnknownCA      tls.AlertError = 48
)

// alwaysPresent returns a GetClientCertificate callback that presents cert
// unconditionally. Without it, crypto/tls silently sends no certificate when
// cert's issuer name is not among the CA names the server advertises (as
// happens with a certificate from another cluster's CA), and the server
// would then only report a missing certificate ("tls: client didn't provide
// a certificate") instead of an unknown certificate authority.
func alwaysPresent(cert tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c := cert
		return &c, nil
	}
}

// verifyPeerChain verifies a peer's certificate chain against pool
// without checking host names.
func verifyPeerChain(pool *x509.CertPool, certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: peer presented no certificate", ErrUntrustedPeer)
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("%w: certificate %q: %w", ErrUntrustedPeer, certs[0].Subject.CommonName, err)
	}
	return nil
}

// loadKeyPair reads a certificate chain and its private key, checks that
// they match, and returns them as a tls.Certificate with Leaf set.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certs, err := readCertFile("certificate file", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := readKeyFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := keyMatchesCert(key, certs[0]); err != nil {
		return tls.Certificate{}, fmt.Errorf("key file %s does not match certificate file %s: %w", keyFile, certFile, err)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// readPEMFile reads path, describing it as what in errors.
func readPEMFile(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: file does not exist", what, path)
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return data, nil
}

// readCertFile returns all certificates in a PEM file (at least one),
// describing the file as what in errors.
func readCertFile(what, path string) ([]*x509.Certificate, error) {
	data, err := readPEMFile(what, path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	sawPEM := false
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		sawPEM = true
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: invalid certificate: %w", what, path, err)
		}
		certs = append(certs, c)
	}
	if !sawPEM {
		return nil, fmt.Errorf("%s %s: not PEM encoded", what, path)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s %s: contains no CERTIFICATE block", what, path)
	}
	return certs, nil
}

// readKeyFile returns the first private key in a PEM file. PKCS#8, SEC 1
// (EC) and PKCS#1 (RSA) encodings are accepted.
func readKeyFile(path string) (crypto.Signer, error) {
	const what = "key file"
	data, err := readPEMFile(what, path)
	if err != nil {
		return nil, err
	}
	sawPEM := false
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		sawPEM = true
		var key any
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: invalid %s: %w", what, path, block.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("%s %s: unsupported private key type %T", what, path, key)
		}
	}
	if !sawPEM {
		return nil, fmt.Errorf("%s %s: not PEM encoded", what, path)
	}
	return nil, fmt.Errorf("%s %s: contains no private key block", what, path)
}

// keyMatchesCert reports an error unless key is the private key for cert.
func keyMatchesCert(key crypto.Signer, cert *x509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return fmt.Errorf("unsupported key type %T", key)
	}
	if !pub.Equal(cert.PublicKey) {
		return errors.New("private key does not match the certificate's public key")
	}
	return nil
}
