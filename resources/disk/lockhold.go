package disk

import (
	"context"
	"time"

	"github.com/raftha/raftha/resources"
)

// The holder's re-assertion must not depend on the agent: its runner
// calls CheckFence from the group's worker, which does not run while the
// worker starts the group's next resources, restarts them or waits for a
// monitor call. A stale acquirer's lock_settle (2 heartbeats +
// lock_io_timeout) is only long enough if the holder re-reads, and puts
// its epoch back over a lower one, every heartbeat whatever the agent is
// doing. So from a successful acquire until Stop, a goroutine of the lock
// runs the same check every heartbeat; CheckFence returns its final
// verdict (superseded, conflict, lost) and runs a check of its own too.

// startHolding (re)starts the holder loop for tok after an acquire.
func (l *diskLock) startHolding(tok resources.Token) {
	l.stopHolding()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	l.holdCancel, l.holdDone, l.holdErr = cancel, done, nil
	l.mu.Unlock()
	go l.holdLoop(ctx, done, tok)
}

// stopHolding ends the holder loop (Stop, or before a new acquire) and
// waits for it: after it returns the loop writes nothing more.
func (l *diskLock) stopHolding() {
	l.mu.Lock()
	cancel, done := l.holdCancel, l.holdDone
	l.holdCancel, l.holdDone = nil, nil
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done // bounded: each check's I/O is bounded by lock_io_timeout
	}
}

func (l *diskLock) holdLoop(ctx context.Context, done chan struct{}, tok resources.Token) {
	defer close(done)
	// The slot (poison pill) is read on a loop of its own: slow slot I/O,
	// or a turn behind the disk heartbeat, must not stretch the period of
	// the lock block's re-assertion past a stale acquirer's lock_settle.
	slotDone := make(chan struct{})
	go l.slotLoop(ctx, slotDone, tok)
	defer func() { <-slotDone }() // before done is closed
	l.everyHeartbeat(ctx, "the disk lock is no longer this node's; the agent gives the group up at its next fence check",
		func() error { return l.checkSerial(ctx, tok, true) })
}

// slotLoop reads this node's slot every heartbeat while the lock is held
// (checkSlot); a pill, or a slot lost, is the hold's final verdict. It
// ends with the holder's context, or once a verdict is in.
func (l *diskLock) slotLoop(ctx context.Context, done chan struct{}, tok resources.Token) {
	defer close(done)
	l.everyHeartbeat(ctx, "this node's slot ends the hold; the agent gives the group up at its next fence check", func() error {
		l.mu.Lock()
		final := l.holdErr
		l.mu.Unlock()
		if final != nil {
			return final // the lock loop's verdict: nothing more to read
		}
		return l.checkSlot(ctx, tok)
	})
}

// everyHeartbeat runs check every heartbeat until ctx ends or check
// fails; the first failure recorded is the hold's final verdict.
func (l *diskLock) everyHeartbeat(ctx context.Context, msg string, check func() error) {
	t := time.NewTicker(l.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := check()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.mu.Lock()
			first := l.holdErr == nil
			if first {
				l.holdErr = err
			}
			l.mu.Unlock()
			if first {
				l.log.Error(msg, "lock_device", l.path, "error", err)
			}
			return // final: nothing more is written
		}
	}
}

// checkSerial is check, one at a time (the holder loop and CheckFence).
// With wait false (CheckFence, on the agent's worker) it does not queue
// behind a check of the loop that is under way: it returns the loop's
// verdict so far, so the worker is not held up to twice as long.
func (l *diskLock) checkSerial(ctx context.Context, tok resources.Token, wait bool) error {
	if wait {
		l.checkMu.Lock()
	} else if !l.checkMu.TryLock() {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.holdErr
	}
	defer l.checkMu.Unlock()
	l.mu.Lock()
	final := l.holdErr
	l.mu.Unlock()
	if final != nil {
		return final
	}
	return l.check(ctx, tok, !wait) // the holder loop reads the slot on slotLoop
}
