package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
)

// healthGet asks a health endpoint of addr (plain HTTP) and decodes its
// answer.
func healthGet(t testing.TB, method, addr, path string) (int, healthAnswer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var a healthAnswer
	if len(body) > 0 && resp.StatusCode != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, body, err)
		}
	}
	return resp.StatusCode, a, resp.Header
}

// rawHealth is the status line and body of GET path on addr, for the
// README.
func rawHealth(t testing.TB, addr, path string) string {
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Proto + " " + resp.Status + "\n" + string(b)
}

// healthCluster is n1, n2, w1 with the health listener on n1 and n2 and
// the marker group db on n1.
func healthCluster(t *testing.T) *testCluster {
	c := newTestCluster(t, "n1", "n2", "w1")
	ports := freePorts(t, 2)
	c.member("n1").cfg.Health.Listen = fmt.Sprintf("127.0.0.1:%d", ports[0])
	c.member("n2").cfg.Health.Listen = fmt.Sprintf("127.0.0.1:%d", ports[1])
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	return c
}

// waitGroupHealth waits until GET /health/group/db answers want on every
// health listener of want (member → status).
func waitGroupHealth(t *testing.T, c *testCluster, want map[string]int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("/health/group/db answers %v", want), func() bool {
		for id, code := range want {
			if got, _, _ := healthGet(t, http.MethodGet, c.member(id).srv.HealthAddr(), "/health/group/db"); got != code {
				return false
			}
		}
		return true
	})
}

// TestHealthGroupAnswersOnlyOnTheOwner: the owner of db answers 200 and
// the other node 503, both naming the owner and epoch; after a transfer
// the answers swap. HEAD works, other methods are 405, an unknown group
// 404; live and ready answer 200 on both.
func TestHealthGroupAnswersOnlyOnTheOwner(t *testing.T) {
	c := healthCluster(t)
	g := c.group("db")
	waitGroupHealth(t, c, map[string]int{"n1": 200, "n2": 503})
	n1, n2 := c.member("n1").srv.HealthAddr(), c.member("n2").srv.HealthAddr()

	for _, q := range []struct{ id, path string }{{"n1", "/health/group/db"}, {"n2", "/health/group/db"}, {"n2", "/health/ready"}, {"n1", "/health/group/nope"}} {
		t.Logf("GET http://%s%s   (%s)\n%s", c.member(q.id).srv.HealthAddr(), q.path, q.id, rawHealth(t, c.member(q.id).srv.HealthAddr(), q.path))
	}
	code, a, hdr := healthGet(t, http.MethodGet, n1, "/health/group/db")
	t.Logf("n1 GET /health/group/db: %d %+v", code, a)
	if code != 200 || a.Status != healthOK || a.Owner != "n1" || a.Epoch != g.Status.Epoch || a.State != "online" || a.Node != "n1" || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("owner's answer: %d %+v", code, a)
	}
	code, a, _ = healthGet(t, http.MethodGet, n2, "/health/group/db")
	t.Logf("n2 GET /health/group/db: %d %+v", code, a)
	if code != 503 || a.Status != healthUnavailable || a.Owner != "n1" || a.Epoch != g.Status.Epoch || a.Reason != "not the owner" {
		t.Errorf("other node's answer: %d %+v", code, a)
	}
	for _, id := range []string{"n1", "n2"} {
		addr := c.member(id).srv.HealthAddr()
		if code, a, _ := healthGet(t, http.MethodGet, addr, "/health/live"); code != 200 || a.Status != healthOK {
			t.Errorf("%s live: %d %+v", id, code, a)
		}
		waitFor(t, 5*time.Second, id+" ready", func() bool {
			code, a, _ := healthGet(t, http.MethodGet, addr, "/health/ready")
			return code == 200 && a.Leader != "" && a.LeaseLeftMS > 0
		})
	}
	if code, _, _ := healthGet(t, http.MethodHead, n1, "/health/group/db"); code != 200 {
		t.Errorf("HEAD on the owner: %d", code)
	}
	if code, _, _ := healthGet(t, http.MethodHead, n2, "/health/group/db"); code != 503 {
		t.Errorf("HEAD elsewhere: %d", code)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if code, _, hdr := healthGet(t, m, n1, "/health/group/db"); code != 405 || hdr.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, code, hdr.Get("Allow"))
		}
	}
	if code, a, _ := healthGet(t, http.MethodGet, n1, "/health/group/nope"); code != 404 || a.Status != "not-found" {
		t.Errorf("unknown group: %d %+v", code, a)
	}
	if code, _, _ := healthGet(t, http.MethodGet, n1, "/v1/status"); code != 404 {
		t.Errorf("/v1/status on the health listener: %d, want 404", code)
	}

	if _, err := c.member("n1").srv.Transfer(ctxT(t, 30*time.Second), "db", "n2", "test"); err != nil {
		t.Fatal(err)
	}
	g2 := c.waitOnline("db", "n2")
	waitGroupHealth(t, c, map[string]int{"n1": 503, "n2": 200})
	if _, a, _ := healthGet(t, http.MethodGet, n2, "/health/group/db"); a.Epoch != g2.Status.Epoch || a.Owner != "n2" {
		t.Errorf("after the transfer n2 answers %+v, want epoch %d", a, g2.Status.Epoch)
	}
}

