package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/resources"
)

// TestTransferReturnsWhenTheCallbackHasStarted: when Transfer returns nil,
// the target's OwnerFunc has been entered with the new epoch's token (its
// resource's Start waits for that), through the leader and a follower.
func TestTransferReturnsWhenTheCallbackHasStarted(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	var mu sync.Mutex
	entered := map[string]uint64{} // node -> epoch its callback was last entered at
	c.configure(func(m *testMember) {
		node := m.cfg.NodeID
		m.opts.Handlers = map[string]OwnerFunc{"primary": func(ctx context.Context, tok resources.Token) error {
			mu.Lock()
			entered[node] = tok.Epoch
			mu.Unlock()
			<-ctx.Done()
			return nil
		}}
	})
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	group := "groups:\n  - name: db\n    nodes: [n1, n2]\n    resources:\n      - {name: p, type: go, handler: primary, stop_timeout: 5s}\n"
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(group), "test"); err != nil {
		t.Fatal(err)
	}
	c.waitOnline("db", "n1")
	nodes := []*testMember{c.member("n1"), c.member("n2")}
	for i, to := range []string{"n2", "n1", "n2", "n1"} {
		via := nodes[i%len(nodes)] // the leader or not (a witness forwards no changes)
		gs, err := via.srv.Transfer(ctxT(t, 20*time.Second), "db", to, "test")
		if err != nil {
			t.Fatalf("transfer %d to %s via %s: %v", i, to, via.cfg.NodeID, err)
		}
		mu.Lock()
		got := entered[to]
		mu.Unlock()
		if gs.Owner != to || got != gs.Epoch {
			t.Fatalf("transfer %d to %s via %s returned %s@%d, but %s's callback was entered at epoch %d", i, to, via.cfg.NodeID, gs.Owner, gs.Epoch, to, got)
		}
	}
}

// TestTransferSaysWhetherTheMoveWasCommitted: a move refused before
// anything was committed is ErrRefused but not ErrMoveFailed; a move that
// was committed but did not end online on the target (its start fails
// there) is ErrMoveFailed, on the leader, through a follower and over
// HTTP (409, code move_failed).
func TestTransferSaysWhetherTheMoveWasCommitted(t *testing.T) {
	c := newTestCluster(t, "n1", "n2", "w1")
	c.startAll()
	l := c.leader()
	c.waitHealthy()
	group := "groups:\n  - name: db\n    nodes: [n1, n2]\n    resources:\n      - {name: app, type: exec, start: 'test \"$RAFTHA_NODE\" != n2', check: 'true', timeout: 5s}\n"
	if _, err := l.srv.ApplyGroups(ctxT(t, 10*time.Second), []byte(group), "test"); err != nil {
		t.Fatal(err)
	}
	before := c.waitOnline("db", "n1")

	_, err := l.srv.Transfer(ctxT(t, 10*time.Second), "db", "w1", "test")
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrMoveFailed) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("transfer to the witness: %v; want ErrRefused, nothing committed", err)
	}
	if g := c.group("db"); g.Status.Epoch != before.Status.Epoch {
		t.Fatalf("a refused transfer changed the epoch: %d -> %d", before.Status.Epoch, g.Status.Epoch)
	}

	var follower *testMember
	for _, m := range c.members {
		if !m.srv.IsLeader() && m.cfg.Role == config.RoleNode {
			follower = m
			break
		}
	}
	for _, via := range []*testMember{follower, c.member("n1"), c.member("n2")} { // nodes: a witness forwards no changes
		gs, err := via.srv.Transfer(ctxT(t, 20*time.Second), "db", "n2", "test")
		if !errors.Is(err, ErrMoveFailed) || !errors.Is(err, ErrRefused) {
			t.Fatalf("transfer to n2 (whose start fails) via %s: %v; want ErrMoveFailed", via.cfg.NodeID, err)
		}
		if gs.Epoch <= before.Status.Epoch {
			t.Fatalf("a failed move via %s carries status %+v; want the committed epoch > %d", via.cfg.NodeID, gs, before.Status.Epoch)
		}
		rec := httptest.NewRecorder()
		writeTransferResult(rec, gs, err)
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), string(api.CodeMoveFailed)) {
			t.Fatalf("HTTP answer %d %s; want 409 move_failed", rec.Code, rec.Body.String())
		}
		// Let it settle back on n1 before the next attempt, resumed.
		waitFor(t, 20*time.Second, "db back online on n1", func() bool {
			g := c.group("db")
			return g.Status.Owner == "n1" && g.Status.State == fsm.StateOnline
		})
		if err := c.member("n1").srv.SetSuspended(ctxT(t, 10*time.Second), "db", false, "test"); err != nil { // a node: a witness forwards no changes
			t.Fatal(err)
		}
	}
}
