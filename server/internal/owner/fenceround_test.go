package owner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/cloud"
	"github.com/raftha/raftha/fsm"
)

// gateFencer is a Fencer whose calls block until released, each with the
// error given to release.
type gateFencer struct {
	mu    sync.Mutex
	calls int
	gates []chan error
}

func (g *gateFencer) Fence(ctx context.Context, _ fsm.Member) error {
	ch := make(chan error, 1)
	g.mu.Lock()
	g.calls++
	g.gates = append(g.gates, ch)
	g.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateFencer) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// release ends call n (1-based) with err.
func (g *gateFencer) release(t *testing.T, n int, err error) {
	t.Helper()
	waitFor(t, "fence call to be made", func() bool { return g.count() >= n })
	g.mu.Lock()
	g.gates[n-1] <- err
	g.mu.Unlock()
}

// TestFenceRoundSharedOnlyByTakeoversDecidedBeforeIt is clause 4 for the
// shared fence: a group shares a round only when its takeover was applied
// here before the round's fence began (epoch <= covers). A takeover
// decided later waits for the round in flight and gets a fence of its
// own; a failed round is never reused.
func TestFenceRoundSharedOnlyByTakeoversDecidedBeforeIt(t *testing.T) {
	gf := &gateFencer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &fakeHost{}
	s := &agent{fsm: fsm.New(), fencer: gf, ctx: ctx, host: h}
	defer h.wg.Wait()
	defer cancel()
	target := fsm.Member{ID: "n1", InstanceID: "i-1", Address: "127.0.0.1:1"}
	s.fsm.StoreConfiguration(10, raft.Configuration{})
	type result struct {
		name string
		err  error
	}
	done := make(chan result, 8)
	fence := func(name string, epoch uint64) {
		go func() {
			_, err := s.fenceShared(ctx, target, epoch, 10*time.Second)
			done <- result{name, err}
		}()
	}
	// expect waits for the named callers to end (in any order), each
	// with success when ok.
	expect := func(ok bool, names ...string) {
		t.Helper()
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		for range names {
			select {
			case r := <-done:
				if !want[r.name] || (r.err == nil) != ok {
					t.Fatalf("got %s: %v; want one of %v to end (ok %v)", r.name, r.err, names, ok)
				}
				delete(want, r.name)
			case <-time.After(5 * time.Second):
				t.Fatalf("%v did not end", want)
			}
		}
	}

	fence("a", 10) // round 1 begins, covering up to index 10
	waitFor(t, "round 1", func() bool { return gf.count() == 1 })
	fence("b", 9) // decided before round 1 began: shares it
	s.fsm.StoreConfiguration(12, raft.Configuration{})
	fence("c", 12) // decided after round 1 began: must not share it
	time.Sleep(200 * time.Millisecond)
	if n := gf.count(); n != 1 {
		t.Fatalf("%d fence calls while round 1 runs, want 1 (c must wait for it)", n)
	}
	gf.release(t, 1, nil)
	expect(true, "a", "b")
	// c now begins round 2, covering up to 12.
	waitFor(t, "round 2 for c", func() bool { return gf.count() == 2 })
	gf.release(t, 2, nil)
	expect(true, "c")
	fence("d", 11) // decided before round 2 began, which succeeded: reused
	expect(true, "d")
	if n := gf.count(); n != 2 {
		t.Fatalf("%d fence calls, want 2 (d reuses round 2)", n)
	}

	s.fsm.StoreConfiguration(13, raft.Configuration{})
	fence("e", 13)
	gf.release(t, 3, errors.New("EC2 said no"))
	expect(false, "e")
	fence("f", 13) // the failed round 3 is not reused
	waitFor(t, "round 4 for f", func() bool { return gf.count() == 4 })
	gf.release(t, 4, nil)
	expect(true, "f")

	// A takeover not applied here yet is refused, never fenced early.
	if _, err := s.fenceShared(ctx, target, 99, time.Second); !errors.Is(err, errFenceRoundOrder) || !errors.Is(err, cloud.ErrFenceFailed) {
		t.Fatalf("fence for an unapplied takeover: %v, want errFenceRoundOrder", err)
	}
}
