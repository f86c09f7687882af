package disk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftha/raftha/resources"
)

// The disk resource's side of the poison pill and the disk heartbeat
// (resources.PillBox, resources.DiskHeartbeater). Without lock_device
// there are no slots: every method does nothing.

// SlotDevice is the lock device that holds the slot area ("" without
// one): the agent builds only resources whose parameters name one.
func (p *Params) SlotDevice() string { return p.LockDevice }

// SlotDevice implements resources.PillBox and resources.DiskHeartbeater:
// the lock device, or "" without one.
func (r *Resource) SlotDevice() string {
	if r.lock == nil || r.lock.slots == nil {
		return ""
	}
	return r.lock.path
}

// DiskHeartbeat implements resources.DiskHeartbeater.
func (r *Resource) DiskHeartbeat(ctx context.Context) (resources.SlotView, error) {
	if r.SlotDevice() == "" {
		return resources.SlotView{Slot: -1}, nil
	}
	return r.lock.slots.beat(ctx)
}

// SendPill implements resources.PillBox.
func (r *Resource) SendPill(ctx context.Context, p resources.Pill) error {
	if r.SlotDevice() == "" {
		return nil
	}
	return r.lock.slots.sendPill(ctx, pillRecord{Epoch: p.Epoch, Written: time.Now(), Target: p.Target, From: p.From, Group: p.Group})
}

// PillAcked implements resources.PillBox.
func (r *Resource) PillAcked(ctx context.Context, p resources.Pill) (resources.Pill, bool, error) {
	if r.SlotDevice() == "" {
		return resources.Pill{}, false, nil
	}
	rec, ok, err := r.lock.slots.ackOf(ctx, p.Target, p.Group, p.Epoch)
	if err != nil || !ok {
		return resources.Pill{}, false, err
	}
	return resources.Pill{Target: rec.Node, From: p.From, Group: rec.Ack.Group, Epoch: rec.Ack.Epoch, Instance: rec.Ack.Instance, At: rec.Ack.At}, true, nil
}

// AckPill implements resources.PillBox: a pill for tok.Group above
// tok.Epoch addressed to this node in its mailbox is acknowledged in its
// own slot (once per epoch; later heartbeat writes keep it).
func (r *Resource) AckPill(ctx context.Context, tok resources.Token) (resources.Pill, bool, error) {
	if r.SlotDevice() == "" {
		return resources.Pill{}, false, nil
	}
	n := r.lock.slots
	p, ok, err := n.mailbox(ctx)
	if err != nil || !ok || p.Group != tok.Group || p.Epoch <= tok.Epoch {
		return resources.Pill{}, false, err
	}
	n.mu.Lock()
	done := n.ack.Group == p.Group && n.ack.Epoch >= p.Epoch
	n.mu.Unlock()
	if done {
		return resources.Pill{}, false, nil
	}
	ack := ackRecord{Group: p.Group, Epoch: p.Epoch, At: time.Now(), Instance: r.env.InstanceID}
	if err := n.acknowledge(ctx, ack); err != nil {
		return resources.Pill{}, false, err
	}
	r.log.Warn("acknowledged the poison pill: nothing of the group runs here", "lock_device", r.lock.path, "group", p.Group, "epoch", p.Epoch, "from", p.From)
	return resources.Pill{Target: p.Target, From: p.From, Group: p.Group, Epoch: p.Epoch, Instance: ack.Instance, At: ack.At}, true, nil
}

// pillCheck reads this node's mailbox: a pill for tok's group at a higher
// epoch is ErrPoisoned. A node without a slot yet claims one (no pill can
// have reached it); ErrNoSlot (every slot taken) is only logged: it
// costs the pill, not safety.
func (l *diskLock) pillCheck(ctx context.Context, tok resources.Token) error {
	if l.slots == nil {
		return nil
	}
	p, ok, err := l.slots.mailbox(ctx)
	if errors.Is(err, ErrNoSlot) {
		l.log.Warn("no slot of this node on the lock device: a poison pill cannot reach it, so takeovers wait the full lease-only wait", "lock_device", l.path, "error", err)
		return nil
	}
	if err != nil {
		return err
	}
	if ok && p.Group == tok.Group && p.Epoch > tok.Epoch {
		return fmt.Errorf("%w: lock_device %s: %s; this node's epoch is %d", ErrPoisoned, l.path, p, tok.Epoch)
	}
	return nil
}

// checkSlot is the holder's read of its own slot, every heartbeat with
// the lock block: a pill ends the hold at once; a slot that cannot be
// read for lock_lost_after ends it too (ErrLockLost).
func (l *diskLock) checkSlot(ctx context.Context, tok resources.Token) error {
	err := l.pillCheck(ctx, tok)
	if err == nil || errors.Is(err, ErrPoisoned) {
		if err == nil {
			l.mu.Lock()
			l.slotGood = time.Now()
			l.mu.Unlock()
		}
		return err
	}
	l.mu.Lock()
	if l.slotGood.IsZero() { // the grace starts with the first attempt
		l.slotGood = time.Now()
	}
	since := time.Since(l.slotGood)
	l.mu.Unlock()
	if since >= l.lostAfter {
		return fmt.Errorf("%w: lock_device %s: this node's slot could not be read for %s (lock_lost_after %s): %w", ErrLockLost, l.path, since.Round(time.Millisecond), l.lostAfter, err)
	}
	l.log.Warn("cannot read this node's slot on the lock device; giving up the group if this lasts lock_lost_after", "lock_device", l.path, "since_last_good", since.Round(time.Millisecond), "lock_lost_after", l.lostAfter, "error", err)
	return nil
}
