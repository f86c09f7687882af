package cli

import (
	"testing"

	"github.com/raftha/raftha/api"
)

// TestMemberStateShowsDiskHeartbeat: a member the leader cannot hear
// from whose disk heartbeat another node still sees reads as "link
// down, node alive" in raftha status; a healthy member does not.
func TestMemberStateShowsDiskHeartbeat(t *testing.T) {
	ms := func(v int64) *int64 { return &v }
	for _, c := range []struct {
		m    api.MemberStatus
		want string
	}{
		{api.MemberStatus{State: "down", DiskHeartbeatMS: ms(230), DiskSeenBy: "n2"}, "down (disk heartbeat 200ms ago, seen by n2)"},
		{api.MemberStatus{State: "down"}, "down"},
		{api.MemberStatus{State: "follower", Healthy: true, DiskHeartbeatMS: ms(100), DiskSeenBy: "n2"}, "follower"},
		{api.MemberStatus{State: "unknown", DiskHeartbeatMS: ms(100), DiskSeenBy: "n2"}, "unknown"},
	} {
		if got := memberState(c.m); got != c.want {
			t.Errorf("memberState(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}
