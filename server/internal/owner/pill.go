package owner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/resources/gohandler"
)

// The poison pill (issue #13), for groups with a resource that has a
// per-node slot area (resources.PillBox: a disk with lock_device).
//
// Winner: in lease-only mode, once the takeover is confirmed, it writes a
// pill {target: the fence node, group, its epoch} into the loser's
// mailbox on each slot device of the group, and polls the loser's own
// slot every heartbeat while the lease-only wait runs. An
// acknowledgement of that pill (same group and epoch, written by the
// fence node, from the instance the log recorded) ends the wait at once;
// without one the wait runs out exactly as before. A failed write or read
// never shortens anything.
//
// Loser: its disk lock reads the mailbox every heartbeat while it holds
// the group (ErrPoisoned: the fence-check self-fence of fencewatch.go).
// Its worker acknowledges the pill only when nothing of the group runs or
// is starting here (ackPills): from the worker goroutine, which is the
// only one that starts the group's resources, with no instance started,
// and not after a stop that failed. See server/DESIGN.md ("Disk lock").

// pillState is the poison pill of the current takeover and the loser
// side's schedule (worker goroutine only).
type pillState struct {
	epoch   uint64          // the takeover the pills are for
	sent    map[string]bool // slot device -> pill delivered
	ackNext time.Time       // when ackPills is due again
	// boxes caches the group's slot resources for specKey (the spec
	// encoded), last asked for with the spec slice at specAt, specLen.
	specKey string
	boxes   []resources.PillBox
	specAt  *fsm.ResourceSpec
	specLen int
}

// pillBoxes builds the group's resources that have a slot area (nothing
// is started; building opens nothing).
func (w *worker) pillBoxes(spec []fsm.ResourceSpec) []resources.PillBox {
	// The same slice as last time is the same spec: states are read only
	// once shared (fsm.Shared), and holding the slice keeps its memory
	// from being reused. An idle worker then compares a pointer each
	// heartbeat instead of encoding its spec.
	if len(spec) > 0 && w.pill.specKey != "" && &spec[0] == w.pill.specAt && len(spec) == w.pill.specLen {
		return w.pill.boxes
	}
	key, _ := json.Marshal(spec)
	if len(spec) > 0 {
		w.pill.specAt, w.pill.specLen = &spec[0], len(spec)
	}
	if string(key) == w.pill.specKey {
		return w.pill.boxes
	}
	var boxes []resources.PillBox
	for _, r := range w.r.s.buildSlotResources(w.name, spec, w.log) {
		if b, ok := r.(resources.PillBox); ok {
			boxes = append(boxes, b)
		}
	}
	w.pill.specKey, w.pill.boxes = string(key), boxes
	return boxes
}

// pillAck is the winner's side, called while the lease-only wait runs:
// it delivers the pill (retrying on each call until it lands on every
// slot device) and looks for the loser's acknowledgement. It returns the
// proof ("" without one) and whether there is anything to poll.
func (w *worker) pillAck(ctx context.Context, g *fsm.Group) (verified string, poll bool) {
	s := w.r.s
	gs := g.Status
	if gs.FenceNode == "" || gs.FenceNode == s.cfg.NodeID {
		return "", false
	}
	boxes := w.pillBoxes(g.Spec.Resources)
	if len(boxes) == 0 {
		return "", false
	}
	if w.pill.epoch != gs.Epoch || w.pill.sent == nil {
		w.pill.epoch, w.pill.sent = gs.Epoch, map[string]bool{}
	}
	p := resources.Pill{Target: gs.FenceNode, From: s.cfg.NodeID, Group: w.name, Epoch: gs.Epoch}
	// The log may know more than one instance of the fence node: an
	// acknowledgement names one, so it proves nothing about the others.
	instances := gs.InstancesToFence()
	for _, b := range boxes {
		dev := b.SlotDevice()
		if !w.pill.sent[dev] {
			ictx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D()+pillIOBudget)
			err := b.SendPill(ictx, p)
			cancel()
			if err != nil {
				s.logLimit.Log(w.log, hclog.Warn, "pill/"+w.name+dev, "cannot deliver the poison pill; waiting the full lease-only wait", "fence_node", p.Target, "lock_device", dev, "error", err)
				continue
			}
			w.pill.sent[dev] = true
			w.log.Warn("poison pill delivered to the previous owner", "fence_node", p.Target, "lock_device", dev, "epoch", p.Epoch)
		}
		ictx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D()+pillIOBudget)
		ack, ok, err := b.PillAcked(ictx, p)
		cancel()
		switch {
		case err != nil:
			s.logLimit.Log(w.log, hclog.Warn, "pill-ack/"+w.name+dev, "cannot read the previous owner's slot", "fence_node", p.Target, "lock_device", dev, "error", err)
		case !ok:
		case len(instances) > 1:
			s.logLimit.Log(w.log, hclog.Info, "pill-ack/"+w.name+dev, "the pill is acknowledged, but the log knows several instances of the previous owner: waiting the full lease-only wait", "fence_node", p.Target, "instances", strings.Join(instances, ","))
		case len(instances) == 1 && instances[0] != "" && ack.Instance != instances[0]:
			s.logLimit.Log(w.log, hclog.Info, "pill-ack/"+w.name+dev, "the pill is acknowledged by another instance than the one the log recorded: waiting the full lease-only wait", "fence_node", p.Target, "instance", instances[0], "ack_instance", ack.Instance)
		default:
			return fmt.Sprintf("pill acknowledged by %s on %s after %s", p.Target, dev, time.Since(w.fenceSeen).Round(time.Millisecond)), true
		}
	}
	return "", true
}

