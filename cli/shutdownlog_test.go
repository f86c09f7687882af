package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// errorLine matches a log line at ERROR level (hclog text format).
var errorLine = regexp.MustCompile(`(?m)^.*\[ERROR\].*$`)

// TestCleanShutdownLogsNoError: a three-member cluster with groups online,
// stopped cleanly member by member (each hands its groups over, the
// leader last, as a rolling `systemctl stop` does), logs no line at ERROR
// level. The members that stop last see their peers go away:
// hashicorp/raft's replication, vote and transport failures that follow
// are expected then and are logged at WARN (server/raftlog.go).
func TestCleanShutdownLogsNoError(t *testing.T) {
	c := newThreeGroupCluster(t, "")
	leader := c.leader()
	order := []*opsMember{}
	for _, m := range c.members {
		if m != leader {
			order = append(order, m)
		}
	}
	for _, m := range append(order, leader) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := m.srv.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Errorf("%s: shutdown: %v", m.id, err)
		}
	}
	for _, m := range c.members {
		m.srv = nil // stopped: the cleanup's kill has nothing to do
	}
	for _, m := range c.members {
		logs := m.logs()
		if !strings.Contains(logs, "member stopped") {
			t.Errorf("%s: no 'member stopped' line", m.id)
		}
		// A duration computed from a zero time (time.Until(time.Time{}))
		// prints as -2562047h47m16.854775808s.
		if strings.Contains(logs, "2562047h") {
			t.Errorf("%s logged a nonsense duration (from a zero time)", m.id)
		}
		if lines := errorLine.FindAllString(logs, -1); len(lines) > 0 {
			t.Errorf("%s logged %d ERROR line(s) on a clean shutdown, e.g.:\n%s", m.id, len(lines), strings.Join(lines[:min(len(lines), 5)], "\n"))
		}
	}
}
