package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/transport"
)

// fakeAPI serves h over the API's mTLS on 127.0.0.1 and returns the
// client flags that reach it as an operator.
func fakeAPI(t *testing.T, h http.Handler) []string {
	t.Helper()
	clearClientEnv(t)
	dir := t.TempDir()
	if err := transport.CreateCA(dir, "", 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api", "op"} {
		if err := transport.CreateCert(dir, transport.CertRequest{Name: name, Kind: transport.KindOperator, IPs: []net.IP{net.ParseIP("127.0.0.1")}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := transport.Load(transport.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "api.pem"), Key: filepath.Join(dir, "api-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = b.APIServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return []string{"--api", srv.URL, "--ca-cert", filepath.Join(dir, "ca.pem"),
		"--client-cert", filepath.Join(dir, "op.pem"), "--client-key", filepath.Join(dir, "op-key.pem")}
}

// TestWhyShowsFailoverSplit: `raftha why` prints a takeover's split
// (detection, fence, start, overhead and its parts) under its line, and
// --json carries it as the change's "split" object.
func TestWhyShowsFailoverSplit(t *testing.T) {
	ms := func(n int) api.Duration { return api.Duration(time.Duration(n) * time.Millisecond) }
	changes := []api.OwnershipChange{
		{At: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC), From: "", To: "n1", Epoch: 5, Cause: fsm.CausePlacement, Online: true, OnlineAfter: ms(300), Outcome: "online"},
		{At: time.Date(2026, 11, 23, 3, 5, 0, 0, time.UTC), From: "n1", To: "n2", Epoch: 9, Cause: fsm.CauseNodeLost, Fence: "aws-stop", FenceTook: "480ms", Online: true, OnlineAfter: ms(800), Outcome: "online",
			Split: &api.FailoverSplit{Detection: ms(2010), Total: ms(800), Fence: ms(500), Start: ms(100), Overhead: ms(200), Decision: ms(40), FenceConfirm: ms(10), FenceCommit: ms(20), Wake: ms(30), StartConfirm: ms(5), Other: ms(95)}},
	}
	flags := fakeAPI(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/groups/db/why" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(changes)
	}))
	out, errs, code := runMain(t, append([]string{"why", "db"}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 change lines and 1 split line, got:\n%s", out)
	}
	want := "    split: detection 2.01s, then 800ms = fence 500ms + start 100ms + overhead 200ms (decision 40ms, fence confirm 10ms, fence commit 20ms, wake 30ms, start confirm 5ms, other 95ms)"
	if !strings.Contains(lines[1], "n1 -> n2") || lines[2] != want {
		t.Fatalf("takeover lines:\n%s\nwant the split line\n%s", strings.Join(lines[1:], "\n"), want)
	}
	out, errs, code = runMain(t, append([]string{"why", "db", "--json"}, flags...)...)
	if code != 0 {
		t.Fatalf("--json: exit %d: %s%s", code, out, errs)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if _, ok := got[0]["split"]; ok {
		t.Fatalf("placement has a split: %v", got[0])
	}
	sp, _ := got[1]["split"].(map[string]any)
	for k, v := range map[string]string{"detection": "2.01s", "total": "800ms", "fence": "500ms", "start": "100ms", "overhead": "200ms", "decision": "40ms", "fence_commit": "20ms", "wake": "30ms", "other": "95ms"} {
		if sp[k] != v {
			t.Fatalf("--json split.%s = %v, want %q (split %v)", k, sp[k], v, sp)
		}
	}
}
