package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeMarkedCert writes a self-signed certificate with the URI SAN u,
// valid from notBefore to notAfter.
func writeMarkedCert(t *testing.T, path, cn, u string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter}
	if u != "" { // "": a legacy certificate, named by its CN only
		uri, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{uri}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSCertShow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if _, errs, code := runMain(t, "tls", "ca", "create", "--dir", dir); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := runMain(t, "tls", "cert", "create", "--dir", dir, "--member", "n1", "--ip", "127.0.0.1", "--dns", "n1.example"); code != 0 {
		t.Fatal(errs)
	}
	now := time.Now()
	writeMarkedCert(t, filepath.Join(dir, "m.pem"), "n2", "raftha://member/n2", now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour))
	writeMarkedCert(t, filepath.Join(dir, "o.pem"), "ops", "raftha://operator/ops", now.Add(-72*time.Hour), now.Add(-49*time.Hour))
	writeMarkedCert(t, filepath.Join(dir, "legacy.pem"), "n3", "", now.Add(-time.Hour), now.Add(time.Hour))
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"n1.pem", []string{"subject:     CN=n1", "issuer:      CN=raftha cluster CA", "n1.example, 127.0.0.1", "kind:        member n1", "raftha://member/n1", "expiry:      in 824 days"}},
		{"ca.pem", []string{"kind:        CA", "subject:     CN=raftha cluster CA"}},
		{"m.pem", []string{"kind:        member n2", "raftha://member/n2", "expiry:      in 10 days"}},
		{"o.pem", []string{"kind:        operator ops", "expiry:      EXPIRED 2 days ago"}},
		{"legacy.pem", []string{"kind:        unmarked", "legacy"}},
	} {
		out, errs, code := runMain(t, "tls", "cert", "show", filepath.Join(dir, tc.file))
		if code != 0 {
			t.Fatalf("show %s: exit %d: %s", tc.file, code, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("show %s: no %q in\n%s", tc.file, w, out)
			}
		}
	}
	key := filepath.Join(dir, "n1-key.pem")
	if _, errs, code := runMain(t, "tls", "cert", "show", key); code == 0 || !strings.Contains(errs, key) {
		t.Errorf("show of a key file: exit %d, %q; want an error naming it", code, errs)
	}
}
