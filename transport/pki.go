// Package transport provides the cluster PKI (a private CA that signs one
// certificate per member or client) and the TLS configurations used for
// member-to-member traffic and for the HTTP API.
package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DefaultCAName is the subject common name used by CreateCA when no
	// name is given.
	DefaultCAName = "raftha cluster CA"
	// DefaultCAValidity is the CA lifetime used by CreateCA when the
	// requested validity is zero (10 years).
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultCertValidity is the leaf certificate lifetime used by
	// CreateCert when the requested validity is zero (825 days).
	DefaultCertValidity = 825 * 24 * time.Hour

	// CACertFile is the file name of the CA certificate inside a PKI directory.
	CACertFile = "ca.pem"
	// CAKeyFile is the file name of the CA private key inside a PKI directory.
	CAKeyFile = "ca-key.pem"

	// maxNameLen bounds certificate names (X.509 ub-common-name is 64).
	maxNameLen = 64
	// backdate is subtracted from NotBefore to tolerate small clock skew
	// between the machine that issues a certificate and the ones using it.
	backdate = 5 * time.Minute
)

// CertRequest describes a leaf certificate to be issued by CreateCert.
type CertRequest struct {
	// Name is the member or client name. It becomes the subject common
	// name, a DNS subject alternative name, and the file name stem
	// (NAME.pem and NAME-key.pem). Only [A-Za-z0-9._-] is allowed.
	Name string
	// IPs are added as IP subject alternative names.
	IPs []net.IP
	// DNSNames are added as DNS subject alternative names (Name is always
	// added as well).
	DNSNames []string
	// Validity is the certificate lifetime; zero means DefaultCertValidity.
	Validity time.Duration
	// Kind is what the certificate is for, KindMember or KindOperator
	// (written as the URI SAN raftha://KIND/NAME); required. KindLegacy
	// writes no URI SAN, as raftha did before kinds (to test migrations).
	Kind CertKind
}

