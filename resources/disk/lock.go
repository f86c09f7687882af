package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/raftha/raftha/resources"
)

// The disk lock (lock_device): an epoch-stamped block on a small
// partition beside the data partition. Start reads it with O_DIRECT,
// refuses to mount when it holds a higher epoch than the node's own,
// writes its own owner and epoch (O_DIRECT, O_DSYNC, fdatasync), reads it
// back, waits lock_settle and reads it once more before it mounts. While
// the group runs here the agent re-reads it every heartbeat (CheckFence):
// a higher epoch there means a newer owner has the disk, and the group is
// given up at once. See README ("The disk lock") and server/DESIGN.md
// ("Disk lock").

// Defaults of the lock keys.
const (
	defaultLockIOTimeout = 2 * time.Second
	defaultLockLostAfter = 10 * time.Second
	// lockSettleRounds bounds how often Start re-asserts its epoch over a
	// lower one that a stale writer put back while Start was settling.
	lockSettleRounds = 3
)

// validateLock checks the lock_* keys (part of Params.Validate).
func (p *Params) validateLock() []error {
	var errs []error
	set := p.LockIOTimeout != "" || p.LockLostAfter != "" || p.LockSettle != ""
	switch {
	case p.LockDevice == "" && set:
		errs = append(errs, errors.New("lock_io_timeout, lock_lost_after and lock_settle need lock_device"))
	case p.LockDevice == "":
		return nil
	case !filepath.IsAbs(p.LockDevice):
		errs = append(errs, fmt.Errorf("lock_device: expected an absolute path like /dev/nvme1n1p1, got %q", p.LockDevice))
	case p.Device != "" && filepath.Clean(p.LockDevice) == filepath.Clean(p.Device):
		errs = append(errs, errors.New("lock_device: must be its own small partition, not the data device (the lock block would overwrite the file system)"))
	}
	for _, d := range []struct{ key, val string }{{"lock_io_timeout", p.LockIOTimeout}, {"lock_lost_after", p.LockLostAfter}, {"lock_settle", p.LockSettle}} {
		if err := resources.CheckDuration(d.key, d.val, "2s"); err != nil {
			errs = append(errs, err)
		}
	}
	if io, lost := resources.DurationOr(p.LockIOTimeout, defaultLockIOTimeout), resources.DurationOr(p.LockLostAfter, defaultLockLostAfter); io > lost {
		errs = append(errs, fmt.Errorf("lock_io_timeout %s is longer than lock_lost_after %s: a hung read would outlast the grace it is part of", io, lost))
	}
	return errs
}

// diskLock is one resource's lock device.
type diskLock struct {
	path      string
	node      string
	log       hclog.Logger
	ioTimeout time.Duration
	lostAfter time.Duration
	settle    time.Duration
	heartbeat time.Duration // how often the holder loop re-reads (lockhold.go)
	// read and write are the raw block I/O (tests replace them to make a
	// device hang); each call is bounded by ioTimeout.
	read  func(path string) ([]byte, error)
	write func(path string, b []byte) error

	gate     ioGate
	mu       sync.Mutex
	lastGood time.Time // last read that showed our own record
	slotGood time.Time // last good read of this node's slot (pill.go)
	held     uint64    // epoch acquired by Start (0: none)

	// slots is this node's side of the slot area (slots.go; nil without
	// a node id).
	slots *slotNode

	// The holder loop (lockhold.go): cancel and done while it runs; its
	// final verdict; checkMu serializes it with CheckFence.
	holdCancel context.CancelFunc
	holdDone   chan struct{}
	holdErr    error
	checkMu    sync.Mutex
}

