package disk

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiskLockHolderReassertsWhileSlotIOIsSlow: the holder's re-assertion
// of the lock block every heartbeat is what makes a stale acquirer's
// lock_settle (2 heartbeats + lock_io_timeout) long enough. The slot
// check (the poison pill) must not stretch that period: here the slot
// area answers slowly (within lock_io_timeout) and the node's own disk
// heartbeat competes for it, as on a degraded device. A stale node-b at
// epoch 5, paused after a read that showed 4, resumes right after one of
// the holder's lock reads; the holder must put 7 back within node-b's
// settle, or both nodes mount the file system.
func TestDiskLockHolderReassertsWhileSlotIOIsSlow(t *testing.T) {
	f := newLockFixture(t)
	a := holderA(t, f)
	n := a.lock.slots
	var slow atomic.Bool
	origRead := n.rawRead()
	n.setRead(func(path string, off int64, size int) ([]byte, error) {
		if slow.Load() {
			time.Sleep(450 * time.Millisecond)
		}
		return origRead(path, off, size)
	})
	// The slot node is the process's (slotNodeFor): the wrapper stays,
	// and reads at full speed once the test ends.
	t.Cleanup(func() { slow.Store(false) })
	var armed atomic.Bool
	lockRead := make(chan struct{}, 1)
	a.lock.read = func(path string) ([]byte, error) {
		b, err := readBlockDirect(path)
		if armed.Load() {
			select {
			case lockRead <- struct{}{}:
			default:
			}
		}
		return b, err
	}
	if err := a.Start(ctx(t), tok()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		slow.Store(false)
		_ = a.Stop(ctx(t), tok())
	}()

	// The node's own disk heartbeat, as the agent writes it.
	hbCtx, hbCancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for hbCtx.Err() == nil {
			_, _ = n.beat(hbCtx)
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { hbCancel(); wg.Wait() }()
	slow.Store(true)
	time.Sleep(time.Second)
	armed.Store(true)
	select {
	case <-lockRead:
	case <-time.After(5 * time.Second):
		t.Fatal("the holder did not read the lock block for 5s")
	}

	staleNodeB(t, f, "the holder's slot check delayed its re-assertion")
}
