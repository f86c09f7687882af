package leader

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftha/raftha/server/internal/rpcwire"
)

// timeoutRaft is a fakeRaft that keeps the timeouts AddVoter was given.
type timeoutRaft struct {
	*fakeRaft
	mu       sync.Mutex
	timeouts []time.Duration
}

func (r *timeoutRaft) AddVoter(_ raft.ServerID, _ raft.ServerAddress, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timeouts = append(r.timeouts, d)
	return nil
}

// A caller's deadline is on the real clock (context.WithTimeout), and so is
// the timeout raft's AddVoter takes: what is left of the one is the other,
// measured on the real clock (the old server's timeoutOf: time.Until). The
// move measures it on the leader's injected clock, so on any clock but the
// system one raft is given the difference between the two clocks instead.
func TestAddMemberGivesRaftWhatIsLeftOfTheCallersDeadline(t *testing.T) {
	r := newRig(t)
	tr := &timeoutRaft{fakeRaft: r.l.cfg.Raft.(*fakeRaft)}
	r.l.cfg.Raft = tr
	const budget = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	if err := r.l.AddMember(ctx, rpcwire.MemberArgs{ID: "n4", Role: "node", Address: "127.0.0.1:4", By: "test"}); err != nil {
		t.Fatalf("AddMember: %v", err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.timeouts) != 1 {
		t.Fatalf("AddVoter called %d times, want 1", len(tr.timeouts))
	}
	if got := tr.timeouts[0]; got <= 0 || got > budget {
		t.Fatalf("raft's AddVoter was given %v for a call with %v left (fake clock at %v, real clock at %v)", got, budget, r.clk.Now(), time.Now())
	}
}
