package server

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
)

// TestOwnerLeaderCrashDecidedFromLastAnswer: the owner is also the
// leader and crashes. The new leader never heard from it as leader, but it
// knows when the old leader last answered its own heartbeat; it decides
// the takeover failover_timeout after that answer (as for an owner that
// followed), not a lease and a heartbeat after its own readiness, which
// comes an election later. With lease 1.5s and failover_timeout 1.6s the
// old rule decides at readiness + 1.6s; the new one at least one Raft
// heartbeat timeout (200ms) earlier, and says so in the reason.
func TestOwnerLeaderCrashDecidedFromLastAnswer(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.configure(func(m *testMember) {
		m.cfg.Timing = config.TimingConfig{Heartbeat: config.Duration(100 * time.Millisecond), Lease: config.Duration(1500 * time.Millisecond), FailoverTimeout: config.Duration(1600 * time.Millisecond)}
	})
	_, g := c.startMarker("n1", "n2")
	c.transferLeadership("n1")
	c.waitHealthy()
	c.kill("n1")
	var st fsm.GroupStatus
	var ready time.Time
	waitFor(t, 20*time.Second, "the takeover decision", func() bool {
		l := c.leaderNow()
		if l == nil || l.cfg.NodeID == "n1" {
			return false
		}
		ls := l.srv.leader()
		if ls == nil {
			return false
		}
		ready = ls.Contacts().Since()
		st = l.srv.State().Groups["db"].Status
		return st.Epoch > g.Status.Epoch
	})
	decided := time.Since(ready)
	if !strings.Contains(st.Reason, "the previous leader, last answered") {
		t.Fatalf("decided %s after readiness with reason %q: not from the previous leader's last answer", decided.Round(time.Millisecond), st.Reason)
	}
	if limit := 1600 * time.Millisecond; decided >= limit {
		t.Fatalf("decided %s after readiness: no earlier than the old rule (lease + heartbeat = %s)", decided.Round(time.Millisecond), limit)
	}
	t.Logf("decided %s after the new leader's readiness: %s", decided.Round(time.Millisecond), st.Reason)
}
