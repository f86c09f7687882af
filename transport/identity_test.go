package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestCertKinds: a certificate says what it is for; CreateCert refuses to
// guess.
func TestCertKinds(t *testing.T) {
	dir := mustCA(t, "")
	for _, tc := range []struct {
		name string
		kind CertKind
		uri  string
	}{
		{"n1", KindMember, "raftha://member/n1"},
		{"alice", KindOperator, "raftha://operator/alice"},
		{"old", KindLegacy, ""},
	} {
		f := mustCert(t, dir, CertRequest{Name: tc.name, Kind: tc.kind})
		c := readPEMCert(t, f.Cert)
		id, err := CertIdentityOf(c)
		if err != nil || id.Kind != tc.kind || id.Name != tc.name {
			t.Errorf("%s: CertIdentityOf = %+v, %v; want %s/%s", tc.name, id, err, tc.kind, tc.name)
		}
		var uris []string
		for _, u := range c.URIs {
			uris = append(uris, u.String())
		}
		if got := strings.Join(uris, " "); got != tc.uri {
			t.Errorf("%s: URI SANs %q, want %q", tc.name, got, tc.uri)
		}
	}
	if err := CreateCert(dir, CertRequest{Name: "nokind"}); err == nil || !strings.Contains(err.Error(), "must be member or operator") {
		t.Errorf("CreateCert without a kind: %v", err)
	}
	c := readPEMCert(t, mustCert(t, dir, CertRequest{Name: "two", Kind: KindMember}).Cert)
	c.URIs = append(c.URIs, IdentityURI(KindOperator, "two"))
	if _, err := CertIdentityOf(c); !errors.Is(err, ErrBadIdentity) {
		t.Errorf("two identities: %v, want ErrBadIdentity", err)
	}
}

// muxFor starts a mux with the certificate name (of kind) from dir that
// answers every RPC stream with the peer id it was given.
func muxFor(t *testing.T, dir, name string, kind CertKind) *Mux {
	t.Helper()
	b := mustLoad(t, mustCert(t, dir, CertRequest{Name: name, Kind: kind, IPs: []net.IP{net.ParseIP("127.0.0.1")}}))
	m, err := Listen("127.0.0.1:0", "", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.Serve(func(c net.Conn, peer string) {
		_, _ = c.Write([]byte(peer + "\n"))
		c.Close()
	})
	return m
}

func dialPeer(t *testing.T, from, to *Mux) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := from.DialRPC(ctx, to.Addr().String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// TestMuxAdmitsOnlyMemberCertificates: an operator certificate is refused
// on the member port both ways (as a client, and as a server a member
// dials), even when it bears a member's name; a member certificate
// reaches the RPC server with its member id.
func TestMuxAdmitsOnlyMemberCertificates(t *testing.T) {
	dir := mustCA(t, "")
	n1 := muxFor(t, dir, "n1", KindMember)
	n2 := muxFor(t, dir, "n2", KindMember)
	if got, err := dialPeer(t, n2, n1); err != nil || got != "n2" {
		t.Fatalf("member n2 to n1: peer %q, %v; want n2", got, err)
	}
	// An operator's certificate named n1, from the same CA.
	opDir := t.TempDir()
	for _, f := range []string{CACertFile, CAKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(opDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fake := muxFor(t, opDir, "n1", KindOperator)
	if got, err := dialPeer(t, fake, n1); err == nil {
		t.Errorf("an operator certificate reached the member port as %q", got)
	}
	if _, err := dialPeer(t, n1, fake); !errors.Is(err, ErrWrongPeer) {
		t.Errorf("a member dialled a server with an operator certificate: %v, want ErrWrongPeer", err)
	}
}

// TestDialRefusesAnotherMember: a server at member n2's address that
// presents another member's certificate (n3's, from the same CA) is
// refused by the dialer, for RPC and Raft streams alike.
func TestDialRefusesAnotherMember(t *testing.T) {
	dir := mustCA(t, "")
	n1 := muxFor(t, dir, "n1", KindMember)
	impostor := muxFor(t, dir, "n3", KindMember)
	n1.SetPeerResolver(func(addr string) string {
		if addr == impostor.Addr().String() {
			return "n2"
		}
		return ""
	})
	if got, err := dialPeer(t, n1, impostor); !errors.Is(err, ErrWrongPeer) {
		t.Errorf("n1 dialled n2's address and reached %q (err %v), want ErrWrongPeer", got, err)
	}
	if c, err := n1.RaftLayer().Dial(raft.ServerAddress(impostor.Addr().String()), 5*time.Second); !errors.Is(err, ErrWrongPeer) {
		if c != nil {
			c.Close()
		}
		t.Errorf("raft stream to n2's address: %v, want ErrWrongPeer", err)
	}
	// An address the resolver does not know: any member certificate.
	n1.SetPeerResolver(func(string) string { return "" })
	if _, err := dialPeer(t, n1, impostor); err != nil {
		t.Errorf("unknown address: %v", err)
	}
}
