package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/internal/testsupport"
	"github.com/raftha/raftha/server/internal/rpcwire"
	"github.com/raftha/raftha/transport"
)

const refusedPeerMsg = "refused peer: its certificate is not signed by the cluster CA"

// foreignPKI creates a second CA in its own temp dir and a certificate
// named name signed by it. The foreign CA deliberately uses the same
// subject name as the cluster CA (both default to DefaultCAName), so only
// the signature tells them apart. It returns the PKI directory.
func foreignPKI(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "foreign-tls")
	if err := transport.CreateCA(dir, "", 0); err != nil {
		t.Fatal(err)
	}
	if err := transport.CreateCert(dir, transport.CertRequest{Name: name, Kind: transport.KindMember, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startForeignMember starts n9 with a certificate (and CA) from another
// PKI, configured as if it were a member of c. It is killed at cleanup.
func startForeignMember(t *testing.T, c *testCluster, pki string) (*Server, *testsupport.SyncBuffer, string) {
	t.Helper()
	ports := freePorts(t, 2)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	members := append([]config.MemberConfig(nil), c.members[0].cfg.Members...)
	members = append(members, config.MemberConfig{ID: "n9", Address: addr, Role: config.RoleNode})
	cfg := config.Config{
		NodeID:  "n9",
		Role:    config.RoleNode,
		DataDir: filepath.Join(t.TempDir(), "n9"),
		Bind:    addr,
		API:     fmt.Sprintf("127.0.0.1:%d", ports[1]),
		TLS:     config.TLSConfig{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, "n9.pem"), Key: filepath.Join(pki, "n9-key.pem")},
		Members: members,
		Timing:  testTiming(),
		Fencing: config.FencingConfig{Mode: config.FencingLeaseOnly, SelfFenceAction: config.SelfFenceNone, Watchdog: config.WatchdogNone},
	}
	logs := &testsupport.SyncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raftha", Level: hclog.Debug, Output: logs})
	srv, err := New(cfg, Options{Logger: logger})
	if err != nil {
		t.Fatalf("new n9: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start n9: %v", err)
	}
	t.Cleanup(func() {
		srv.Kill()
		if t.Failed() {
			out := logs.String()
			if len(out) > 6000 {
				out = out[len(out)-6000:]
			}
			t.Logf("---- logs of n9 (tail) ----\n%s", out)
		}
	})
	return srv, logs, addr
}

// TestForeignCAMemberCannotJoin: a member whose certificate was issued by
// another CA cannot join the cluster, even when the leader adds it to the
// Raft configuration: every connection between it and the cluster is
// refused at the TLS handshake, it never receives the log, the leader
// never counts it as healthy, and nothing can be moved onto it.
func TestForeignCAMemberCannotJoin(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()

	// State that could leak: a group online on the cluster.
	work := t.TempDir()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n1", "n2")), "test"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	c.waitOnline("db", "")

	pki := foreignPKI(t, "n9")
	n9, n9logs, n9addr := startForeignMember(t, c, pki)

	// Add n9 through the real leader. This may succeed at the log level
	// (the 3 real voters are a majority of 4) or time out; either way n9
	// must stay outside.
	l = c.leader()
	addErr := l.srv.AddMember(ctxT(t, 10*time.Second), api.MemberRequest{ID: "n9", Address: n9addr, Role: string(config.RoleNode)}, "test")
	t.Logf("AddMember(n9) via leader %s: %v", l.cfg.NodeID, addErr)
	if addErr == nil {
		inRaft := false
		if f := l.srv.raft.GetConfiguration(); f.Error() == nil {
			for _, s := range f.Configuration().Servers {
				inRaft = inRaft || s.ID == raft.ServerID("n9")
			}
		}
		if !inRaft {
			t.Fatalf("AddMember(n9) succeeded but n9 is not in the leader's raft configuration")
		}
		// Make n9 a candidate owner of db, so that a transfer to it can
		// only be refused for its health.
		if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(work, "n1", "n2", "n9")), "test"); err != nil {
			t.Fatalf("re-apply with n9: %v", err)
		}
	}

	// (a) The leader refuses n9 at the TLS layer (either direction).
	waitFor(t, 5*time.Second, "the leader to log a refused peer", func() bool {
		return strings.Contains(c.leader().logs.String(), refusedPeerMsg)
	})
	// n9 refuses the cluster's members too (it does not trust their CA).
	waitFor(t, 5*time.Second, "n9 to log a refused peer", func() bool {
		return strings.Contains(n9logs.String(), refusedPeerMsg)
	})

	// (b) and (c), held over ~3 seconds: n9 learns nothing and is never
	// healthy nor leader.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		st := n9.State()
		if _, ok := st.Groups["db"]; ok || len(st.Groups) != 0 {
			t.Fatalf("n9 learned the cluster's groups: %v", st.GroupNames())
		}
		for _, id := range []string{"n1", "n2", "w1"} {
			if _, ok := st.Members[id]; ok {
				t.Fatalf("n9 learned the cluster's member %s (members %v)", id, st.MemberIDs())
			}
		}
		if st.Index != 0 {
			t.Fatalf("n9 applied log index %d", st.Index)
		}
		if n9.IsLeader() {
			t.Fatal("n9 became a leader")
		}
		if cl := c.leaderNow(); cl != nil {
			if ls := cl.srv.leader(); ls != nil && ls.Healthy("n9") {
				t.Fatalf("leader %s counts n9 as healthy", cl.cfg.NodeID)
			}
			if id := cl.srv.LeaderID(); id == "n9" {
				t.Fatalf("leader %s follows n9", cl.cfg.NodeID)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if id := n9.LeaderID(); id != "" && id != "n9" {
		t.Fatalf("n9 knows leader %s", id)
	}

	// (c) A planned move of db onto n9 is refused.
	l = c.leader()
	_, err := l.srv.Transfer(ctxT(t, 10*time.Second), "db", "n9", "test")
	if err == nil || !errors.Is(err, ErrRefused) {
		t.Fatalf("transfer of db to n9: want refused, got %v", err)
	}
	if addErr == nil && !strings.Contains(err.Error(), "not healthy") {
		t.Fatalf("transfer of db to n9 refused for the wrong reason: %v", err)
	}
	t.Logf("transfer to n9 refused: %v", err)
	if g := c.group("db"); g.Status.Owner == "n9" || g.Status.Target == "n9" {
		t.Fatalf("db moved towards n9: %+v", g.Status)
	}

	// (d) Direct RPC in both directions fails at the handshake.
	var st api.Status
	err = n9.pool.Call(ctxT(t, 5*time.Second), l.srv.RaftAddr(), "Raftha.Status", rpcwire.StatusArgs{}, &st)
	if err == nil {
		t.Fatalf("n9 called Raftha.Status on the leader: %+v", st)
	}
	if !transport.IsUntrustedPeer(err) {
		t.Fatalf("n9 -> leader RPC failed, but not as an untrusted peer: %v", err)
	}
	err = l.srv.pool.Call(ctxT(t, 5*time.Second), n9addr, "Raftha.Status", rpcwire.StatusArgs{}, &st)
	if err == nil {
		t.Fatalf("leader called Raftha.Status on n9: %+v", st)
	}
	if !transport.IsUntrustedPeer(err) {
		t.Fatalf("leader -> n9 RPC failed, but not as an untrusted peer: %v", err)
	}

	// The real cluster is unaffected.
	c.waitHealthy()
	g := c.waitOnline("db", "")
	if g.Status.Owner != "n1" && g.Status.Owner != "n2" {
		t.Fatalf("db owned by %q", g.Status.Owner)
	}
}

// TestForeignCAClientRefusedByAPI: the HTTPS API refuses a client whose
// certificate comes from another CA during the TLS handshake, and serves a
// client whose certificate the cluster CA signed.
func TestForeignCAClientRefusedByAPI(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	url := "https://" + l.srv.APIAddr() + "/v1/status"
	caFile := filepath.Join(c.tlsDir, "ca.pem")

	get := func(certFile, keyFile string) (*http.Response, error) {
		tc, err := transport.LoadClient(caFile, certFile, keyFile)
		if err != nil {
			t.Fatalf("load client TLS: %v", err)
		}
		tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp, nil
	}

	// Foreign client certificate: no HTTP response at all.
	pki := foreignPKI(t, "intruder")
	resp, err := get(filepath.Join(pki, "intruder.pem"), filepath.Join(pki, "intruder-key.pem"))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("foreign client got an HTTP response: %s %s", resp.Status, b)
	}
	if resp != nil {
		t.Fatalf("foreign client got a response alongside error %v", err)
	}
	if !transport.IsUntrustedPeer(err) {
		t.Fatalf("foreign client failed, but not at the TLS layer as an untrusted peer: %v", err)
	}
	t.Logf("foreign client refused: %v", err)
	waitFor(t, 5*time.Second, "the leader's API to log the refused handshake", func() bool {
		return strings.Contains(l.logs.String(), "TLS handshake error")
	})

	// A certificate from the cluster CA is served.
	if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: "cli", Kind: transport.KindOperator}); err != nil {
		t.Fatal(err)
	}
	resp, err = get(filepath.Join(c.tlsDir, "cli.pem"), filepath.Join(c.tlsDir, "cli-key.pem"))
	if err != nil {
		t.Fatalf("cluster client: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cluster client: %s %s", resp.Status, b)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, b)
	}
	leader, ok := body["leader"].(string)
	if !ok || leader == "" {
		t.Fatalf("status has no leader field: %s", b)
	}
	known := false
	for _, m := range c.members {
		known = known || m.cfg.NodeID == leader
	}
	if !known {
		t.Fatalf("status names unknown leader %q", leader)
	}
}
