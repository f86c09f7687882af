package owner

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/server/internal/clock"
)

// The disk heartbeat (issue #13): every heartbeat, while the agent runs,
// a node writes its own slot on the slot device of each group it is a
// candidate for (a disk with lock_device), whether or not it runs the
// group, and reads its peers' slots. It is what lets a winner find the
// loser's mailbox (pill.go), and it is a second path between nodes: a
// peer whose counter keeps changing is alive on the disk even when its
// network link is down. It decides nothing.

// diskSlots is the runner's disk heartbeat state.
type diskSlots struct {
	mu    sync.Mutex
	specs map[string]string                      // group -> spec built
	res   map[string][]resources.DiskHeartbeater // group -> its slot resources
	last  map[string]api.DiskHeartbeat           // device -> last heartbeat

	// seen is the log state (fsm.Shared: a new value at every change)
	// specs and res were last brought up to date with, and names the
	// groups this node is a candidate for in it, in order: an idle round
	// reuses them instead of reading every group's spec again. Only the
	// heartbeat goroutine touches them.
	seen  *fsm.State
	names []string
}

// beatDisks writes the disk heartbeat every heartbeat until the member
// stops.
func (r *Runner) BeatDisks() {
	s := r.s
	hb := s.cfg.Timing.Heartbeat.D()
	// On the heartbeat's boundaries, with the lease's heartbeat
	// (clock.NextBoundary): one wake-up an interval for both.
	t := time.NewTimer(clock.NextBoundary(time.Now(), hb))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.beatDisksOnce(r.ctx)
		t.Reset(clock.NextBoundary(time.Now(), hb))
	}
}

// beatDisksOnce is one round over the groups this node is a candidate
// for; each device once. Every call is bounded by the device's
// lock_io_timeout per I/O.
func (r *Runner) beatDisksOnce(ctx context.Context) {
	s := r.s
	st := s.fsm.Shared()
	d := &r.slots
	if st != d.seen {
		r.refreshSlotResources(st)
	}
	names := d.names
	done := map[string]bool{}
	for _, name := range names {
		d.mu.Lock()
		list := d.res[name]
		d.mu.Unlock()
		for _, b := range list {
			dev := b.SlotDevice()
			if done[dev] {
				continue
			}
			done[dev] = true
			bctx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D()+pillIOBudget)
			view, err := b.DiskHeartbeat(bctx)
			cancel()
			beat := api.DiskHeartbeat{Group: name, Device: dev, Slot: view.Slot, Counter: view.Counter, At: time.Now()}
			for _, p := range view.Peers {
				dp := api.DiskPeer{Node: p.Node, Slot: p.Slot, Counter: p.Counter}
				if !p.Changed.IsZero() {
					dp.Changed = &p.Changed
				}
				beat.Peers = append(beat.Peers, dp)
			}
			if err != nil {
				beat.Error = err.Error()
				s.logLimit.Log(r.log, hclog.Warn, "disk-heartbeat/"+dev, "disk heartbeat failed", "group", name, "lock_device", dev, "error", err)
			}
			d.mu.Lock()
			d.last[dev] = beat
			d.mu.Unlock()
		}
	}
	d.mu.Lock()
	for dev := range d.last {
		if !done[dev] {
			delete(d.last, dev)
		}
	}
	d.mu.Unlock()
}

// refreshSlotResources brings the slot resources up to date with st: the
// groups this node is a candidate for, and for each one whose spec
// changed since it was built, its slot resources built again.
func (r *Runner) refreshSlotResources(st *fsm.State) {
	s := r.s
	d := &r.slots
	names := make([]string, 0, len(st.Groups))
	for name, g := range st.Groups {
		if slices.Contains(g.Spec.Nodes, s.cfg.NodeID) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	d.mu.Lock()
	if d.specs == nil {
		d.specs, d.res, d.last = map[string]string{}, map[string][]resources.DiskHeartbeater{}, map[string]api.DiskHeartbeat{}
	}
	for g := range d.specs {
		if _, ok := slices.BinarySearch(names, g); !ok {
			delete(d.specs, g)
			delete(d.res, g)
		}
	}
	d.mu.Unlock()
	for _, name := range names {
		spec := st.Groups[name].Spec.Resources
		key, _ := json.Marshal(spec)
		d.mu.Lock()
		same := d.specs[name] == string(key)
		d.mu.Unlock()
		if same {
			continue
		}
		var hb []resources.DiskHeartbeater
		for _, res := range s.buildSlotResources(name, spec, r.log.Named(name)) {
			if b, ok := res.(resources.DiskHeartbeater); ok {
				hb = append(hb, b)
			}
		}
		d.mu.Lock()
		d.specs[name], d.res[name] = string(key), hb
		d.mu.Unlock()
	}
	d.seen, d.names = st, names
}

// DiskHeartbeats returns this member's last disk heartbeat on each slot
// device, by device.
func (r *Runner) DiskHeartbeats() []api.DiskHeartbeat {
	d := &r.slots
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.DiskHeartbeat, 0, len(d.last))
	for _, b := range d.last {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}
