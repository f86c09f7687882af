package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/transport"
)

// scrape fetches a member's /metrics over mutual TLS.
func (c *testCluster) scrape(t *testing.T, m *testMember) string {
	t.Helper()
	cert := filepath.Join(c.tlsDir, "scraper.pem")
	if _, err := transport.Load(transport.Files{CA: filepath.Join(c.tlsDir, "ca.pem"), Cert: cert, Key: filepath.Join(c.tlsDir, "scraper-key.pem")}); err != nil {
		if err := transport.CreateCert(c.tlsDir, transport.CertRequest{Name: "scraper", Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := transport.LoadClient(filepath.Join(c.tlsDir, "ca.pem"), cert, filepath.Join(c.tlsDir, "scraper-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := cl.Get("https://" + m.srv.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return string(b)
}

// metricValue finds "name{labels} value" in a scrape; labels must match
// exactly as exposed (sorted by name).
func metricValue(scrape, series string) (string, bool) {
	for _, l := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return strings.TrimSpace(strings.TrimPrefix(l, series)), true
		}
	}
	return "", false
}

func TestMetricsAfterTransfer(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	gs, err := l.srv.Transfer(ctxT(t, 30*time.Second), "db", "n2", "test")
	if err != nil {
		t.Fatal(err)
	}
	l = c.leader()
	sc := c.scrape(t, l)
	want := map[string]string{
		`raftha_raft_state{state="leader"}`:                 "1",
		`raftha_group_epoch{group="db"}`:                    fmt.Sprint(gs.Epoch),
		`raftha_group_owner{group="db",owner="n2"}`:         "1",
		`raftha_group_state{group="db",state="online"}`:     "1",
		`raftha_group_state{group="db",state="stopping"}`:   "0",
		`raftha_member_healthy{member="n2",role="node"}`:    "1",
		`raftha_member_healthy{member="w1",role="witness"}`: "1",
	}
	if l.cfg.NodeID != "w1" {
		want[`raftha_transfers_total{result="ok"}`] = "1"
	}
	for series, v := range want {
		got, ok := metricValue(sc, series)
		if !ok || got != v {
			t.Errorf("%s = %q (found %v), want %s", series, got, ok, v)
		}
	}
	// The new owner runs the group; the old one does not.
	if v, _ := metricValue(c.scrape(t, c.member("n2")), `raftha_group_running_here{group="db"}`); v != "1" {
		t.Errorf("n2 running_here = %q", v)
	}
	if v, _ := metricValue(c.scrape(t, c.member("n1")), `raftha_group_running_here{group="db"}`); v != "0" {
		t.Errorf("n1 running_here = %q", v)
	}
	for _, name := range []string{"raftha_raft_term", "raftha_raft_commit_index", "raftha_raft_applied_index", "raftha_raft_last_contact_seconds", "raftha_lease_remaining_seconds", "raftha_raft_apply_duration_seconds_count"} {
		if _, ok := metricValue(sc, name); !ok {
			t.Errorf("series %s missing", name)
		}
	}
}
