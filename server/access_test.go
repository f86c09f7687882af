package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/transport"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestAccessRoles: certificates and tokens map to read or operate; read
// cannot change the cluster; unauthenticated calls are refused; every
// change records who made it.
func TestAccessRoles(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Access = config.AccessConfig{
			Operators: []string{"alice"},
			Tokens:    []config.TokenConfig{{Name: "dash", Role: api.RoleRead, SHA256: sha("read-token")}, {Name: "ops", Role: api.RoleOperate, SHA256: sha("operate-token")}},
		}
	})
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	for _, n := range []string{"alice", "bob"} {
		if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: n, Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
	}
	client := func(cert string) *http.Client {
		var tc, err = transport.LoadClient(filepath.Join(c.tlsDir, "ca.pem"), "", "")
		if cert != "" {
			tc, err = transport.LoadClient(filepath.Join(c.tlsDir, "ca.pem"), filepath.Join(c.tlsDir, cert+".pem"), filepath.Join(c.tlsDir, cert+"-key.pem"))
		}
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	base := "https://" + l.srv.APIAddr()
	call := func(cl *http.Client, token, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		s, _ := json.Marshal(m)
		return resp.StatusCode, string(s)
	}
	anon := client("")
	if code, body := call(anon, "", "GET", "/v1/status", ""); code != 401 || !strings.Contains(body, "unauthorized") {
		t.Fatalf("anonymous status: %d %s", code, body)
	}
	if code, _ := call(anon, "wrong-token", "GET", "/v1/status", ""); code != 401 {
		t.Fatalf("bad token: %d", code)
	}
	if code, body := call(anon, "read-token", "GET", "/v1/whoami", ""); code != 200 || !strings.Contains(body, `"role":"read"`) || !strings.Contains(body, "token:dash") {
		t.Fatalf("whoami read token: %d %s", code, body)
	}
	if code, _ := call(anon, "read-token", "GET", "/v1/status", ""); code != 200 {
		t.Fatalf("read token status: %d", code)
	}
	move := `{"to":"n2","timeout":"30s"}`
	if code, body := call(anon, "read-token", "POST", "/v1/groups/db/transfer", move); code != 403 || !strings.Contains(body, "token:dash has role read") {
		t.Fatalf("read token transfer: %d %s", code, body)
	}
	if code, body := call(client("bob"), "", "POST", "/v1/groups/db/suspend", ""); code != 403 || !strings.Contains(body, "bob has role read") {
		t.Fatalf("bob (not an operator) suspend: %d %s", code, body)
	}
	if g := c.group("db"); g.Status.Owner != "n1" || g.Status.Suspended {
		t.Fatalf("a read caller changed the group: %+v", g.Status)
	}
	if code, body := call(anon, "operate-token", "POST", "/v1/groups/db/transfer", move); code != 200 {
		t.Fatalf("operate token transfer: %d %s", code, body)
	}
	if code, body := call(client("alice"), "", "POST", "/v1/groups/db/transfer", `{"to":"n1","timeout":"30s"}`); code != 200 {
		t.Fatalf("alice transfer: %d %s", code, body)
	}
	// The history says who did it.
	var by []string
	for _, e := range c.events("db") {
		if e.Kind == "stopping" {
			by = append(by, e.By)
		}
	}
	if strings.Join(by, ",") != "token:ops,alice" {
		t.Fatalf("movers recorded as %v", by)
	}
	_ = fsm.StateOnline
}
