package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatusWithoutQuorum: a member restarted alone (two of three
// stopped) has no leader. `raftha status` asked of it says so in its
// first line, gives the view's age, lists the three groups its log holds
// (not "no groups") and exits non-zero; with --local it exits 0.
func TestStatusWithoutQuorum(t *testing.T) {
	c := newThreeGroupCluster(t, "")
	// Let every member store the entries before they stop.
	c.wait(10*time.Second, "every member applied the groups", func() bool {
		for _, m := range c.members {
			if len(m.srv.State().Groups) != 3 {
				return false
			}
		}
		return true
	})
	for _, id := range []string{"n1", "n2", "n3"} {
		c.kill(id)
	}
	c.start("n1")
	time.Sleep(500 * time.Millisecond) // a few election timeouts: no leader can come

	out, errs, code := c.cli("n1", "status")
	t.Logf("raftha status (exit %d):\n%s%s", code, out, errs)
	first, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(first, "NO LEADER") {
		t.Errorf("first line %q does not say there is no leader", first)
	}
	if !regexp.MustCompile(`STALE.* [0-9.]+(ms|s|m[0-9.]*s?|h.*) old`).MatchString(first) {
		t.Errorf("first line %q does not mark the view stale with its age", first)
	}
	for _, g := range []string{"cache", "db", "web"} {
		if !regexp.MustCompile(`(?m)^` + g + `\s+n[123]\s+[0-9]+\s+online`).MatchString(out) {
			t.Errorf("status does not list group %s from n1's log", g)
		}
	}
	if strings.Contains(out, "no groups") {
		t.Errorf("status says there are no groups")
	}
	if !regexp.MustCompile(`(?m)^n2\s+node\s`).MatchString(out) {
		t.Errorf("status does not list member n2 with its role")
	}
	if code == 0 {
		t.Errorf("exit 0 for a stale view without a leader; want non-zero unless --local")
	}

	out, errs, code = c.cli("n1", "status", "--local")
	t.Logf("raftha status --local (exit %d):\n%s%s", code, out, errs)
	if code != 0 {
		t.Errorf("status --local: exit %d, want 0", code)
	}
	if first, _, _ := strings.Cut(out, "\n"); !strings.Contains(first, "NO LEADER") {
		t.Errorf("status --local first line %q does not say there is no leader", first)
	}
}
