package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestMembersStandbyCommands runs `raftha members standby` and
// `unstandby` against a real three-node cluster: the group n1 owns moves
// to its other node by a planned move (why: cause standby, whose
// standby), n1 reads STANDBY in members list, status and their --json, and
// raftha_member_standby; an unknown member is refused with its name; a
// missing argument is a usage error; unstandby ends it.
func TestMembersStandbyCommands(t *testing.T) {
	c := newThreeGroupCluster(t, "")
	l := c.leader().id

	out, errs, code := c.cli(l, "members", "standby", "n1")
	t.Logf("raftha members standby n1:\n%s%s", out, errs)
	if code != 0 || !strings.Contains(out, "n1 is on standby: the leader moves cache away by planned moves") {
		t.Fatalf("members standby n1: exit %d", code)
	}
	c.wait(30*time.Second, "cache online on n2", func() bool {
		g, ok := c.leader().srv.State().Groups["cache"]
		return ok && g.Status.Owner == "n2" && g.Status.State == fsm.StateOnline
	})

	out, errs, code = c.cli(l, "members", "list")
	t.Logf("raftha members list:\n%s%s", out, errs)
	if code != 0 || !regexp.MustCompile(`(?m)^n1\s+node\s+\S+ \(STANDBY\)\s+yes\s+true\s`).MatchString(out) {
		t.Errorf("members list (exit %d) does not show n1 STANDBY, healthy and voting", code)
	}
	if regexp.MustCompile(`(?m)^n[23]\s.*STANDBY`).MatchString(out) {
		t.Errorf("members list shows a node that is not on standby as STANDBY")
	}
	out, _, _ = c.cli(l, "members", "list", "--json")
	var ms []api.MemberStatus
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("members list --json: %v: %s", err, out)
	}
	for _, m := range ms {
		if (m.Standby != nil) != (m.ID == "n1") || (m.Standby != nil && m.Standby.By != "operator") {
			t.Errorf("members list --json: %s standby %+v", m.ID, m.Standby)
		}
	}

	out, errs, code = c.cli(l, "status")
	t.Logf("raftha status:\n%s%s", out, errs)
	if code != 0 || !regexp.MustCompile(`(?m)^n1\s+node\s+\S+ \(STANDBY\)\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^STANDBY: n1 since .* by operator: it votes but owns nothing new`).MatchString(out) {
		t.Errorf("status (exit %d) does not show n1 on standby", code)
	}
	if !regexp.MustCompile(`(?m)^cache\s+n2\s`).MatchString(out) {
		t.Errorf("status does not show cache on n2")
	}
	out, _, _ = c.cli(l, "status", "--json")
	if !strings.Contains(out, `"standby": {`) {
		t.Errorf("status --json has no standby member")
	}

	out, errs, code = c.cli(l, "why", "cache")
	t.Logf("raftha why cache:\n%s%s", out, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; code != 0 || !regexp.MustCompile(`n1 -> n2  epoch [0-9]+  cause standby  no fence needed  stop .*online after .*\(n1 on standby since .* by operator\)$`).MatchString(last) {
		t.Errorf("why cache (exit %d): last line %q is not the standby move", code, last)
	}
	if m := c.scrape(l); !strings.Contains(m, `raftha_member_standby{member="n1"} 1`) || !strings.Contains(m, `raftha_member_standby{member="n2"} 0`) {
		t.Errorf("metrics: no raftha_member_standby for n1 (1) and n2 (0)")
	}

	out, errs, code = c.cli(l, "members", "standby", "n9")
	t.Logf("raftha members standby n9: exit %d\n%s%s", code, out, errs)
	if code == 0 || !strings.Contains(errs, "n9") || !strings.Contains(errs, "no such member") {
		t.Errorf("standby of an unknown member: exit %d, stderr %q", code, errs)
	}
	if _, errs, code = c.cli(l, "members", "standby"); code == 0 || !strings.Contains(errs, "members standby takes one NODE") {
		t.Errorf("standby without NODE: exit %d, stderr %q", code, errs)
	}

	out, errs, code = c.cli(l, "members", "unstandby", "n1")
	t.Logf("raftha members unstandby n1:\n%s%s", out, errs)
	if code != 0 || !strings.Contains(out, "n1 is no longer on standby") {
		t.Fatalf("members unstandby n1: exit %d", code)
	}
	out, _, _ = c.cli(l, "members", "list")
	if strings.Contains(out, "STANDBY") {
		t.Errorf("members list after unstandby still shows STANDBY:\n%s", out)
	}
	if g := c.leader().srv.State().Groups["cache"]; g.Status.Owner != "n2" {
		t.Errorf("cache moved back without failback: %+v", g.Status)
	}
}
