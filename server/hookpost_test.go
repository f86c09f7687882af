package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// hookPost is one POST a hook endpoint received.
type hookPost struct {
	ev     api.HookEvent
	header http.Header
	at     time.Time
}

// hookEndpoint records the POSTs it receives.
type hookEndpoint struct {
	mu    sync.Mutex
	posts []hookPost
}

func (e *hookEndpoint) add(p hookPost) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.posts = append(e.posts, p)
}

// find returns the first POST that match accepts.
func (e *hookEndpoint) find(match func(api.HookEvent) bool) (hookPost, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.posts {
		if match(p.ev) {
			return p, true
		}
	}
	return hookPost{}, false
}

// urlHookCluster is n1, n2, w1 with, on every member, one URL hook named
// name POSTing to url on events.
func urlHookCluster(t *testing.T, name, url, tokenFile string, timeout time.Duration, events ...fsm.EventKind) *testCluster {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Fencing.StopDeadline = config.Duration(700 * time.Millisecond)
		m.cfg.Hooks = []config.HookConfig{{Name: name, URL: url, BearerTokenFile: tokenFile, Events: events, Timeout: config.Duration(timeout)}}
	})
	return c
}

// TestHookPostSendsTheEvent: a URL hook POSTs the event as JSON, with
// the group, node, epoch, cause, kind and time, and the bearer token from
// its file; an answer other than 2xx is logged and counted as failed;
// neither the token nor the URL's path and query reach the log.
func TestHookPostSendsTheEvent(t *testing.T) {
	const token = "rha-hook-s3cr3t"
	tokenFile := filepath.Join(t.TempDir(), "hook.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ep hookEndpoint
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev api.HookEvent
		if r.Method != http.MethodPost || r.URL.Path != "/notify/x7" || json.NewDecoder(r.Body).Decode(&ev) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ep.add(hookPost{ev: ev, header: r.Header.Clone(), at: time.Now()})
		if ev.Kind == fsm.KindAssigned {
			http.Error(w, "pager busy", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	c := urlHookCluster(t, "pager", ts.URL+"/notify/x7?key=q9", tokenFile, 5*time.Second, fsm.KindAssigned, fsm.KindOnline)
	c.startAll()
	c.waitHealthy()
	before := time.Now()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	e1 := c.waitOnline("db", "n1").Status.Epoch
	var online, assigned hookPost
	waitFor(t, 10*time.Second, "n1's POSTs for assigned and online", func() bool {
		var ok1, ok2 bool
		online, ok1 = ep.find(func(e api.HookEvent) bool { return e.Kind == fsm.KindOnline })
		assigned, ok2 = ep.find(func(e api.HookEvent) bool { return e.Kind == fsm.KindAssigned })
		return ok1 && ok2
	})
	for _, p := range []hookPost{assigned, online} {
		b, _ := json.Marshal(p.ev)
		t.Logf("%s POST body: %s", p.ev.Kind, b)
	}
	if e := online.ev; e.Hook != "pager" || e.Group != "db" || e.Node != "n1" || e.Epoch != e1 || e.Seq == 0 ||
		e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now()) {
		t.Errorf("online POST %+v: want hook pager, group db, node n1, epoch %d, a seq and a time of the run", e, e1)
	}
	if e := assigned.ev; e.Node != "n1" || e.Epoch != e1 || e.Cause != fsm.CausePlacement || e.To != "n1" {
		t.Errorf("assigned POST %+v: want node n1, epoch %d, cause placement, to n1", e, e1)
	}
	for _, h := range []struct{ key, want string }{{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}} {
		if got := online.header.Get(h.key); got != h.want {
			t.Errorf("POST header %s = %q, want %q", h.key, got, h.want)
		}
	}
	if got := online.header.Get("User-Agent"); !strings.HasPrefix(got, "raftha/") {
		t.Errorf("User-Agent %q", got)
	}
	// Only the owner ran it.
	time.Sleep(300 * time.Millisecond)
	if p, ok := ep.find(func(e api.HookEvent) bool { return e.Node != "n1" }); ok {
		t.Errorf("a POST from another member: %+v", p.ev)
	}
	n1 := c.member("n1")
	waitFor(t, 5*time.Second, "n1's runs counted", func() bool {
		got := counterValues(t, n1.srv.metrics.gatherer, "raftha_hook_runs_total", "hook", "result")
		return got["pager/ok"] == 1 && got["pager/failed"] == 1
	})
	for _, l := range strings.Split(c.scrape(t, n1), "\n") {
		if strings.HasPrefix(l, "raftha_hook_") {
			t.Logf("n1 /metrics: %s", l)
		}
	}
	logs := n1.logs.String()
	if !logHas(t, n1, "hook failed", "answered 500 Internal Server Error", ts.URL) || !strings.Contains(logs, "pager busy") {
		t.Errorf("n1's log does not show the failed POST with its status and answer")
	}
	for _, secret := range []string{token, "notify/x7", "key=q9"} {
		if strings.Contains(logs, secret) {
			t.Errorf("n1's log holds %q", secret)
		}
	}
}

// TestHookPostHangingEndpointIsAbandoned: an endpoint that never answers
// delays no ownership change: the group moves n1 → n2 → n1 while the
// first POST still hangs; each POST is abandoned at the hook's timeout,
// counted as timeout in raftha_hook_runs_total and logged.
func TestHookPostHangingEndpointIsAbandoned(t *testing.T) {
	const hookTimeout = 6 * time.Second
	release := make(chan struct{})
	var mu sync.Mutex
	arrived, abandoned := 0, 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices a client that gives up
		mu.Lock()
		arrived++
		mu.Unlock()
		select {
		case <-r.Context().Done():
			mu.Lock()
			abandoned++
			mu.Unlock()
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release) // before ts.Close, which waits for the handlers
	c := urlHookCluster(t, "hang", ts.URL+"/hook", "", hookTimeout,
		fsm.KindAssigned, fsm.KindOnline, fsm.KindStopping, fsm.KindStopped)
	c.startAll()
	c.waitHealthy()
	if _, err := c.leader().srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(markerGroup(t.TempDir(), "n1", "n2")), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	waitFor(t, 5*time.Second, "a POST hanging", func() bool { mu.Lock(); defer mu.Unlock(); return arrived >= 1 })
	start := time.Now()
	for _, to := range []string{"n2", "n1"} {
		if _, err := c.leader().srv.Transfer(ctxT(t, 30*time.Second), "db", to, "test"); err != nil {
			t.Fatalf("transfer to %s while a hook hangs: %v", to, err)
		}
		c.waitOnline("db", to)
	}
	took := time.Since(start)
	n1, n2 := c.member("n1").srv, c.member("n2").srv
	timeouts := func(s *Server) float64 {
		return counterValues(t, s.metrics.gatherer, "raftha_hook_runs_total", "hook", "result")["hang/timeout"]
	}
	t.Logf("moved n1 → n2 → n1 in %s while the hook endpoint hung (hook timeout %s)", took.Round(time.Millisecond), hookTimeout)
	if took >= hookTimeout {
		t.Logf("(the machine is slow: the moves took longer than one hook timeout)")
	} else if n := timeouts(n1); n != 0 {
		t.Errorf("n1 counted %v timed-out POSTs before the moves were done in %s: they waited for the hook", n, took)
	}
	waitFor(t, hookTimeout+5*time.Second, "n1's first POST abandoned at its timeout", func() bool { return timeouts(n1) >= 1 })
	waitFor(t, hookTimeout+5*time.Second, "n2's first POST abandoned at its timeout", func() bool { return timeouts(n2) >= 1 })
	waitFor(t, 5*time.Second, "the endpoint seeing a client give up", func() bool { mu.Lock(); defer mu.Unlock(); return abandoned >= 1 })
	mu.Lock()
	t.Logf("endpoint: %d POSTs arrived, %d abandoned by their client", arrived, abandoned)
	mu.Unlock()
	if !logHas(t, c.member("n1"), "hook failed", "POST abandoned after its timeout 6s") {
		t.Errorf("n1's log does not say the POST was abandoned at its timeout")
	}
}
