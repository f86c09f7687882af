package leader

import (
	"fmt"
	"sync"
	"time"

	"github.com/raftha/raftha/api"
)

// The disk heartbeat as a second path (issue #13): each node reads its
// peers' slots every heartbeat (server/diskslots.go) and sends the leader,
// with its heartbeat, how long ago it last saw each peer's counter change.
// The leader keeps the freshest sighting per peer, in memory, and shows it
// in the member rows of its status and in the reason of a node-lost
// takeover ("link down, disk heartbeat alive"). It is information only: no
// decision, lease or fence reads it. A takeover of a node whose disk
// heartbeat is alive still waits for that node's lease (or its pill
// acknowledgement) exactly as before.

// MaxDiskPeers bounds the peers one heartbeat may report.
const MaxDiskPeers = 64

// diskSeen is the leader's memory of the disk heartbeats: for each peer,
// the freshest sighting and who reported it.
type diskSeen struct {
	mu    sync.Mutex
	peers map[string]diskSighting
}

type diskSighting struct {
	by string    // the node that saw the counter change
	at time.Time // when, on the leader's clock
}

// report records what node saw of its peers (ages at send time, received
// at now). It never fails; a sighting of node by itself is ignored.
func (d *diskSeen) report(node string, ages map[string]time.Duration, now time.Time) {
	if len(ages) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers == nil {
		d.peers = map[string]diskSighting{}
	}
	n := 0
	for peer, age := range ages {
		if n++; n > MaxDiskPeers {
			break
		}
		if peer == node || peer == "" || age < 0 {
			continue
		}
		at := now.Add(-age)
		if cur, ok := d.peers[peer]; !ok || at.After(cur.at) {
			d.peers[peer] = diskSighting{by: node, at: at}
		}
	}
}

// seen returns the freshest sighting of node's disk heartbeat.
func (d *diskSeen) seen(node string) (diskSighting, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.peers[node]
	return v, ok
}

// attach fills a member row's disk heartbeat fields, as of now.
func (d *diskSeen) attach(ms *api.MemberStatus, now time.Time) {
	v, ok := d.seen(ms.ID)
	if !ok {
		return
	}
	age := now.Sub(v.at).Milliseconds()
	ms.DiskHeartbeatMS, ms.DiskSeenBy = &age, v.by
}

// lostNote is the part of a node-lost takeover's reason that says
// whether the lost node's disk heartbeat was still alive: "" when no node
// reports one. within is how recent a sighting counts as alive (the
// failover timeout: the network's own bound).
func (d *diskSeen) lostNote(node string, within time.Duration, now time.Time) string {
	v, ok := d.seen(node)
	if !ok {
		return ""
	}
	age := now.Sub(v.at)
	if age < within {
		return fmt.Sprintf("; its disk heartbeat was still alive (seen by %s %s before the decision): network link down, node alive, so it is fenced as usual", v.by, age.Round(time.Millisecond))
	}
	return fmt.Sprintf("; its disk heartbeat had stopped too (last seen by %s %s before the decision)", v.by, age.Round(time.Millisecond))
}
