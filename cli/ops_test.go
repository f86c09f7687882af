package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/transport"
)

// TestDayTwoCommands runs the day-two views against a real three-node
// cluster whose members log JSON: a suspended group reads SUSPENDED in
// status and group list and in raftha_group_suspended; group show gives
// the applied spec, the status and the recent ownership changes; --watch
// redraws; raftha_build_info is exported.
func TestDayTwoCommands(t *testing.T) {
	c := newThreeGroupCluster(t, "log_format: json\n")
	l := c.leader().id

	if out, errs, code := c.cli(l, "group", "suspend", "web"); code != 0 {
		t.Fatalf("group suspend web: exit %d: %s%s", code, out, errs)
	}

	// 1. SUSPENDED in every table.
	out, errs, code := c.cli(l, "status")
	t.Logf("raftha status:\n%s%s", out, errs)
	if code != 0 {
		t.Errorf("status: exit %d, want 0", code)
	}
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "Leader: n") {
		t.Errorf("status first line %q, want the leader", first)
	}
	if !regexp.MustCompile(`(?m)^web\s+n3\s+[0-9]+\s+online \(SUSPENDED\)\s`).MatchString(out) {
		t.Errorf("status does not show web as SUSPENDED")
	}
	if regexp.MustCompile(`(?m)^(db|cache)\s.*SUSPENDED`).MatchString(out) {
		t.Errorf("status shows a group that is not suspended as SUSPENDED")
	}
	if !strings.Contains(out, "MAINTENANCE: web suspended") {
		t.Errorf("status has no maintenance line for web")
	}
	out, errs, code = c.cli(l, "group", "list")
	t.Logf("raftha group list:\n%s%s", out, errs)
	if code != 0 || !regexp.MustCompile(`(?m)^web\s+n3\s+[0-9]+\s+online \(SUSPENDED\)\s`).MatchString(out) {
		t.Errorf("group list (exit %d) does not show web as SUSPENDED", code)
	}

	// 2. group show, from a follower (it forwards the status).
	follower := "n1"
	if l == follower {
		follower = "n2"
	}
	out, errs, code = c.cli(follower, "group", "show", "web")
	t.Logf("raftha group show web:\n%s%s", out, errs)
	if code != 0 {
		t.Fatalf("group show web: exit %d", code)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Group web$`),
		regexp.MustCompile(`(?m)^  owner +n3$`),
		regexp.MustCompile(`(?m)^  epoch +[1-9][0-9]*$`),
		regexp.MustCompile(`(?m)^  state +online \(SUSPENDED\) since `),
		regexp.MustCompile(`(?m)^  suspended +yes`),
		regexp.MustCompile(`(?m)^  failed on +-$`),
		regexp.MustCompile(`(?m)^  nodes +n3, n1 \(home n3\)$`),
		regexp.MustCompile(`(?m)^  failback +no$`),
		regexp.MustCompile(`(?m)^  app +exec +every 10s, timeout 30s, restart after 2 failure\(s\), fail over after 2 restart\(s\) +check="test -f .*start="touch .*stop="rm -f `),
		regexp.MustCompile(`(?m)^  .* \(none\) -> n3  epoch [0-9]+  cause placement .*online after`),
	} {
		if !want.MatchString(out) {
			t.Errorf("group show web does not match %s", want)
		}
	}
	out, errs, code = c.cli(follower, "group", "show", "web", "--json")
	var detail struct {
		Status struct {
			Owner     string `json:"owner"`
			Suspended bool   `json:"suspended"`
		} `json:"status"`
		Spec struct {
			Resources []struct {
				Type     string         `json:"type"`
				Settings map[string]any `json:"settings"`
			} `json:"resources"`
		} `json:"spec"`
		Changes []json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &detail); err != nil || code != 0 {
		t.Fatalf("group show --json: exit %d, %v: %s%s", code, err, out, errs)
	}
	if detail.Status.Owner != "n3" || !detail.Status.Suspended || len(detail.Spec.Resources) != 1 ||
		detail.Spec.Resources[0].Type != "exec" || detail.Spec.Resources[0].Settings["start"] == nil || len(detail.Changes) != 1 {
		t.Errorf("group show --json: %+v", detail)
	}
	if out, errs, code = c.cli(l, "group", "show", "nope"); code != 1 || !strings.Contains(errs, `no group named "nope"`) {
		t.Errorf("group show nope: exit %d, %s%s; want 1 and the group named", code, out, errs)
	}

	// 3. --watch redraws every --interval (here bounded by --count).
	start := time.Now()
	out, errs, code = c.cli(follower, "status", "--watch", "--interval", "150ms", "--count", "3", "--events", "0")
	took := time.Since(start)
	t.Logf("raftha status --watch --count 3 (%s):\n%s%s", took, out, errs)
	if n := strings.Count(out, "Every 150ms: raftha status"); code != 0 || n != 3 {
		t.Errorf("status --watch --count 3: exit %d, %d frames; want 0 and 3", code, n)
	}
	if n := len(regexp.MustCompile(`(?m)^web\s+n3\s.*SUSPENDED`).FindAllString(out, -1)); n != 3 {
		t.Errorf("status --watch: web drawn %d times, want 3", n)
	}
	if took < 300*time.Millisecond {
		t.Errorf("3 frames 150ms apart took %s", took)
	}
	out, errs, code = c.cli(l, "group", "list", "--watch", "--interval", "100ms", "--count", "2")
	if n := strings.Count(out, "Every 100ms: raftha group list"); code != 0 || n != 2 || strings.Count(out, "GROUP") != 2 {
		t.Errorf("group list --watch --count 2: exit %d, %d frames:\n%s%s", code, n, out, errs)
	}
	if _, errs, code = c.cli(l, "status", "--watch", "--interval", "0s"); code != 2 {
		t.Errorf("status --watch --interval 0s: exit %d (%s), want 2", code, errs)
	}

	// 1 and 5: the metrics.
	scrape := c.scrape(l)
	for series, want := range map[string]string{
		`raftha_group_suspended{group="web"}`:   "1",
		`raftha_group_suspended{group="db"}`:    "0",
		`raftha_group_suspended{group="cache"}`: "0",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ` + want + `$`).MatchString(scrape) {
			t.Errorf("metrics: want %s %s", series, want)
		}
	}
	if m := regexp.MustCompile(`(?m)^raftha_build_info\{goversion="go[^"]+",revision="[^"]*",version="[^"]+"\} 1$`).FindString(scrape); m == "" {
		t.Errorf("metrics: no raftha_build_info{goversion,revision,version} 1")
	} else {
		t.Logf("metrics: %s", m)
	}

	// 5. log_format: json: every line a member logged is a JSON object.
	logs := strings.Split(strings.TrimSpace(c.member(l).logs()), "\n")
	if len(logs) < 5 {
		t.Fatalf("leader logged %d lines", len(logs))
	}
	t.Logf("a JSON log line: %s", logs[len(logs)-1])
	for _, line := range logs {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["@message"] == nil || rec["@level"] == nil {
			t.Fatalf("log line is not an hclog JSON record (%v): %q", err, line)
		}
	}
}

// scrape fetches member id's /metrics as the operator.
func (c *opsCluster) scrape(id string) string {
	c.t.Helper()
	dir := filepath.Join(c.dir, "tls")
	tc, err := transport.LoadClient(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "operator.pem"), filepath.Join(dir, "operator-key.pem"))
	if err != nil {
		c.t.Fatal(err)
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(c.member(id).api + "/metrics")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("/metrics: %s", resp.Status)
	}
	return string(b)
}
