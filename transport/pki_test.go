package transport

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mustCA creates a CA in a fresh temporary directory and returns the directory.
func mustCA(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := CreateCA(dir, name, 0); err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return dir
}

// mustCert issues a certificate in dir and returns its Files.
func mustCert(t *testing.T, dir string, req CertRequest) Files {
	t.Helper()
	if req.Kind == "" {
		req.Kind = KindMember
	}
	if err := CreateCert(dir, req); err != nil {
		t.Fatalf("CreateCert(%q): %v", req.Name, err)
	}
	return filesFor(dir, req.Name)
}

func filesFor(dir, name string) Files {
	return Files{
		CA:   filepath.Join(dir, CACertFile),
		Cert: filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+"-key.pem"),
	}
}

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func near(a, b time.Time, tol time.Duration) bool {
	d := a.Sub(b)
	return d < tol && d > -tol
}

func TestCreateCAAndCert(t *testing.T) {
	dir := mustCA(t, "")

	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("dir mode = %o, want 700", m)
	}
	if m := fileMode(t, filepath.Join(dir, CAKeyFile)); m != 0o600 {
		t.Errorf("CA key mode = %o, want 600", m)
	}

	ca := readPEMCert(t, filepath.Join(dir, CACertFile))
	if !ca.IsCA || !ca.BasicConstraintsValid {
		t.Errorf("CA cert: IsCA=%v BasicConstraintsValid=%v", ca.IsCA, ca.BasicConstraintsValid)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage = %v", ca.KeyUsage)
	}
	if ca.Subject.CommonName != DefaultCAName {
		t.Errorf("CA CN = %q, want %q", ca.Subject.CommonName, DefaultCAName)
	}
	if _, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("CA public key is %T, want ECDSA", ca.PublicKey)
	}
	if ca.SerialNumber.Sign() <= 0 || ca.SerialNumber.BitLen() > 128 {
		t.Errorf("CA serial %v out of range", ca.SerialNumber)
	}
	if !near(ca.NotAfter, time.Now().Add(DefaultCAValidity), time.Hour) {
		t.Errorf("CA NotAfter = %v, want about 10 years from now", ca.NotAfter)
	}

	f := mustCert(t, dir, CertRequest{
		Name:     "node1",
		IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames: []string{"node1.example.com"},
	})
	if m := fileMode(t, f.Key); m != 0o600 {
		t.Errorf("leaf key mode = %o, want 600", m)
	}

	leaf := readPEMCert(t, f.Cert)
	if CertIdentity(leaf) != "node1" {
		t.Errorf("CertIdentity = %q, want node1", CertIdentity(leaf))
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("leaf key usage = %v", leaf.KeyUsage)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("leaf ext key usage = %v", leaf.ExtKeyUsage)
	}
	if !slices.Equal(leaf.DNSNames, []string{"node1", "node1.example.com"}) {
		t.Errorf("leaf DNS names = %v", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) ||
		!leaf.IPAddresses[1].Equal(net.ParseIP("10.0.0.1")) {
		t.Errorf("leaf IPs = %v", leaf.IPAddresses)
	}
	if !near(leaf.NotAfter, time.Now().Add(DefaultCertValidity), time.Hour) {
		t.Errorf("leaf NotAfter = %v, want about 825 days from now", leaf.NotAfter)
	}
	if leaf.SerialNumber.Cmp(ca.SerialNumber) == 0 {
		t.Error("leaf and CA share a serial number")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf not signed by CA: %v", err)
	}

	// No temporary files may be left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if want := []string{"ca-key.pem", "ca.pem", "node1-key.pem", "node1.pem"}; !slices.Equal(names, want) {
		t.Errorf("dir contents = %v, want %v", names, want)
	}

	// Reload through Load.
	b, err := Load(f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if CertIdentity(b.Certificate.Leaf) != "node1" {
		t.Errorf("loaded identity = %q", CertIdentity(b.Certificate.Leaf))
	}
	if len(b.CACerts) != 1 || !b.CACerts[0].Equal(ca) {
		t.Errorf("loaded CA certs = %v", b.CACerts)
	}
	if b.Pool == nil {
		t.Error("nil pool")
	}
}

