package server

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/transport"
)

// TestMemberCertificateGetsNoOperateRole: on the API a member's
// certificate has the role the configuration grants its name, nothing for
// being a member's (the witness's included); an operator's call made on a
// follower is recorded, on the leader, as made by that operator.
func TestMemberCertificateGetsNoOperateRole(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w3")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{Operators: []string{"alice"}}
	})
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	ca := filepath.Join(c.tlsDir, "ca.pem")
	for _, id := range []string{"n2", "w3"} {
		tc, err := transport.LoadClient(ca, filepath.Join(c.tlsDir, id+".pem"), filepath.Join(c.tlsDir, id+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := api.NewClient("https://"+l.srv.APIAddr(), tc, "")
		if err != nil {
			t.Fatal(err)
		}
		who, err := cl.WhoAmI(ctxT(t, 5*time.Second))
		if err != nil || who.Role != api.RoleRead {
			t.Errorf("member certificate %s on the API: %+v, %v; want role read", id, who, err)
		}
		wantAPIError(t, "suspend with member certificate "+id, cl.Suspend(ctxT(t, 10*time.Second), "db"), api.ErrForbidden, api.CodeForbidden, http.StatusForbidden)
	}
	var f *testMember
	for _, m := range c.members {
		if m != l {
			f = m
			break
		}
	}
	if err := c.apiClient(f, "alice", "").Suspend(ctxT(t, 10*time.Second), "db"); err != nil {
		t.Fatalf("alice suspends db on follower %s: %v", f.cfg.NodeID, err)
	}
	var by string
	for _, e := range c.leader().srv.State().Events {
		if e.Kind == fsm.KindSuspended && e.Group == "db" {
			by = e.By
		}
	}
	if by != "alice" {
		t.Errorf("suspend made by alice on %s recorded as by %q", f.cfg.NodeID, by)
	}
}

// TestLegacyMemberCertificates: members whose certificates predate
// certificate kinds (common name only) form a cluster only while
// tls.allow_legacy_member_certs is set, and then each admission is logged
// naming the peer. Without it a member refuses to start with one, and the
// others refuse it on the member port.
func TestLegacyMemberCertificates(t *testing.T) {
	legacyCerts := func(c *testCluster, allow func(id string) bool) {
		legacy := filepath.Join(t.TempDir(), "legacy")
		copyCA(t, c.tlsDir, legacy)
		c.configure(func(m *testMember) {
			id := m.cfg.NodeID
			if err := transport.CreateCert(legacy, transport.CertRequest{Name: id, Kind: transport.KindLegacy, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
				t.Fatal(err)
			}
			m.cfg.TLS.Cert, m.cfg.TLS.Key = filepath.Join(legacy, id+".pem"), filepath.Join(legacy, id+"-key.pem")
			m.cfg.TLS.AllowLegacyMemberCerts = allow(id)
		})
	}
	t.Run("refused", func(t *testing.T) {
		c := newTestCluster(t, "n1", "n2", "w3")
		w3 := c.member("w3")
		legacyCerts(c, func(string) bool { return false })
		if _, err := New(w3.cfg, w3.opts); !errors.Is(err, ErrNotMemberCert) {
			t.Fatalf("New with a legacy member certificate: %v, want ErrNotMemberCert", err)
		}
		// A cluster of member certificates; then w3 comes back with its
		// legacy one (allowed on itself only): n1 and n2 refuse it.
		w3legacy := w3.cfg.TLS
		for _, m := range c.members {
			id := m.cfg.NodeID
			m.cfg.TLS.Cert, m.cfg.TLS.Key = filepath.Join(c.tlsDir, id+".pem"), filepath.Join(c.tlsDir, id+"-key.pem")
		}
		c.startAll()
		c.leader()
		c.waitHealthy()
		c.kill("w3")
		w3.cfg.TLS = w3legacy
		w3.cfg.TLS.AllowLegacyMemberCerts = true
		c.start("w3")
		l := c.leader()
		time.Sleep(2 * time.Second)
		if ls := l.srv.leader(); ls != nil && ls.Healthy("w3") {
			t.Errorf("leader %s heard from w3, whose certificate is legacy", l.cfg.NodeID)
		}
		if !strings.Contains(l.logs.String(), "is no member certificate of this cluster") {
			t.Errorf("the leader does not say why it refused w3")
		}
	})
	t.Run("allowed", func(t *testing.T) {
		c := newTestCluster(t, "n1", "n2", "w3")
		legacyCerts(c, func(string) bool { return true })
		c.startAll()
		c.leader()
		c.waitHealthy()
		if !strings.Contains(c.member("n1").logs.String(), "admitted a legacy member certificate") {
			t.Errorf("n1 admitted legacy member certificates without a warning")
		}
	})
}

// copyCA copies the CA certificate and key of dir to a new directory to.
func copyCA(t *testing.T, dir, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{transport.CACertFile, transport.CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
