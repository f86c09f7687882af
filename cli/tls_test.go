package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftha/raftha/transport"
)

// TestCertCreateKinds: `tls cert create` says what a certificate is for
// (--member or --operator, exactly one) and writes it into the
// certificate; the old --name is refused with the fix.
func TestCertCreateKinds(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := runMain(t, "tls", "ca", "create", "--dir", dir); code != 0 {
		t.Fatalf("ca create: %s", errs)
	}
	for _, tc := range []struct {
		flag, name string
		kind       transport.CertKind
	}{{"--member", "n1", transport.KindMember}, {"--operator", "alice", transport.KindOperator}} {
		if _, errs, code := runMain(t, "tls", "cert", "create", "--dir", dir, tc.flag, tc.name); code != 0 {
			t.Fatalf("cert create %s %s: exit %d: %s", tc.flag, tc.name, code, errs)
		}
		b, err := transport.Load(transport.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, tc.name+".pem"), Key: filepath.Join(dir, tc.name+"-key.pem")})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := transport.CertIdentityOf(b.Certificate.Leaf); err != nil || id.Kind != tc.kind || id.Name != tc.name {
			t.Errorf("%s %s: identity %+v, %v", tc.flag, tc.name, id, err)
		}
	}
	for _, args := range [][]string{
		{"--name", "n2"},
		{"--member", "n2", "--operator", "n2"},
		{},
	} {
		_, errs, code := runMain(t, append([]string{"tls", "cert", "create", "--dir", dir}, args...)...)
		if code != 2 || !strings.Contains(errs, "--member") || !strings.Contains(errs, "--operator") {
			t.Errorf("cert create %v: exit %d, stderr %q; want a usage error naming --member and --operator", args, code, errs)
		}
	}
}