func newDiskLock(p *Params, env resources.Env, log hclog.Logger) *diskLock {
	if p.LockDevice == "" {
		return nil
	}
	l := &diskLock{
		path:      filepath.Clean(p.LockDevice),
		node:      env.NodeID,
		log:       log,
		ioTimeout: resources.DurationOr(p.LockIOTimeout, defaultLockIOTimeout),
		lostAfter: resources.DurationOr(p.LockLostAfter, defaultLockLostAfter),
		read:      readBlockDirect,
		write:     writeBlockDirect,
	}
	// Long enough for the holder to re-read (and re-assert) once: its
	// check runs every heartbeat and takes up to lock_io_timeout.
	hb := env.Heartbeat
	if hb <= 0 {
		hb = time.Second
	}
	l.heartbeat = hb
	if env.NodeID != "" {
		l.slots = slotNodeFor(l.path, env.NodeID, l.ioTimeout)
	}
	l.settle = resources.DurationOr(p.LockSettle, 2*hb+l.ioTimeout)
	return l
}

// bounded runs one block I/O of the lock block (ioGate.run).
func (l *diskLock) bounded(ctx context.Context, what string, fn func() error) error {
	return l.gate.run(ctx, l.ioTimeout, what+" "+l.path, fn)
}

// ioGate bounds the block I/O of one user of a device: each call runs
// with a timeout (and ctx). A call that hangs is left to finish on its
// own; until it does, every later call fails at once rather than pile up
// goroutines on a dead device. Nothing is started once ctx has ended
// (Start's context ends with the lease).
type ioGate struct {
	mu   sync.Mutex
	busy bool // an I/O is still blocked in the kernel
}

func (g *ioGate) run(ctx context.Context, timeout time.Duration, what string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrLockIO, what, err)
	}
	g.mu.Lock()
	if g.busy {
		g.mu.Unlock()
		return fmt.Errorf("%w: %s: an earlier I/O on it is still blocked", ErrLockIO, what)
	}
	g.busy = true
	g.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		err := fn()
		g.mu.Lock()
		g.busy = false
		g.mu.Unlock()
		done <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrLockIO, what, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %s did not return within lock_io_timeout %s", ErrLockIO, what, timeout)
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", ErrLockIO, what, ctx.Err())
	}
}

// readRaw reads block 0 (bounded).
func (l *diskLock) readRaw(ctx context.Context) ([]byte, error) {
	var b []byte
	err := l.bounded(ctx, "read of lock block on", func() (err error) {
		b, err = l.read(l.path)
		return err
	})
	if err != nil {
		return nil, err // b may still be written by a read that timed out
	}
	return b, nil
}

// judge compares a valid record with what tok may hold: nil when tok's
// epoch is at least the record's (and the record is not another node's
// at the same epoch, nor another group's).
func (l *diskLock) judge(rec lockRecord, tok resources.Token) error {
	switch {
	case rec.Group != tok.Group:
		return fmt.Errorf("%w: lock_device %s holds the lock of group %q (%s), not of group %q; each group needs its own lock partition",
			ErrLockConflict, l.path, rec.Group, rec, tok.Group)
	case rec.Epoch > tok.Epoch:
		return fmt.Errorf("%w: lock_device %s holds epoch %d (%s), this node's epoch is %d: a newer owner has the disk",
			ErrSuperseded, l.path, rec.Epoch, rec, tok.Epoch)
	case rec.Epoch == tok.Epoch && rec.Owner != l.node:
		return fmt.Errorf("%w: lock_device %s holds this group's epoch %d for node %s, not for %s",
			ErrLockConflict, l.path, rec.Epoch, rec.Owner, l.node)
	}
	return nil
}

// mine is the record this node writes for tok, carrying over the slot
// area fields of prev (a later format's slots survive a version-1 write);
// a block without them gets this format's slot area (slotblock.go).
func (l *diskLock) mine(tok resources.Token, prev lockRecord) lockRecord {
	rec := lockRecord{Epoch: tok.Epoch, Written: time.Now(), Group: tok.Group, Owner: l.node,
		SlotOffset: max(prev.SlotOffset, lockSlotOffset), SlotSize: prev.SlotSize, SlotCnt: prev.SlotCnt}
	if rec.SlotSize == 0 && rec.SlotCnt == 0 { // describe the slot area (slotblock.go)
		rec.SlotSize, rec.SlotCnt = slotSize, slotCount
	}
	return rec
}