// CreateCA creates a new cluster certificate authority in dir: dir/ca.pem
// (certificate) and dir/ca-key.pem (ECDSA P-256 private key, mode 0600).
// The directory is created with mode 0700 if missing. An empty name means
// DefaultCAName and a zero validity means DefaultCAValidity.
//
// CreateCA never overwrites an existing ca.pem or ca-key.pem: losing a CA
// key would make every certificate issued by it unverifiable and prevent
// issuing new ones.
func CreateCA(dir string, name string, validity time.Duration) error {
	if name == "" {
		name = DefaultCAName
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return fmt.Errorf("transport: create CA: negative validity %s", validity)
	}
	if dir == "" {
		return errors.New("transport: create CA: empty directory")
	}
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("transport: create CA: %w", err)
	}
	if err := refuseExisting(certPath, keyPath); err != nil {
		return fmt.Errorf("transport: create CA: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("transport: create CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return fmt.Errorf("transport: create CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// The cluster CA signs leaves directly; forbid intermediates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("transport: create CA: sign certificate: %w", err)
	}
	if err := writeCertAndKey(certPath, keyPath, der, key); err != nil {
		return fmt.Errorf("transport: create CA: %w", err)
	}
	return nil
}

// CreateCert issues a leaf certificate signed by the CA found in dir
// (dir/ca.pem and dir/ca-key.pem) and writes it to dir/NAME.pem and its
// ECDSA P-256 private key to dir/NAME-key.pem (mode 0600).
//
// The certificate has subject CN=req.Name, is valid for both server and
// client authentication, and carries req.IPs, req.DNSNames and req.Name as
// subject alternative names, and its kind and name as the URI SAN
// raftha://KIND/NAME (see CertIdentityOf). A zero req.Validity means DefaultCertValidity;
// the expiry is capped at the CA's own expiry. Existing files are never
// overwritten, and files are written atomically.
func CreateCert(dir string, req CertRequest) error {
	if err := ValidateName(req.Name); err != nil {
		return fmt.Errorf("transport: create certificate: %w", err)
	}
	var uris []*url.URL
	switch req.Kind {
	case KindMember, KindOperator:
		uris = append(uris, IdentityURI(req.Kind, req.Name))
	case KindLegacy:
	default:
		return fmt.Errorf("transport: create certificate %q: kind %q: must be %s or %s", req.Name, req.Kind, KindMember, KindOperator)
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultCertValidity
	}
	if validity < 0 {
		return fmt.Errorf("transport: create certificate %q: negative validity %s", req.Name, validity)
	}
	certPath := filepath.Join(dir, req.Name+".pem")
	keyPath := filepath.Join(dir, req.Name+"-key.pem")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return fmt.Errorf("transport: create certificate %q: %w", req.Name, err)
	}

	caCert, caKey, err := loadCA(dir)
	if err != nil {
		return fmt.Errorf("transport: create certificate %q: %w", req.Name, err)
	}
	now := time.Now()
	if now.After(caCert.NotAfter) {
		return fmt.Errorf("transport: create certificate %q: CA certificate %s expired at %s",
			req.Name, filepath.Join(dir, CACertFile), caCert.NotAfter.Format(time.RFC3339))
	}
	notAfter := now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("transport: create certificate %q: generate key: %w", req.Name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return fmt.Errorf("transport: create certificate %q: %w", req.Name, err)
	}
	dnsNames := []string{req.Name}
	for _, n := range req.DNSNames {
		if n == "" {
			return fmt.Errorf("transport: create certificate %q: empty DNS name", req.Name)
		}
		if !containsFold(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	var ips []net.IP
	for _, ip := range req.IPs {
		if ip == nil {
			return fmt.Errorf("transport: create certificate %q: invalid (nil) IP address", req.Name)
		}
		ips = append(ips, ip)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  uris,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("transport: create certificate %q: sign certificate: %w", req.Name, err)
	}
	if err := writeCertAndKey(certPath, keyPath, der, key); err != nil {
		return fmt.Errorf("transport: create certificate %q: %w", req.Name, err)
	}
	return nil
}

// CertIdentity returns the name carried by a certificate issued by
// CreateCert (see CertIdentityOf), or "" for a nil certificate or a
// malformed identity. It does not say the kind: use CertIdentityOf where
// the kind matters.
func CertIdentity(cert *x509.Certificate) string {
	id, err := CertIdentityOf(cert)
	if err != nil {
		return ""
	}
	return id.Name
}

// ValidateName reports whether name is acceptable as a certificate name
// for CreateCert: non-empty, at most 64 characters of [A-Za-z0-9._-], not
// starting with '.' or '-', and not clashing with the CA files ("ca") or
// with another certificate's key file (names ending in "-key").
func ValidateName(name string) error {
	if name == "" {
		return errors.New("invalid name: empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("invalid name %q: longer than %d characters", name, maxNameLen)
	}
	for _, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') ||
			r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("invalid name %q: character %q not allowed (use only A-Z a-z 0-9 . _ -)", name, r)
		}
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("invalid name %q: must not start with %q", name, name[0])
	}
	if strings.EqualFold(name, "ca") {
		return fmt.Errorf("invalid name %q: reserved for the cluster CA", name)
	}
	if strings.HasSuffix(strings.ToLower(name), "-key") {
		return fmt.Errorf("invalid name %q: must not end in \"-key\" (clashes with key file names)", name)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// refuseExisting returns an error naming the first of paths that exists
// (or cannot be checked).
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		_, err := os.Lstat(p)
		switch {
		case err == nil:
			return fmt.Errorf("%s already exists, refusing to overwrite it", p)
		case errors.Is(err, fs.ErrNotExist):
		default:
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

// loadCA reads and cross-checks dir/ca.pem and dir/ca-key.pem.
func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	certs, err := readCertFile("CA file", certPath)
	if err != nil {
		return nil, nil, err
	}
	caCert := certs[0]
	if !caCert.IsCA {
		return nil, nil, fmt.Errorf("CA certificate %s: not a CA certificate", certPath)
	}
	key, err := readKeyFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	if err := keyMatchesCert(key, caCert); err != nil {
		return nil, nil, fmt.Errorf("CA key %s does not match CA certificate %s: %w", keyPath, certPath, err)
	}
	return caCert, key, nil
}

// writeCertAndKey atomically writes the key (0600) and then the
// certificate (0644), each refusing to replace an existing file. If the
// certificate cannot be written, the key just written is removed again so
// that a retry is possible.
func writeCertAndKey(certPath, keyPath string, certDER []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// writeFileAtomic writes data to a temporary file in the target's
// directory, syncs it, and then moves it into place without ever
// replacing an existing file. A crash leaves either no file or the
// complete file (plus possibly a stray temporary file).
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// os.Link fails if path exists, which makes "create, never replace"
	// atomic. Fall back to check-and-rename where hard links are not
	// supported.
	if err = os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists, refusing to overwrite it", path)
		}
		if err = refuseExisting(path); err != nil {
			return err
		}
		if err = os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	} else {
		_ = os.Remove(tmpName)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename/link durable; errors are ignored because not
// every platform supports syncing directories.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