func TestCreateCANameAndValidity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := CreateCA(dir, "my CA", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	ca := readPEMCert(t, filepath.Join(dir, CACertFile))
	if ca.Subject.CommonName != "my CA" {
		t.Errorf("CN = %q", ca.Subject.CommonName)
	}
	if !near(ca.NotAfter, time.Now().Add(48*time.Hour), time.Minute) {
		t.Errorf("NotAfter = %v", ca.NotAfter)
	}
	// The leaf expiry is capped at the CA's.
	f := mustCert(t, dir, CertRequest{Name: "n", Validity: 1000 * time.Hour})
	leaf := readPEMCert(t, f.Cert)
	if leaf.NotAfter.After(ca.NotAfter) {
		t.Errorf("leaf NotAfter %v after CA NotAfter %v", leaf.NotAfter, ca.NotAfter)
	}
	f2 := mustCert(t, dir, CertRequest{Name: "m", Validity: time.Hour})
	if l := readPEMCert(t, f2.Cert); !near(l.NotAfter, time.Now().Add(time.Hour), time.Minute) {
		t.Errorf("leaf NotAfter = %v, want about 1h from now", l.NotAfter)
	}
}

func TestCreateCARefusesOverwrite(t *testing.T) {
	dir := mustCA(t, "")
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	before, _ := os.ReadFile(keyPath)

	err := CreateCA(dir, "", 0)
	if err == nil || !strings.Contains(err.Error(), certPath) {
		t.Fatalf("second CreateCA: err = %v, want error naming %s", err, certPath)
	}

	// Only the key present: still refused, naming the key.
	if err := os.Remove(certPath); err != nil {
		t.Fatal(err)
	}
	err = CreateCA(dir, "", 0)
	if err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("CreateCA with existing key: err = %v, want error naming %s", err, keyPath)
	}
	after, _ := os.ReadFile(keyPath)
	if !bytes.Equal(before, after) {
		t.Fatal("CA key was modified")
	}
	if _, err := os.Stat(certPath); err == nil {
		t.Fatal("refused CreateCA still wrote ca.pem")
	}
}

func TestCreateCertRefusesOverwrite(t *testing.T) {
	dir := mustCA(t, "")
	f := mustCert(t, dir, CertRequest{Name: "node1"})
	certBefore, _ := os.ReadFile(f.Cert)
	keyBefore, _ := os.ReadFile(f.Key)

	err := CreateCert(dir, CertRequest{Name: "node1", Kind: KindMember})
	if err == nil || !strings.Contains(err.Error(), f.Cert) {
		t.Fatalf("second CreateCert: err = %v, want error naming %s", err, f.Cert)
	}
	certAfter, _ := os.ReadFile(f.Cert)
	keyAfter, _ := os.ReadFile(f.Key)
	if !bytes.Equal(certBefore, certAfter) || !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("existing certificate or key modified")
	}

	// A stray key alone also blocks creation.
	stray := filepath.Join(dir, "node2-key.pem")
	if err := os.WriteFile(stray, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = CreateCert(dir, CertRequest{Name: "node2", Kind: KindMember})
	if err == nil || !strings.Contains(err.Error(), stray) {
		t.Fatalf("CreateCert over stray key: err = %v, want error naming %s", err, stray)
	}
	if data, _ := os.ReadFile(stray); string(data) != "precious" {
		t.Fatal("stray key overwritten")
	}
}

func TestWriteFileAtomicNoClobber(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pem")
	if err := writeFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("two"), 0o600); err == nil {
		t.Fatal("second write succeeded")
	}
	if data, _ := os.ReadFile(p); string(data) != "one" {
		t.Fatalf("content = %q", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestCreateCertBadNames(t *testing.T) {
	dir := mustCA(t, "")
	bad := []string{
		"", "ca", "CA", "a/b", "../x", "..", ".hidden", "-x", "node 1", "node1-key",
		"nödé", "a\x00b", "x:y", strings.Repeat("a", 65),
	}
	for _, name := range bad {
		err := CreateCert(dir, CertRequest{Name: name, Kind: KindMember})
		if err == nil {
			t.Errorf("CreateCert(%q) succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "invalid name") {
			t.Errorf("CreateCert(%q): unclear error %v", name, err)
		}
	}
	for _, name := range []string{"node1", "Node_2", "a.b-c", "x"} {
		if err := CreateCert(dir, CertRequest{Name: name, Kind: KindMember}); err != nil {
			t.Errorf("CreateCert(%q): %v", name, err)
		}
	}
}

func TestCreateCertWithoutCA(t *testing.T) {
	dir := t.TempDir()
	err := CreateCert(dir, CertRequest{Name: "node1", Kind: KindMember})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, CACertFile)) {
		t.Fatalf("err = %v, want error naming ca.pem", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node1-key.pem")); err == nil {
		t.Fatal("key written without a CA")
	}
}

func TestCertIdentityNil(t *testing.T) {
	if got := CertIdentity(nil); got != "" {
		t.Fatalf("CertIdentity(nil) = %q", got)
	}
}