// TestHealthGroupOwnerCutOffAnswers503WithinALease: an owner cut off from
// the others answers 503 for its group as soon as its lease lapses (it
// still believes it owns the group), and not ready.
func TestHealthGroupOwnerCutOffAnswers503WithinALease(t *testing.T) {
	c := healthCluster(t)
	waitGroupHealth(t, c, map[string]int{"n1": 200, "n2": 503})
	n1 := c.member("n1").srv.HealthAddr()
	cut := time.Now()
	c.partition("n1")
	defer c.heal()
	lease := c.member("n1").cfg.Timing.Lease.D()
	var a healthAnswer
	var last200 time.Duration // when the last request answered 200 was sent
	waitFor(t, 5*time.Second, "n1 answers 503", func() bool {
		sent := time.Since(cut)
		var code int
		code, a, _ = healthGet(t, http.MethodGet, n1, "/health/group/db")
		if code == 200 {
			last200 = sent
		}
		return code == 503
	})
	took := time.Since(cut)
	t.Logf("partition → 503 on n1 after %s (lease %s; last 200 asked %s after the cut): %+v", took.Round(time.Millisecond), lease, last200.Round(time.Millisecond), a)
	// The lease runs from the last heartbeat sent before the cut: no
	// answer asked for past it may be 200.
	if last200 >= lease {
		t.Errorf("n1 answered 200 to a request sent %s after the cut, past its lease %s", last200, lease)
	}
	if a.Owner != "n1" || !strings.Contains(a.Reason, "lease") {
		t.Errorf("answer %+v: want owner n1 and a lease reason", a)
	}
	if code, r, _ := healthGet(t, http.MethodGet, n1, "/health/ready"); code != 503 {
		t.Errorf("cut-off member ready: %d %+v", code, r)
	}
}

// TestHealthListenerOffByDefault: without health.listen the member binds
// only its raft and API ports.
func TestHealthListenerOffByDefault(t *testing.T) {
	before := listeningPorts(t)
	c := newTestCluster(t, "n1")
	c.startAll()
	c.leader()
	s := c.member("n1").srv
	if s.HealthAddr() != "" {
		t.Errorf("HealthAddr %q without health.listen", s.HealthAddr())
	}
	var added []int
	for p := range listeningPorts(t) {
		if !before[p] {
			added = append(added, p)
		}
	}
	want := map[int]bool{portOf(t, s.RaftAddr()): true, portOf(t, s.APIAddr()): true}
	if len(added) != len(want) || !want[added[0]] || !want[added[1]] {
		t.Errorf("new listening ports %v, want only raft %s and api %s", added, s.RaftAddr(), s.APIAddr())
	}
}

func portOf(t testing.TB, addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// listeningPorts is the set of TCP ports this process listens on: its
// socket descriptors matched against the kernel's tables.
func listeningPorts(t testing.TB) map[int]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			if p, err := strconv.ParseInt(fs[1][strings.LastIndexByte(fs[1], ':')+1:], 16, 32); err == nil {
				ports[int(p)] = true
			}
		}
		f.Close()
	}
	return ports
}

// TestHealthListenerLimitsConnections: past its connection limit per
// client address the health listener answers 503 (code overloaded) in
// plain HTTP and closes, as the API does over TLS.
func TestHealthListenerLimitsConnections(t *testing.T) {
	c := newTestCluster(t, "n1")
	c.member("n1").cfg.Health.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.startAll()
	addr := c.member("n1").srv.HealthAddr()
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for range healthLimits.MaxConnsPerIP {
		cn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
	}
	waitFor(t, 5*time.Second, "a refusal past the limit", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/health/live", nil)
		req.Close = true
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode == 503 && e.Code == api.CodeOverloaded
	})
	for _, cn := range conns {
		cn.Close()
	}
	conns = nil
	waitFor(t, 5*time.Second, "live again once the connections closed", func() bool {
		code, _, _ := healthGet(t, http.MethodGet, addr, "/health/live")
		return code == 200
	})
}
