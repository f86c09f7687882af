package server

import (
	"strings"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

// TestDiskPathShowsLinkDownNodeAlive: n1 owns db (disk with lock_device)
// and is cut off from the network but alive. The leader's status shows
// n1 down with a fresh disk heartbeat seen by n2, and the takeover's
// reason (what `raftha why` prints) says the node was alive on the disk
// with its link down.
func TestDiskPathShowsLinkDownNodeAlive(t *testing.T) {
	c, _, _, _, _ := pillCluster(t)
	hb := c.member("n2").cfg.Timing.Heartbeat.D()
	c.partition("n1")
	var row api.MemberStatus
	waitFor(t, 100*hb, "the leader's status showing n1 down with a disk heartbeat seen by n2", func() bool {
		for _, id := range []string{"n2", "w1"} {
			m := c.member(id)
			if m.srv == nil || !m.srv.IsLeader() {
				continue
			}
			v, err := m.srv.Status(ctxT(t, 5*time.Second))
			if err != nil || v.Stale {
				continue
			}
			for _, ms := range v.Members {
				if ms.ID == "n1" && !ms.Healthy && ms.DiskHeartbeatMS != nil && ms.DiskSeenBy == "n2" && *ms.DiskHeartbeatMS < (3*hb).Milliseconds() {
					row = ms
					return true
				}
			}
		}
		return false
	})
	t.Logf("n1's row: state %s, disk heartbeat %d ms ago seen by %s", row.State, *row.DiskHeartbeatMS, row.DiskSeenBy)
	c.waitOnline("db", "n2")
	for _, e := range c.events("db") {
		if e.Kind == fsm.KindTakeover && e.To == "n2" {
			if !strings.Contains(e.Reason, "its disk heartbeat was still alive (seen by n2") {
				t.Fatalf("takeover reason %q: want it to say n1's disk heartbeat was alive, seen by n2", e.Reason)
			}
			t.Logf("takeover reason: %s", e.Reason)
			return
		}
	}
	t.Fatalf("no takeover event to n2: %s", kinds(c.events("db")))
}