// pillIOBudget bounds one pill call beyond the lease: a slot device's own
// lock_io_timeout bounds each of its I/Os.
const pillIOBudget = 10 * time.Second

// ackPills is the loser's side, once a heartbeat (dueOnceAnInterval): when nothing of
// the group runs or is starting here, a pill for it in this node's
// mailbox is acknowledged (g is nil when the applied log has no such
// group: the slot devices of the last spec seen are used). "Nothing runs": no instance, or one of which
// nothing was started, that is not left over from an earlier run of the
// agent; the first-sight cleanup did not fail; no stop failed (given up
// stop-failed). It runs on the worker goroutine, the only one that starts
// the group here, so no start is under way; any later start needs the
// leader to confirm an epoch, which is below the pill's no more.
func (w *worker) ackPills(ctx context.Context, g *fsm.Group) {
	s := w.r.s
	w.mu.Lock()
	inst := w.inst
	idle := (inst == nil || (inst.started == 0 && !inst.leftover)) && w.cleaned && !w.cleanFailed && !w.abandoned
	w.mu.Unlock()
	if inst != nil && w.pill.specKey == "" {
		// Remember the slot devices of what may run here: an agent that
		// restarted cut off has not applied the log (g is nil) but knows
		// its run record's resources.
		w.pillBoxes(inst.spec)
	}
	if !dueOnceAnInterval(&w.pill.ackNext, time.Now(), s.cfg.Timing.Heartbeat.D()) {
		return
	}
	if !idle || (w.gaveUp != nil && w.gaveUp.StopFailed) {
		return
	}
	// A pill at or below an epoch the log gives this node is stale.
	var floor uint64
	boxes := w.pill.boxes
	if g != nil {
		if g.Status.Owner == s.cfg.NodeID && g.Status.Active() {
			floor = g.Status.Epoch
		}
		boxes = w.pillBoxes(g.Spec.Resources)
	}
	for _, b := range boxes {
		actx, cancel := context.WithTimeout(ctx, s.cfg.Timing.Lease.D()+pillIOBudget)
		p, ok, err := b.AckPill(actx, w.token(floor, ""))
		cancel()
		if err != nil {
			s.logLimit.Log(w.log, hclog.Warn, "pill-ack-write/"+w.name, "cannot read or acknowledge this node's mailbox", "lock_device", b.SlotDevice(), "error", err)
			continue
		}
		if ok {
			w.log.Warn("poison pill acknowledged: nothing of the group runs here", "lock_device", b.SlotDevice(), "epoch", p.Epoch, "from", p.From)
		}
	}
}

// buildSlotResources builds the resources of spec that have a slot area
// (a disk with lock_device), for the pill and the disk heartbeat. Nothing
// is started; a spec that does not build yields nothing.
func (s *agent) buildSlotResources(group string, spec []fsm.ResourceSpec, log hclog.Logger) []resources.Resource {
	var out []resources.Resource
	for _, rs := range spec {
		if rs.Type == gohandler.TypeName {
			continue
		}
		t, err := s.registry.Lookup(rs.Type)
		if err != nil {
			continue
		}
		p := t.NewParams()
		if len(rs.Params) > 0 && json.Unmarshal(rs.Params, p) != nil {
			continue
		}
		if sp, ok := p.(interface{ SlotDevice() string }); !ok || sp.SlotDevice() == "" {
			continue // only types whose parameters name a slot device are built
		}
		res, err := t.Build(p, resources.Env{Logger: log.Named(rs.Name), NodeID: s.cfg.NodeID, InstanceID: s.instance,
			CallTimeout: s.cfg.AWS.CallTimeout.D(), StopDeadline: s.cfg.Fencing.StopDeadline.D(), Heartbeat: s.cfg.Timing.Heartbeat.D()})
		if err != nil {
			log.Debug("resource does not build; no slots from it", "resource", rs.Name, "error", err)
			continue
		}
		if sd, ok := res.(interface{ SlotDevice() string }); ok && sd.SlotDevice() != "" {
			out = append(out, res)
		}
	}
	return out
}