// writeVerified writes rec and reads it back; the read must match byte
// for byte (a newer owner's record that raced in is reported as such).
func (l *diskLock) writeVerified(ctx context.Context, rec lockRecord) ([]byte, error) {
	want := rec.encode()
	if err := l.bounded(ctx, "write of lock block on", func() error { return l.write(l.path, want) }); err != nil {
		return nil, err
	}
	got, err := l.readRaw(ctx)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, want) {
		if other, zero, err := decodeLock(got); err == nil && !zero {
			if err := l.judge(other, resources.Token{Group: rec.Group, Epoch: rec.Epoch}); errors.Is(err, ErrSuperseded) {
				return nil, err
			}
		}
		return nil, fmt.Errorf("%w: lock_device %s: the block read back differs from the one just written", ErrLockIO, l.path)
	}
	return want, nil
}

// acquire is Start's part: read, judge, write own record, read back,
// settle and read again. Only a nil return lets Start mount.
func (l *diskLock) acquire(ctx context.Context, dataDev blockDevice, tok resources.Token) error {
	if l.node == "" {
		return fmt.Errorf("lock_device %s: this agent passed no node id", l.path)
	}
	l.stopHolding()
	if err := l.checkDevice(dataDev); err != nil {
		return err
	}
	raw, err := l.readRaw(ctx)
	if err != nil {
		return fmt.Errorf("refusing to mount: %w", err)
	}
	prev, zero, err := decodeLock(raw)
	if err != nil {
		return fmt.Errorf("refusing to mount: lock_device %s: %w; if it really is this group's lock partition and no node has the file system mounted, initialize it with `raftha disk lock init %s`", l.path, err, l.path)
	}
	if !zero {
		if err := l.judge(prev, tok); err != nil {
			return fmt.Errorf("refusing to mount: %w", err)
		}
	}
	if err := l.pillCheck(ctx, tok); err != nil {
		return fmt.Errorf("refusing to mount: %w", err)
	}
	l.log.Info("taking the disk lock", "lock_device", l.path, "group", tok.Group, "epoch", tok.Epoch, "previous", prevString(prev, zero))
	for round := 1; ; round++ {
		want, err := l.writeVerified(ctx, l.mine(tok, prev))
		if err != nil {
			return fmt.Errorf("refusing to mount: %w", err)
		}
		if l.settle > 0 {
			t := time.NewTimer(l.settle)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("refusing to mount: lock_device %s: settling: %w", l.path, ctx.Err())
			case <-t.C:
			}
		}
		got, err := l.readRaw(ctx)
		if err != nil {
			return fmt.Errorf("refusing to mount: %w", err)
		}
		if bytes.Equal(got, want) {
			l.mu.Lock()
			l.held, l.lastGood, l.slotGood = tok.Epoch, time.Now(), time.Now()
			l.mu.Unlock()
			l.startHolding(tok)
			return nil
		}
		rec, zero, err := decodeLock(got)
		if err == nil && !zero {
			err = l.judge(rec, tok)
		}
		if err != nil {
			return fmt.Errorf("refusing to mount: lock_device %s changed while settling: %w", l.path, err)
		}
		if round == lockSettleRounds {
			return fmt.Errorf("refusing to mount: %w: lock_device %s was overwritten with a lower epoch (%s) %d times while settling: a stale owner keeps writing it",
				ErrLockConflict, l.path, prevString(rec, zero), round)
		}
		l.log.Warn("a lower epoch overwrote the disk lock while settling: a stale owner is writing it; re-asserting", "lock_device", l.path, "found", prevString(rec, zero), "epoch", tok.Epoch)
		prev = rec
	}
}

func prevString(rec lockRecord, zero bool) string {
	if zero {
		return "none (all zeros)"
	}
	return rec.String()
}

