package server

import (
	"time"

	"github.com/raftha/raftha/server/internal/leader"
)

// The disk heartbeat as a second path (issue #13): each node reads its
// peers' slots every heartbeat (diskslots.go) and sends the leader, with
// its heartbeat, how long ago it last saw each peer's counter change. The
// leader keeps the freshest sighting per peer, in memory, and shows it in
// the member rows of its status and in the reason of a node-lost takeover
// ("link down, disk heartbeat alive"). It is information only: no
// decision, lease or fence reads it. A takeover of a node whose disk
// heartbeat is alive still waits for that node's lease (or its pill
// acknowledgement) exactly as before.

// diskPeerAges is this node's report for its heartbeat: for each peer it
// reads on a slot device, how long ago its counter last changed (the
// freshest over devices).
func (s *Server) diskPeerAges() map[string]time.Duration {
	var out map[string]time.Duration
	now := time.Now()
	for _, b := range s.DiskHeartbeats() {
		for _, p := range b.Peers {
			if p.Changed == nil || p.Node == s.cfg.NodeID {
				continue
			}
			age := max(0, now.Sub(*p.Changed))
			if out == nil {
				out = map[string]time.Duration{}
			}
			if cur, ok := out[p.Node]; !ok || age < cur {
				out[p.Node] = age
			}
			if len(out) >= leader.MaxDiskPeers {
				return out
			}
		}
	}
	return out
}