// checkDevice refuses a lock device that is not a block device, is the
// data device, or is too small for the lock block and the slot area.
func (l *diskLock) checkDevice(dataDev blockDevice) error {
	ld, err := statBlockDevice(l.path)
	if err != nil {
		return fmt.Errorf("lock_device: %w", err)
	}
	if ld.Major == dataDev.Major && ld.Minor == dataDev.Minor {
		return fmt.Errorf("lock_device %s is the data device %s itself; it must be its own small partition", l.path, dataDev)
	}
	size, err := deviceSize(ld.Path)
	if err != nil {
		return fmt.Errorf("lock_device %s: size: %w", l.path, err)
	}
	if size < lockMinDeviceSize {
		return fmt.Errorf("lock_device %s is %d bytes; it needs at least %d (the lock block and the reserved slot area)", l.path, size, lockMinDeviceSize)
	}
	return nil
}

// check is the holder's re-read (CheckFence). A higher epoch, another
// group's lock or another node at our epoch ends the hold at once. A
// lower epoch is a stale writer: our record is written back over it. A
// failed, hung, corrupt or zero read is tolerated until lock_lost_after
// has passed since the last good read, then the hold ends (ErrLockLost).
// With slot (CheckFence), this node's slot is read then (checkSlot): a
// pill for the group above our epoch ends the hold at once (ErrPoisoned),
// and a slot that cannot be read for lock_lost_after ends it too
// (ErrLockLost). The holder loop reads the slot on a loop of its own
// (lockhold.go), so that slot I/O never delays its re-assertion.
func (l *diskLock) check(ctx context.Context, tok resources.Token, slot bool) error {
	l.mu.Lock()
	held, lastGood := l.held, l.lastGood
	l.mu.Unlock()
	if held == 0 {
		return nil // never acquired here: Start did not get that far
	}
	err := l.checkOnce(ctx, tok)
	switch {
	case err == nil:
		l.mu.Lock()
		l.lastGood = time.Now()
		l.mu.Unlock()
	case errors.Is(err, ErrSuperseded) || errors.Is(err, ErrLockConflict):
		return err
	case time.Since(lastGood) >= l.lostAfter:
		since := time.Since(lastGood)
		return fmt.Errorf("%w: lock_device %s: no good read for %s (lock_lost_after %s): %w", ErrLockLost, l.path, since.Round(time.Millisecond), l.lostAfter, err)
	default:
		l.log.Warn("cannot confirm the disk lock; giving up the group if this lasts lock_lost_after", "lock_device", l.path, "since_last_good", time.Since(lastGood).Round(time.Millisecond), "lock_lost_after", l.lostAfter, "error", err)
	}
	if !slot {
		return nil
	}
	// This node's slot: a poison pill, or a slot lost (pill.go).
	return l.checkSlot(ctx, tok)
}

func (l *diskLock) checkOnce(ctx context.Context, tok resources.Token) error {
	raw, err := l.readRaw(ctx)
	if err != nil {
		return err
	}
	rec, zero, err := decodeLock(raw)
	if err != nil {
		return fmt.Errorf("lock_device %s: %w", l.path, err)
	}
	if zero {
		return fmt.Errorf("%w: lock_device %s was zeroed while this node holds it", ErrLockCorrupt, l.path)
	}
	if err := l.judge(rec, tok); err != nil {
		return err
	}
	if rec.Epoch == tok.Epoch {
		return nil
	}
	l.log.Warn("a lower epoch overwrote the disk lock: a stale owner is writing it; re-asserting this node's epoch", "lock_device", l.path, "found", rec, "epoch", tok.Epoch)
	_, err = l.writeVerified(ctx, l.mine(tok, rec))
	return err
}

// CheckFence implements resources.FenceChecker: the holder's re-read of
// the disk lock, every heartbeat. Without lock_device it does nothing.
func (r *Resource) CheckFence(ctx context.Context, tok resources.Token) error {
	if r.lock == nil {
		return nil
	}
	return r.lock.checkSerial(ctx, tok, false)
}
